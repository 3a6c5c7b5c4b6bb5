#pragma once
// adamd's own TLS certificate when no --tls-cert is given but
// --tls-self-signed is: an EC P-256 pair generated on first start under
// <state-dir>/tls/ and reused afterwards. Other adamds trust it by its
// SHA-256 fingerprint (pinned in their machine registry).
#include <string>

namespace adam {

struct TlsPair {
  std::string cert;  // PEM certificate path
  std::string key;   // PEM private key path
};

// <state_dir>/tls/cert.pem and key.pem (both mode 0600), created when
// missing: subject CN and SANs the host name, localhost, 127.0.0.1 and ::1;
// valid for 10 years. Throws std::runtime_error naming the file.
TlsPair ensure_self_signed(const std::string& state_dir);

// "AB:CD:..." of the first certificate of a PEM file. Throws
// std::runtime_error naming the file.
std::string certificate_fingerprint(const std::string& pem_path);

}  // namespace adam
