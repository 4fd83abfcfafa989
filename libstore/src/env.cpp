// What every Env shares: random-access reads on top of readFile.
#include "optdb/env.hpp"

namespace optdb {

namespace {

class StringFile : public RandomAccessFile {
 public:
  explicit StringFile(std::string data) : data_(std::move(data)) {}
  std::uint64_t size() const override { return data_.size(); }
  Result<std::string> read(std::uint64_t offset, std::size_t n) override {
    if (offset >= data_.size()) return std::string();
    return data_.substr(offset, n);
  }

 private:
  std::string data_;
};

}  // namespace

Result<std::unique_ptr<RandomAccessFile>> Env::newRandomAccessFile(const std::string& path) {
  OPTDB_ASSIGN(auto data, readFile(path));
  return std::unique_ptr<RandomAccessFile>(new StringFile(std::move(data)));
}

}  // namespace optdb
