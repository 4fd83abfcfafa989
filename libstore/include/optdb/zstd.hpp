// zstd streams (SPEC §8 "compressed archives"), in bounded memory both ways:
// a writer that compresses what it is given into a byte sink, and a reader
// that decompresses a byte source. Archives use them: `archive -o FILE.zst`
// and `--zstd` write through ZstdWriter, and every ArchiveReader (restore,
// restore --dry-run, restore sources) decompresses an input that starts with
// the zstd magic bytes. libzstd stays behind this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "optdb/status.hpp"

namespace optdb {

// The level `archive` compresses at (zstd's own default).
constexpr int kZstdDefaultLevel = 3;

// Whether `prefix` starts with a zstd frame's magic number, 28 B5 2F FD.
bool startsWithZstdMagic(std::string_view prefix);
// Whether a new file of this name is written as zstd (SPEC §8: it ends in .zst).
bool namesZstdFile(std::string_view name);

// Fills `buf` with up to `size` bytes; 0 at the end of the input.
using ByteReadFn = std::function<Result<std::size_t>(char* buf, std::size_t size)>;
// Takes every byte given, or fails.
using ByteWriteFn = std::function<Status(std::string_view data)>;

// Compresses everything written into one zstd frame (with a content
// checksum) handed to `out` as it fills a fixed buffer: memory is zstd's
// state at `level` and one output buffer, whatever the amount written.
// finish() ends the frame; destroyed without it, the frame is left
// unfinished (a reader finds it truncated).
class ZstdWriter {
 public:
  static Result<std::unique_ptr<ZstdWriter>> open(ByteWriteFn out, int level = kZstdDefaultLevel);
  ~ZstdWriter();
  ZstdWriter(const ZstdWriter&) = delete;
  ZstdWriter& operator=(const ZstdWriter&) = delete;

  Status write(std::string_view data);
  Status finish();

 private:
  struct State;
  explicit ZstdWriter(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// A reader of the decompressed bytes of the zstd stream (one frame or
// several, one after another) made of `prefix` then what `source` reads.
// Memory is one input buffer and zstd's window (what the frame header asks,
// up to zstd's default limit of 128 MiB; 2 MiB for optdb's level 3).
// A corrupt stream, or one that ends inside a frame, is InvalidInput naming
// `name`. With `maxBytes` > 0, more decompressed bytes than that is an I/O
// error naming `limitName` (a zip bomb is stopped, not spooled or held).
ByteReadFn zstdDecompressor(std::string prefix, ByteReadFn source, std::string name, std::uint64_t maxBytes = 0,
                            std::string limitName = {});

}  // namespace optdb
