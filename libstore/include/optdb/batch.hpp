// optdb batch (SPEC §8): one request line of NDJSON answered with the
// response line the protocol gives, through the same StorageRepo calls (and
// the same results, JSON and exit statuses) as the one-shot commands.
#pragma once

#include <cstddef>
#include <string_view>

#include "optdb/json.hpp"
#include "optdb/store.hpp"

namespace optdb {

struct BatchResponse {
  Json response;       // {"id"?,"exit":E,"result":R} or {"id"?,"exit":E,"error":"…"}
  bool flush = false;  // the request was {"op":"flush"}: the caller fills in what it flushed
  bool wrote = false;  // a pend, commit or cancel that succeeded
};

class BatchSession {
 public:
  // `buffered` (batch --buffer): the requests' writes are made durable
  // together, by deliver().
  explicit BatchSession(Store& store, bool buffered = false);

  // The answer to request line `lineNo` (counted from 1). A line that is not
  // JSON or not a valid request is answered with exit 2 and "line N: …";
  // nothing a request does ends the session.
  // A flush is answered {"exit":0,"result":{"flushed":0}}: the caller sets
  // the count of responses it delivered.
  BatchResponse answer(std::string_view line, std::size_t lineNo);
  // Before the responses of a window go out: what its requests wrote durable
  // and visible to every reader. When it cannot be made so, each response
  // that acknowledged a write becomes that error instead (its commit may
  // still land: the next writer of its block finishes it, as after a crash).
  void deliver(std::vector<BatchResponse>& window);
  // The answer to a line that could not even be read whole (too long).
  static Json refusal(std::size_t lineNo, const Status& why);

 private:
  Store& store_;
  bool buffered_;
};

}  // namespace optdb
