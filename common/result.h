// Expected-failure values for bastion.
//
// Contract: functions that can fail for reasons outside the programmer's
// control (bad input, I/O, a peer) return Status or Result<T>. Exceptions are
// reserved for programming errors and construction failures. An Error carries
// a one-line, user-presentable message; callers prefix context, never swallow.
// Thread-safety: plain values, no shared state.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace bastion {

struct Error {
  std::string message;
};

// Status: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e.message)), failed_(true) {}  // NOLINT: implicit by design
  static Status ok() { return {}; }

  [[nodiscard]] bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  [[nodiscard]] const std::string& message() const { return error_; }
  [[nodiscard]] Error error() const { return Error{error_}; }

 private:
  std::string error_;
  bool failed_ = false;
};

// Result<T>: a T or an Error (a minimal std::expected stand-in; g++ 12 has no
// <expected>).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const Error& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }
  [[nodiscard]] Status status() const { return has_value() ? Status{} : Status{error()}; }

 private:
  std::variant<T, Error> v_;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace bastion
