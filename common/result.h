// Expected-failure values for bastion.
//
// Contract: functions that can fail for reasons outside the programmer's
// control (bad input, I/O, a peer) return Status or Result<T>. Exceptions are
// reserved for programming errors and construction failures. An Error carries
// a one-line, user-presentable message; callers prefix context, never swallow.
// A caller that acts on the kind of failure (an HTTP status, a retry, a
// duplicate that is not a failure) branches on Error::code, never on the
// message: messages are for people and are reworded freely.
// Thread-safety: plain values, no shared state.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace bastion {

// The kinds of failure some caller branches on. Most errors are kUnspecified:
// nobody acts on them beyond showing the message. A code is added when a
// caller needs to tell a failure apart, and set where the error is made.
enum class ErrorCode : uint8_t {
  kUnspecified,
  kInvalid,            // the request itself is wrong (bad input, a misused option): asking again will not help
  kNotFound,           // what was asked for never existed (a web page: 404)
  kGone,               // it existed but is over: expired, used, its owner left or disabled (410)
  kDuplicate,          // already done or recorded: repeating it changes nothing
  kBusy,               // another process holds a lock (SQLITE_BUSY): a retry may succeed
  kWrongChallenge,     // signed over another challenge than the one expected, or none was issued
  kBadSignature,       // a signature that does not verify (perhaps over another challenge)
  kCounterRegression,  // a security key's signature counter went back: a clone or a replay
  kTampered,           // stored records fail their hash-chain check: refuse to vouch for them
};

// The code's name, for test output and logs.
constexpr const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::kUnspecified: return "unspecified";
    case ErrorCode::kInvalid: return "invalid";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kGone: return "gone";
    case ErrorCode::kDuplicate: return "duplicate";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kWrongChallenge: return "wrong challenge";
    case ErrorCode::kBadSignature: return "bad signature";
    case ErrorCode::kCounterRegression: return "counter regression";
    case ErrorCode::kTampered: return "tampered";
  }
  return "?";
}

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kUnspecified;

  // The same failure with `context` in front of the message; the code stays.
  [[nodiscard]] Error prefixed(const std::string& context) const { return {context + message, code}; }
};

// Status: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), failed_(true) {}  // NOLINT: implicit by design
  static Status ok() { return {}; }

  [[nodiscard]] bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  [[nodiscard]] const std::string& message() const { return error_.message; }
  [[nodiscard]] ErrorCode code() const { return error_.code; }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
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
inline Error make_error(ErrorCode code, std::string message) { return Error{std::move(message), code}; }

}  // namespace bastion
