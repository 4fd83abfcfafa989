// optdb batch against the one-shot commands: a seeded random sequence of
// requests answered by one batch process on one store and by one process per
// request on another; every result and exit status must be the same bytes.
#include <sys/wait.h>

#include <cstdlib>
#include <random>

#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;
namespace fs = std::filesystem;

namespace {

struct Run {
  int exit = -1;
  std::string out;
};

// The optdb binary with `args` (each single-quoted: the test's ids need no
// escaping), stdin from `in` (a file) or /dev/null.
Run runOptdb(const std::string& args, const std::string& in, const std::string& scratch) {
  const std::string outFile = scratch + "/.out";
  const std::string cmd = std::string("'") + OPTDB_BINARY + "' " + args + " <" + (in.empty() ? "/dev/null" : in) +
                          " >" + outFile + " 2>/dev/null";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), fileBytes(outFile)};
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// One random request, as a batch line and as the one-shot command's arguments.
struct Request {
  std::string line;
  std::string args;
  std::string transforms;  // pend's FILE
};

class Generator {
 public:
  explicit Generator(unsigned seed) : rng_(seed) {}

  Request next() {
    switch (pick(10)) {
      case 0:
      case 1:
      case 2: return pend();
      case 3:
      case 4: return commit();
      case 5: return cancel();
      case 6: return inspect();
      default: return get();
    }
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  std::string block() { return "b" + std::to_string(pick(4)); }
  // A known transaction id most of the time, so that commits and cancels find it.
  std::string trx() { return !pended_.empty() && pick(4) != 0 ? pended_[pick(pended_.size())] : "t" + std::to_string(pick(40)); }

  Request pend() {
    const std::string id = "t" + std::to_string(count_++);
    const std::string b = block(), b2 = block();
    std::string transforms;
    switch (pick(3)) {
      case 0: transforms = R"({"inserts":{")" + b + R"(":)" + B(b, R"("v":[)" + std::to_string(count_) + "]") + "}}"; break;
      case 1: transforms = R"({"updates":{")" + b + R"(":[["v",0,0,[)" + std::to_string(count_) + "]]],\"" + b2 +
                           R"(":[["w",0,0,"x"]]}})";
              break;
      default: transforms = R"({"deletes":[")" + b + R"("]})"; break;
    }
    const char* policies[] = {"c", "f", "r"};
    const std::string policy = policies[pick(3)];
    std::string line = R"({"op":"pend","trxId":")" + id + R"(","transforms":)" + transforms + R"(,"policy":")" + policy + "\"";
    std::string args = "pend --trx " + id + " --policy " + policy;
    if (pick(2)) {
      const std::string rev = std::to_string(pick(rev_ + 2));
      line += ",\"rev\":" + rev;
      args += " --rev " + rev;
    }
    pended_.push_back(id);
    blocksOf_[id] = {b, b2};
    return {line + "}", args, transforms};
  }

  Request commit() {
    const std::string id = trx();
    auto it = blocksOf_.find(id);
    std::vector<std::string> blocks = it != blocksOf_.end() ? it->second : std::vector<std::string>{block()};
    // Mostly the next revision; sometimes a stale or far one.
    const Rev rev = pick(5) == 0 ? pick(rev_ + 1) : ++rev_;
    std::string ids, list;
    for (const auto& b : blocks) {
      ids += (ids.empty() ? "\"" : ",\"") + b + "\"";
      list += " " + b;
    }
    return {R"({"op":"commit","trxId":")" + id + R"(","blockIds":[)" + ids + R"(],"rev":)" + std::to_string(rev) + "}",
            "commit --trx " + id + " --rev " + std::to_string(rev) + list, ""};
  }

  Request cancel() {
    const std::string id = trx(), b = block();
    return {R"({"op":"cancel","trxId":")" + id + R"(","blockIds":[")" + b + "\"]}", "cancel --trx " + id + " " + b, ""};
  }

  Request inspect() {
    if (pick(2)) return {R"({"op":"inspect"})", "inspect --json", ""};
    const std::string b = block();
    return {R"({"op":"inspect","blockIds":[")" + b + "\"]}", "inspect --json " + b, ""};
  }

  Request get() {
    const std::string b = block(), b2 = block();
    std::string line = R"({"op":"get","blockIds":[")" + b + "\",\"" + b2 + "\"]";
    std::string args = "get " + b + " " + b2;
    std::string context;
    if (pick(3) == 0) {
      const std::string rev = std::to_string(pick(rev_ + 2));
      context += "\"rev\":" + rev;
      args += " --rev " + rev;
    }
    if (pick(6) == 0) {
      const std::string id = trx();
      context += std::string(context.empty() ? "" : ",") + "\"trxId\":\"" + id + "\"";
      args += " --trx " + id;
    }
    if (pick(8) == 0) {
      const std::string id = trx(), rev = std::to_string(rev_ + 1);
      context += std::string(context.empty() ? "" : ",") + R"("committed":[{"trxId":")" + id + R"(","rev":)" + rev + "}]";
      args += " --committed " + id + ":" + rev;
    }
    if (!context.empty()) line += ",\"context\":{" + context + "}";
    return {line + "}", args, ""};
  }

  std::mt19937 rng_;
  std::size_t count_ = 0;
  Rev rev_ = 0;
  std::vector<std::string> pended_;
  std::map<std::string, std::vector<std::string>> blocksOf_;
};

}  // namespace

TEST_CASE("batch answers a random sequence exactly as the one-shot commands do", "[batch]") {
  ScratchDir scratch("batch-diff");
  const std::string viaBatch = scratch / "batch", viaProcesses = scratch / "oneshot";
  Generator gen(20261201);
  std::vector<Request> requests;
  for (int i = 0; i < 320; ++i) requests.push_back(gen.next());

  std::string input;
  for (const auto& r : requests) input += r.line + "\n";
  const std::string inFile = scratch / "requests.ndjson";
  { std::ofstream(inFile, std::ios::binary) << input; }
  Run batch = runOptdb("--no-sync --store " + q(viaBatch) + " batch", inFile, scratch.path.string());
  REQUIRE(batch.exit == 0);
  std::vector<std::string> responses;
  for (std::size_t at = 0, nl; (nl = batch.out.find('\n', at)) != std::string::npos; at = nl + 1)
    responses.push_back(batch.out.substr(at, nl - at));
  REQUIRE(responses.size() == requests.size());

  std::map<int, int> exits;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    INFO("request " << i + 1 << ": " << r.line);
    std::string in;
    if (!r.transforms.empty()) {
      in = scratch / "transforms.json";
      std::ofstream(in, std::ios::binary) << r.transforms;
    }
    Run one = runOptdb("--no-sync --store " + q(viaProcesses) + " " + r.args + (in.empty() ? "" : " " + in), "",
                    scratch.path.string());
    Json got = parse(responses[i]);
    CHECK(got["exit"].get<int>() == one.exit);
    ++exits[one.exit];
    if (!one.out.empty()) {
      REQUIRE(got.contains("result"));
      CHECK(toJson(got["result"]) + "\n" == one.out);
    } else {
      CHECK(got.contains("error"));
    }
  }
  // The sequence reached every outcome that matters, not only successes.
  for (int e : {0, 3, 4, 5}) {
    INFO("exit " << e << " seen " << exits[e] << " times");
    CHECK(exits[e] > 0);
  }
  // And the two stores ended alike.
  Run a = runOptdb("--store " + q(viaBatch) + " inspect --json", "", scratch.path.string());
  Run b = runOptdb("--store " + q(viaProcesses) + " inspect --json", "", scratch.path.string());
  CHECK(a.out == b.out);
}
