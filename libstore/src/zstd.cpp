// zstd streams through libzstd's streaming API (ZSTD_compressStream2,
// ZSTD_decompressStream) with fixed buffers.
#include "optdb/zstd.hpp"

#include <zstd.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace optdb {

bool namesZstdFile(std::string_view name) { return name.size() >= 4 && name.substr(name.size() - 4) == ".zst"; }

bool startsWithZstdMagic(std::string_view prefix) { return prefix.substr(0, 4) == std::string_view("\x28\xB5\x2F\xFD", 4); }

// ---- compressing ----

struct ZstdWriter::State {
  ZSTD_CCtx* cctx = nullptr;
  ByteWriteFn out;
  std::vector<char> buf;  // ZSTD_CStreamOutSize(): one compressed block
  bool finished = false;
  ~State() { ZSTD_freeCCtx(cctx); }

  // Feeds `in` (empty to end or flush) until zstd has taken it all and, for
  // `mode` other than continue, written all it holds.
  Status run(std::string_view data, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
      if (ZSTD_isError(left)) return Status::io(fmt::format("zstd compression: {}", ZSTD_getErrorName(left)));
      if (o.pos > 0) OPTDB_TRY(out(std::string_view(buf.data(), o.pos)));
      if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0) return Status::ok();
    }
  }
};

ZstdWriter::ZstdWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}
ZstdWriter::~ZstdWriter() = default;

Result<std::unique_ptr<ZstdWriter>> ZstdWriter::open(ByteWriteFn out, int level) {
  auto s = std::make_unique<State>();
  s->cctx = ZSTD_createCCtx();
  if (!s->cctx) return Status::io("zstd: cannot allocate a compression context");
  for (auto [param, value] : {std::pair{ZSTD_c_compressionLevel, level}, std::pair{ZSTD_c_checksumFlag, 1}}) {
    const std::size_t rc = ZSTD_CCtx_setParameter(s->cctx, param, value);
    if (ZSTD_isError(rc)) return Status::invalid(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
  }
  s->out = std::move(out);
  s->buf.resize(ZSTD_CStreamOutSize());
  return std::unique_ptr<ZstdWriter>(new ZstdWriter(std::move(s)));
}

Status ZstdWriter::write(std::string_view data) {
  if (data.empty()) return Status::ok();
  return s_->run(data, ZSTD_e_continue);
}

Status ZstdWriter::finish() {
  if (s_->finished) return Status::ok();
  OPTDB_TRY(s_->run({}, ZSTD_e_end));
  s_->finished = true;
  return Status::ok();
}

// ---- decompressing ----

namespace {

class Decompressor {
 public:
  Decompressor(std::string prefix, ByteReadFn source, std::string name, std::uint64_t maxBytes, std::string limitName)
      : source_(std::move(source)),
        name_(std::move(name)),
        limitName_(std::move(limitName)),
        maxBytes_(maxBytes),
        buf_(std::max(ZSTD_DStreamInSize(), prefix.size())) {
    std::memcpy(buf_.data(), prefix.data(), prefix.size());
    in_ = {buf_.data(), prefix.size(), 0};
  }
  ~Decompressor() { ZSTD_freeDStream(ds_); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  Result<std::size_t> read(char* out, std::size_t size) {
    if (!ds_) {
      ds_ = ZSTD_createDStream();
      if (!ds_) return Status::io(fmt::format("{}: zstd: cannot allocate a decompression context", name_));
    }
    ZSTD_outBuffer o{out, size, 0};
    while (o.pos == 0 && size > 0) {
      if (in_.pos == in_.size && !eof_) {
        OPTDB_ASSIGN(const std::size_t n, source_(buf_.data(), ZSTD_DStreamInSize()));
        in_ = {buf_.data(), n, 0};
        if (n == 0) eof_ = true;
      }
      if (eof_ && in_.pos == in_.size && last_ == 0) return std::size_t(0);  // every frame whole
      const std::size_t before = in_.pos;
      last_ = ZSTD_decompressStream(ds_, &o, &in_);
      if (ZSTD_isError(last_))
        return Status::invalid(fmt::format("{}: corrupt zstd stream: {}", name_, ZSTD_getErrorName(last_)));
      if (eof_ && in_.pos == before && o.pos == 0)  // no input left, and zstd wants more
        return Status::invalid(fmt::format("{}: truncated zstd stream: it ends inside a frame", name_));
    }
    total_ += o.pos;
    if (maxBytes_ > 0 && total_ > maxBytes_)
      return Status::io(limitName_.empty()
                            ? fmt::format("{}: decompressed, it exceeds {} bytes", name_, maxBytes_)
                            : fmt::format("{}: decompressed, it exceeds {} ({} bytes)", name_, limitName_, maxBytes_));
    return o.pos;
  }

 private:
  ByteReadFn source_;
  std::string name_, limitName_;
  std::uint64_t maxBytes_;
  std::vector<char> buf_;
  ZSTD_inBuffer in_{};
  ZSTD_DStream* ds_ = nullptr;
  std::size_t last_ = 1;  // what the last call returned: 0 once a frame is whole
  std::uint64_t total_ = 0;
  bool eof_ = false;
};

}  // namespace

ByteReadFn zstdDecompressor(std::string prefix, ByteReadFn source, std::string name, std::uint64_t maxBytes,
                            std::string limitName) {
  auto d = std::make_shared<Decompressor>(std::move(prefix), std::move(source), std::move(name), maxBytes,
                                          std::move(limitName));
  return [d](char* buf, std::size_t size) { return d->read(buf, size); };
}

}  // namespace optdb
