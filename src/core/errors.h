#pragma once
// Errors that reach an API client. The API layer turns them into
// {"error": {"code", "message", "field"}} with the HTTP status they carry;
// everything else thrown inside adamd becomes a 500 without crashing it.
#include <stdexcept>
#include <string>

namespace adam {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, std::string message, std::string field = {})
      : std::runtime_error(std::move(message)),
        status_(status),
        code_(std::move(code)),
        field_(std::move(field)) {}

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }

 private:
  int status_;
  std::string code_;
  std::string field_;
};

// Bad input: 400 naming the offending field (JSON pointer-ish, e.g. "interfaces[1]").
inline ApiError bad_request(std::string field, std::string message) {
  return ApiError(400, "bad_request", std::move(message), std::move(field));
}
inline ApiError not_found(std::string message) { return ApiError(404, "not_found", std::move(message)); }
inline ApiError conflict(std::string message) { return ApiError(409, "conflict", std::move(message)); }
inline ApiError unavailable(std::string message) { return ApiError(503, "unavailable", std::move(message)); }

}  // namespace adam
