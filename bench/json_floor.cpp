// The floor for issue 5's archive/restore throughput: reads NDJSON, parses each
// line with nlohmann_json (ordered, as optdb's Json) and dumps it again, with
// nothing else: no validation, no store. Prints the lines and bytes read to
// stderr; the dumped lines go to stdout.
//
//   json_floor < archives.ndjson > /dev/null
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

int main() {
  using Json = nlohmann::ordered_json;
  std::string buf(1 << 20, '\0'), line, out;
  std::size_t lines = 0, bytes = 0;
  auto flushLine = [&]() {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      line.clear();
      return;
    }
    Json j = Json::parse(line);
    out = j.dump();
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
    ++lines;
    line.clear();
  };
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), stdin);
    if (n == 0) break;
    bytes += n;
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buf.data() + start, '\n', n - start);
      if (!nl) {
        line.append(buf.data() + start, n - start);
        break;
      }
      std::size_t end = static_cast<const char*>(nl) - buf.data();
      line.append(buf.data() + start, end - start);
      flushLine();
      start = end + 1;
    }
  }
  flushLine();
  std::fprintf(stderr, "json_floor: %zu lines, %zu bytes\n", lines, bytes);
  return 0;
}
