#include "plugins/lsm/lsm_decode.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "adam/lsm.h"
#include "plugins/lsm/policy.h"
#include "plugins/lsm/subject.h"

namespace adam::lsm {
namespace {

// The layout this decoder reads: any change in bpf/adam/lsm.h must show here.
static_assert(sizeof(adam_proc_ctx) == 88);
static_assert(offsetof(adam_lsm_event, policy_id) == 104 && offsetof(adam_lsm_event, addr) == 120 &&
              offsetof(adam_lsm_event, path) == 144 && sizeof(adam_lsm_event) == 144 + ADAM_LSM_PATH_MAX);

std::string_view event_kind(uint32_t code) {
  switch (code) {
    case ADAM_LSM_EVENT_AUDIT:
      return "lsm.audit";
    case ADAM_LSM_EVENT_DENY:
      return "lsm.deny";
    case ADAM_LSM_EVENT_KILL:
      return "lsm.kill";
  }
  return {};
}

}  // namespace

bool decode_record(const mon::BootClock& clock, const adam_event_header& header,
                   std::span<const std::byte> payload, LsmEvent& out,
                   const std::function<std::string(uint32_t)>& policy_name, const std::string& proc_root) {
  adam_lsm_event e;
  if (header.size != sizeof e || payload.size() != sizeof e - sizeof header) return false;
  std::memcpy(&e.header, &header, sizeof header);
  std::memcpy(reinterpret_cast<std::byte*>(&e) + sizeof header, payload.data(), payload.size());
  out.kind = event_kind(header.kind);
  if (out.kind.empty() || e.kind >= ADAM_LSM_KINDS || e.mechanism > ADAM_LSM_MECH_SIGNAL ||
      e.path_len >= ADAM_LSM_PATH_MAX)
    return false;
  const Kind kind = static_cast<Kind>(e.kind);
  out.data = subject_json(e.proc, clock, proc_root);
  out.data["policy_id"] = e.policy_id;
  out.data["policy"] = policy_name(e.policy_id);
  out.data["kind"] = name_of(kind);
  out.data["action"] = header.kind == ADAM_LSM_EVENT_AUDIT ? "audit" : "deny";
  out.data["mechanism"] = name_of(static_cast<Mechanism>(e.mechanism));
  if (kind == Kind::exec || kind == Kind::file) out.data["path"] = std::string(e.path, e.path_len);
  if (kind == Kind::file) {
    out.data["access"] = access_name(e.access);
    out.data["flags"] = e.flags;
  }
  if (kind == Kind::connect || kind == Kind::bind) {
    if (e.family != AF_INET && e.family != AF_INET6) return false;
    char addr[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(e.family, e.addr, addr, sizeof addr);
    out.data["family"] = e.family == AF_INET ? "ipv4" : "ipv6";
    out.data["addr"] = addr;
    out.data["port"] = e.port;
    out.data["proto"] = e.proto == IPPROTO_UDP ? "udp" : "tcp";
  }
  return true;
}

}  // namespace adam::lsm
