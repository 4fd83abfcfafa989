// The one error mechanism of libstore: every fallible call returns a Status or
// a Result<T>. Expected outcomes (stale, pending conflict) are not errors; they
// are values inside the results of StorageRepo.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace optdb {

// The numeric values are the exit codes of the command line (SPEC §5).
enum class Code {
  Ok = 0,
  IoError = 1,
  InvalidInput = 2,
  NotFound = 3,
  Stale = 4,
  PendingConflict = 5,
  Integrity = 6,
  LockTimeout = 7,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status io(std::string m) { return {Code::IoError, std::move(m)}; }
  static Status invalid(std::string m) { return {Code::InvalidInput, std::move(m)}; }
  static Status notFound(std::string m) { return {Code::NotFound, std::move(m)}; }
  static Status integrity(std::string m) { return {Code::Integrity, std::move(m)}; }
  static Status lockTimeout(std::string m) { return {Code::LockTimeout, std::move(m)}; }

  bool isOk() const { return code_ == Code::Ok; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const Status& status() const { return *this; }

 private:
  Code code_ = Code::Ok;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {}

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() & { return std::get<0>(v_); }
  // By value: `for (auto& x : f().value())` would otherwise iterate a
  // reference into the temporary Result, destroyed before the loop runs.
  T value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return isOk() ? Status::ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace optdb

// Propagates a failed Status (or the Status of a failed Result).
#define OPTDB_TRY(expr)                              \
  do {                                               \
    auto optdb_try_s_ = (expr);                      \
    if (!optdb_try_s_) return optdb_try_s_.status(); \
  } while (0)

#define OPTDB_CONCAT_INNER(a, b) a##b
#define OPTDB_CONCAT(a, b) OPTDB_CONCAT_INNER(a, b)
// Declares `lhs` from a Result, returning its Status on failure.
#define OPTDB_ASSIGN(lhs, expr)                                         \
  auto OPTDB_CONCAT(optdb_r_, __LINE__) = (expr);                       \
  if (!OPTDB_CONCAT(optdb_r_, __LINE__)) return OPTDB_CONCAT(optdb_r_, __LINE__).status(); \
  lhs = std::move(OPTDB_CONCAT(optdb_r_, __LINE__)).value()
