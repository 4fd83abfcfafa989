// optdb batch: many requests through one process (SPEC §8).
#include "command.hpp"
#include "optdb/batch.hpp"

namespace optdb::cli {

void addBatch(CLI::App& app, Globals& g) {
  struct Args {
    bool buffer = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("batch", "Answer NDJSON requests on stdin, one response line each, in order");
  sub->add_flag("--buffer", args->buffer, "Write responses at {\"op\":\"flush\"} and at the end, not one by one");
  sub->footer(
      "Requests: {\"op\":\"get\"|\"pend\"|\"commit\"|\"cancel\"|\"inspect\"|\"flush\", \"id\"?, …} (see optdb-batch(1)).\n"
      "Examples:\n"
      "  printf '%s\\n' '{\"op\":\"get\",\"blockIds\":[\"b1\"]}' | optdb --store ./db batch\n"
      "  jq -c '{op:\"get\",blockIds:[.]}' ids.json | optdb --store ./db batch | jq -c .result\n"
      "  coproc DB { optdb --store ./db batch; }\n"
      "  echo '{\"op\":\"get\",\"blockIds\":[\"b1\"],\"id\":1}' >&\"${DB[1]}\"; read -r answer <&\"${DB[0]}\"");
  setAction(sub, g, [&g, args]() -> Status {
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    BatchSession session(*store, args->buffer);
    StdinLines lines;
    std::vector<BatchResponse> window;  // --buffer: the responses not yet written
    auto deliver = [&]() -> Status {
      session.deliver(window);
      std::string out;
      for (const auto& r : window) {
        appendJson(out, r.response);
        out.push_back('\n');
      }
      window.clear();
      OPTDB_TRY(writeStdout(out));
      return flushStdout();
    };
    for (std::size_t lineNo = 1;; ++lineNo) {
      auto line = lines.next();
      BatchResponse r;
      if (!line) {
        if (line.status().code() != Code::InvalidInput) return line.status();
        r.response = BatchSession::refusal(lineNo, line.status());
      } else if (!*line) {
        break;
      } else if (line->value().find_first_not_of(" \t\r") == std::string::npos) {
        continue;  // a blank line is no request
      } else {
        r = session.answer(**line, lineNo);
      }
      if (r.flush) r.response["result"]["flushed"] = window.size();
      const bool now = !args->buffer || r.flush;
      window.push_back(std::move(r));
      if (now) OPTDB_TRY(deliver());
    }
    return deliver();
  });
}

}  // namespace optdb::cli
