// A file a command writes its output into (archive -o; later inspect --prom).
// A regular file, or a new name, is written as a temporary file beside it and
// renamed over it by commit(), made durable when `sync`: readers see the old
// file or the whole new one. A FIFO, device, terminal or socket is written
// into and never renamed over (SPEC §7). Destroyed before commit(), it
// leaves FILE as it was.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "optdb/status.hpp"

namespace optdb {

class OutputFile {
 public:
  // nullptr when `path` is this process's stdout reached by another name
  // (-o /dev/stdout): the caller writes to stdout then. `option` names the
  // flag in messages ("-o").
  static Result<std::unique_ptr<OutputFile>> open(const std::string& path, bool sync, std::string_view option);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  Status write(std::string_view data);
  // What was written into FILE closed, or the temporary file renamed into place.
  Status commit();

 private:
  OutputFile(std::string path, bool sync, std::string option) : path_(std::move(path)), option_(std::move(option)), sync_(sync) {}
  Status openFile();

  std::string path_, option_, dir_, tmp_, final_;
  bool sync_;
  bool direct_ = false;  // written into FILE itself
  int fd_ = -1;
};

}  // namespace optdb
