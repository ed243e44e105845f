#pragma once

#include <string>
#include <utility>

namespace core {

/// Result of a fallible control-plane operation (config load, setup). An empty message means
/// success. Config errors carry the whole text the operator sees, `file:line` included.
class [[nodiscard]] Status {
  public:
    static Status ok() { return Status(); }
    static Status error(std::string message) { return Status(std::move(message)); }

    bool is_ok() const { return !failed_; }
    const std::string& message() const { return message_; }

  private:
    Status() = default;
    explicit Status(std::string message) : message_(std::move(message)), failed_(true) {}

    std::string message_;
    bool failed_ = false;
};

}  // namespace core

/// Propagates a failed Status to the caller.
#define HALO_TRY(expr)              \
    do {                            \
        ::core::Status s_ = (expr); \
        if (!s_.is_ok()) {          \
            return s_;              \
        }                           \
    } while (0)
