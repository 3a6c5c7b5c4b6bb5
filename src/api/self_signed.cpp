#include "api/self_signed.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>

#include "api/machine_client.h"
#include "core/kernel.h"
#include "core/state_files.h"

namespace adam {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("self-signed certificate: ") + what + " failed");
}

// PEM text of what `write` puts out, for write_state_file(): the key goes
// into a file created with mode 0600 from the start, never readable by
// others, not even for a moment.
std::string pem_text(const std::function<bool(BIO*)>& write) {
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(BIO_new(BIO_s_mem()));
  check(bio && write(bio.get()), "PEM encoding");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

void generate(const TlsPair& pair) {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC P-256 key generation");
  Cert cert(X509_new());
  check(cert && X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  check(bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())), "serial number");
  BN_free(bn);
  constexpr long kTenYears = 10L * 365 * 24 * 3600;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kTenYears);
  const std::string host = host_name();
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("adamd"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(host.c_str()),
                             -1, -1, 0);
  check(X509_set_issuer_name(cert.get(), name) == 1, "X509_set_issuer_name");
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string sans = "DNS:" + host + ",DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, sans.c_str()}, std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_ext_key_usage, "serverAuth"}}) {
    Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    check(ext && X509_add_ext(cert.get(), ext.get(), -1) == 1, "X509_add_ext");
  }
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");
  write_state_file(pair.key, pem_text([&](BIO* bio) {
                     return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
                            1;
                   }));
  write_state_file(pair.cert, pem_text([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()) == 1; }));
}

}  // namespace

TlsPair ensure_self_signed(const std::string& state_dir) {
  const std::string dir = state_dir + "/tls";
  prepare_state_dir(dir);
  const TlsPair pair{dir + "/cert.pem", dir + "/key.pem"};
  if (std::filesystem::exists(pair.cert) && std::filesystem::exists(pair.key)) return pair;
  generate(pair);
  spdlog::info("generated a self-signed TLS certificate: {}", pair.cert);
  return pair;
}

std::string certificate_fingerprint(const std::string& pem_path) {
  FILE* f = std::fopen(pem_path.c_str(), "r");
  if (!f) throw std::runtime_error("cannot read " + pem_path + ": " + std::strerror(errno));
  Cert cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert) throw std::runtime_error(pem_path + ": no PEM certificate in it");
  return machine::fingerprint_of(cert.get());
}

}  // namespace adam
