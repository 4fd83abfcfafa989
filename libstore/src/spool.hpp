// Spooling, shared by restore and its sources: an unnamed temporary file for
// input that cannot be read twice or must not be held in memory.
#pragma once

#include <string>

#include "optdb/status.hpp"
#include "optdb/zstd.hpp"

namespace optdb {

// Read and write, gone when closed, in `dir` ($TMPDIR, else /tmp, when
// empty). `what` names the input in messages.
Result<int> openSpool(const std::string& dir, const std::string& what);

// Reads `fd` from its current offset (not closed here); with `tee` >= 0,
// every byte read is also written to that descriptor (a spool being filled).
ByteReadFn readFromFd(int fd, std::string name, int tee = -1);

}  // namespace optdb
