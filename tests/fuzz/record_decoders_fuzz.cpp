// Every ring-buffer record decoder (firewall log_event, monitor_decode,
// lsm_decode) on arbitrary bytes, as EventHub::on_record hands them over:
// the first input byte picks the decoder, the rest is the record (header
// and payload) in a buffer of exactly its size, so a read past the record
// is an ASan report. A record either decodes to an event of the decoder's
// kinds whose data is a JSON object, or is refused; a fixed-size record is
// only accepted at its size, and the decoders that say they never throw do not.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "adam/events.h"
#include "fuzz_check.h"
#include "plugins/firewall/log_event.h"
#include "plugins/lsm/lsm_decode.h"
#include "plugins/monitor/monitor_decode.h"

namespace {

bool starts_with_any(std::string_view kind, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view p : prefixes) {
    if (kind.starts_with(p)) return true;
  }
  return false;
}

// The data of a decoded event as the hub stores it: a JSON object.
void check_object_text(const std::string& text) {
  const nlohmann::json data = nlohmann::json::parse(text, nullptr, false);
  FUZZ_CHECK(data.is_object(), "event data is not a JSON object: " + text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 1 + sizeof(adam_event_header)) return 0;  // the hub refuses it before any decoder
  const uint8_t decoder = bytes[0] % 3;
  // A copy of exactly the record's size: what follows it is a redzone.
  std::vector<std::byte> record(reinterpret_cast<const std::byte*>(bytes + 1),
                                reinterpret_cast<const std::byte*>(bytes + size));
  adam_event_header header;
  std::memcpy(&header, record.data(), sizeof header);
  const std::span<const std::byte> payload(record.data() + sizeof header, record.size() - sizeof header);
  adam::mon::BootClock clock;
  clock.boot = "0badc0de";
  clock.boot_wall_ns = 1'780'000'000'000'000'000;

  if (decoder == 0) {
    static adam::fw::InterfaceNames names;
    adam::DecodedRecord out;
    if (!adam::fw::decode_log_event(header, payload, out, names)) return 0;
    FUZZ_CHECK(out.kind == "firewall.drop" || out.kind == "firewall.pass", std::string(out.kind));
    FUZZ_CHECK(header.size == record.size(), "log event accepted at another size than its header's");
    check_object_text(out.data);
  } else if (decoder == 1) {
    adam::mon::MonitorEvent out;
    if (!adam::mon::decode_record(clock, header, payload, out)) return 0;
    FUZZ_CHECK(starts_with_any(out.kind, {"process.", "net.", "file."}), std::string(out.kind));
    FUZZ_CHECK(header.size == record.size(), "monitor record accepted at another size than its header's");
    check_object_text(out.data);
    // Written without a tree, it is still the text a nlohmann::json object dumps.
    FUZZ_CHECK(adam::mon::event_text(nlohmann::json::parse(out.data)) == out.data, out.data);
  } else {
    adam::lsm::LsmEvent out;
    // No /proc of another machine's processes: the subject's ancestors are
    // looked up in a directory that does not exist, as for a process gone.
    const bool ok = adam::lsm::decode_record(
        clock, header, payload, out, [](uint32_t id) { return id % 2 ? "policy " + std::to_string(id) : ""; },
        "/nonexistent-adam-fuzz-proc");
    if (!ok) return 0;
    FUZZ_CHECK(out.kind == "lsm.audit" || out.kind == "lsm.deny" || out.kind == "lsm.kill",
               std::string(out.kind));
    FUZZ_CHECK(header.size == record.size(), "lsm record accepted at another size than its header's");
    check_object_text(adam::mon::event_text(out.data));
  }
  return 0;
}
