#include "core/bpf_handle.h"

#include <string.h>

namespace adam {

std::string libbpf_error(int err) {
  if (err < 0) err = -err;
  char buf[256] = {};
  // Knows libbpf's own codes (LIBBPF_ERRNO__*) as well as plain errno values.
  if (libbpf_strerror(err, buf, sizeof buf) == 0 && buf[0] != '\0') return buf;
  char fallback[256];
  return ::strerror_r(err, fallback, sizeof fallback);  // GNU variant: returns the text
}

}  // namespace adam
