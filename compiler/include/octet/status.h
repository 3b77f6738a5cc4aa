// Errors as values. Every library boundary in Octet returns Status or Expected<T>;
// messages are written for the user: they name the file, node or tensor and say
// what was expected and what was found.
#pragma once

#include <cassert>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace octet {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the user's input is wrong (model, data, flags)
  kNotFound,         // a file, tensor or node that should exist does not
  kUnimplemented,    // valid input that Octet does not support (yet)
  kOutOfRange,       // an index, size or offset outside its bounds
  kIoError,          // the operating system refused a read or write
  kDataLoss,         // a file is truncated or corrupt
  kInternal,         // a bug in Octet: an invariant did not hold
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `. Used to add the
  // node/file being processed as an error travels up.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Builds a message from stream-able parts: Error(kInvalidArgument, "node '", n, "' ...").
template <typename... Args>
Status Error(StatusCode code, Args&&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return Status(code, os.str());
}
template <typename... Args>
Status InvalidArgument(Args&&... parts) {
  return Error(StatusCode::kInvalidArgument, std::forward<Args>(parts)...);
}
template <typename... Args>
Status Unimplemented(Args&&... parts) {
  return Error(StatusCode::kUnimplemented, std::forward<Args>(parts)...);
}
template <typename... Args>
Status NotFound(Args&&... parts) {
  return Error(StatusCode::kNotFound, std::forward<Args>(parts)...);
}
template <typename... Args>
Status Internal(Args&&... parts) {
  return Error(StatusCode::kInternal, std::forward<Args>(parts)...);
}
template <typename... Args>
Status OutOfRange(Args&&... parts) {
  return Error(StatusCode::kOutOfRange, std::forward<Args>(parts)...);
}
template <typename... Args>
Status DataLoss(Args&&... parts) {
  return Error(StatusCode::kDataLoss, std::forward<Args>(parts)...);
}
template <typename... Args>
Status IoError(Args&&... parts) {
  return Error(StatusCode::kIoError, std::forward<Args>(parts)...);
}

// Either a value or an error Status (never an ok Status).
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Expected(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok() && "Expected<T> built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace octet

#define OCTET_CONCAT_INNER(a, b) a##b
#define OCTET_CONCAT(a, b) OCTET_CONCAT_INNER(a, b)

#define OCTET_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::octet::Status _octet_status = (expr);        \
    if (!_octet_status.ok()) return _octet_status; \
  } while (0)

// OCTET_ASSIGN_OR_RETURN(auto x, Foo()); declares x from an Expected or returns its error.
#define OCTET_ASSIGN_OR_RETURN(decl, expr) \
  OCTET_ASSIGN_OR_RETURN_IMPL(OCTET_CONCAT(_octet_expected_, __LINE__), decl, expr)
#define OCTET_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  decl = std::move(tmp).value()
