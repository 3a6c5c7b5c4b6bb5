#include "plugins/monitor/monitor_decode.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>

#include "adam/monitor.h"

namespace adam::mon {
namespace {

// The layouts this decoder reads: any change in bpf/adam/monitor.h must show here.
static_assert(sizeof(adam_event_header) == 16);
static_assert(sizeof(adam_proc_id) == 24);
static_assert(sizeof(adam_proc_ctx) == 88 && offsetof(adam_proc_ctx, comm) == 72);
static_assert(offsetof(adam_mon_exec, filename) == 120 && offsetof(adam_mon_exec, args) == 632 &&
              sizeof(adam_mon_exec) == 632 + ADAM_MON_ARGS_MAX);
static_assert(sizeof(adam_mon_fork) == 104);
static_assert(sizeof(adam_mon_exit) == 112);
static_assert(offsetof(adam_mon_connect, addr) == 116 && sizeof(adam_mon_connect) == 136);
static_assert(offsetof(adam_mon_open, path) == 120 && sizeof(adam_mon_open) == 120 + ADAM_MON_PATH_MAX);

// A fixed-size record: the whole of it, or nothing.
template <typename Record>
bool read_record(const adam_event_header& header, std::span<const std::byte> payload, Record& out) {
  if (header.size != sizeof(Record) || payload.size() != sizeof(Record) - sizeof header) return false;
  std::memcpy(&out.header, &header, sizeof header);
  std::memcpy(reinterpret_cast<std::byte*>(&out) + sizeof header, payload.data(), payload.size());
  return true;
}

std::string bounded(const char* text, size_t max) { return std::string(text, strnlen(text, max)); }

std::string exec_id_of(const BootClock& clock, const adam_proc_id& id) {
  return clock.exec_id(id.tgid, id.start_ns, id.tag);
}

// Wall-clock start of a process, to the clock tick /proc shows it in: the
// same for a process the kernel saw start and one read from /proc.
TimeNs started_of(const BootClock& clock, const adam_proc_id& id) {
  return clock.wall_of_ticks(clock.ticks_of(id.start_ns));
}

// A JSON string: printable ASCII as it is, anything else as nlohmann::json
// writes it (escapes, UTF-8 kept, bytes that are not UTF-8 as U+FFFD).
std::string json_string(std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(),
                                 [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (plain) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    out += text;
    out += '"';
    return out;
  }
  return event_text(std::string(text));
}

// An event's data as JSON object text, its keys in the order a
// nlohmann::json object (a std::map) dumps them, as the store always held it.
class DataText {
 public:
  void string(std::string_view key, std::string_view text) { fields_.emplace_back(key, json_string(text)); }
  void number(std::string_view key, std::integral auto n) { fields_.emplace_back(key, fmt::format("{}", n)); }
  void boolean(std::string_view key, bool b) { fields_.emplace_back(key, b ? "true" : "false"); }
  void strings(std::string_view key, const std::vector<std::string>& items) {
    std::string out = "[";
    for (const std::string& item : items) {
      if (out.size() > 1) out += ',';
      out += json_string(item);
    }
    fields_.emplace_back(key, out + ']');
  }
  std::string text() && {
    std::sort(fields_.begin(), fields_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = "{";
    for (const auto& [key, value] : fields_) {
      if (out.size() > 1) out += ',';
      out += '"';
      out += key;  // ours: plain ASCII
      out += "\":";
      out += value;
    }
    return out + '}';
  }

 private:
  std::vector<std::pair<std::string_view, std::string>> fields_;
};

// The record's process and its fields in the data, for an event at `ts`;
// `started` is the event's time where the record does not say (as
// process_from_event reads an event without it).
DataText process_fields(const BootClock& clock, const adam_proc_ctx& p, TimeNs ts, Process& process) {
  process.exec_id = exec_id_of(clock, p.self);
  // pid 1 and kthreadd have the idle task (tgid 0) for a parent.
  process.parent_exec_id = p.parent.tgid == 0 ? std::string() : exec_id_of(clock, p.parent);
  process.pid = p.self.tgid;
  process.ppid = p.ppid;
  process.uid = p.uid;
  process.gid = p.gid;
  process.comm = bounded(p.comm, sizeof p.comm);
  process.cgroup_id = p.cgroup_id;
  process.started = ts;
  DataText data;
  data.number("pid", p.self.tgid);
  data.number("tid", p.tid);
  data.number("ppid", p.ppid);
  data.number("uid", p.uid);
  data.number("gid", p.gid);
  data.string("comm", process.comm);
  data.number("cgroup_id", p.cgroup_id);
  data.string("exec_id", process.exec_id);
  data.string("parent_exec_id", process.parent_exec_id);
  return data;
}

// The event's time: the record's boot-clock stamp on the wall clock. Added
// as unsigned, which wraps where a signed sum would overflow: a stamp no
// kernel writes (found by record_decoders_fuzz) gives a wrong time, never
// undefined behaviour.
TimeNs event_time(const BootClock& clock, const adam_event_header& header) {
  return static_cast<TimeNs>(static_cast<uint64_t>(clock.boot_wall_ns) + header.ts_boot_ns);
}

// The started field of exec and fork, in the data and the process.
void add_started(const BootClock& clock, const adam_proc_id& id, DataText& data, Process& process) {
  process.started = started_of(clock, id);
  data.number("started", process.started);
}

// argv's strings, each ended by a NUL; the last may be cut (no NUL).
std::vector<std::string> split_args(const char* bytes, size_t len) {
  std::vector<std::string> args;
  size_t from = 0;
  while (from < len) {
    const void* nul = std::memchr(bytes + from, '\0', len - from);
    const size_t end = nul ? static_cast<size_t>(static_cast<const char*>(nul) - bytes) : len;
    args.emplace_back(bytes + from, end - from);
    from = end + 1;
  }
  return args;
}

bool decode_exec(const BootClock& clock, const adam_event_header& header, std::span<const std::byte> payload,
                 MonitorEvent& out) {
  constexpr size_t head = offsetof(adam_mon_exec, args);
  if (header.size < head || header.size > sizeof(adam_mon_exec) ||
      payload.size() != header.size - sizeof header)
    return false;
  auto e = std::make_unique<adam_mon_exec>();
  std::memcpy(&e->header, &header, sizeof header);
  std::memcpy(reinterpret_cast<std::byte*>(e.get()) + sizeof header, payload.data(), payload.size());
  if (e->args_len != header.size - head || e->filename_len >= sizeof e->filename) return false;
  out.kind = "process.exec";
  Process& p = out.process;
  DataText data = process_fields(clock, e->proc, out.ts, p);
  p.filename.assign(e->filename, e->filename_len);
  data.string("filename", p.filename);
  if (e->flags & ADAM_MON_FILENAME_TRUNCATED) data.boolean("filename_truncated", true);
  p.args = split_args(e->args, e->args_len);
  data.strings("args", p.args);
  p.args_truncated = (e->flags & ADAM_MON_ARGS_TRUNCATED) != 0;
  data.boolean("args_truncated", p.args_truncated);
  add_started(clock, e->proc.self, data, p);
  out.data = std::move(data).text();
  return true;
}

bool decode_fork(const BootClock& clock, const adam_event_header& header, std::span<const std::byte> payload,
                 MonitorEvent& out) {
  adam_mon_fork e;
  if (!read_record(header, payload, e)) return false;
  out.kind = "process.fork";
  DataText data = process_fields(clock, e.proc, out.ts, out.process);
  add_started(clock, e.proc.self, data, out.process);
  out.data = std::move(data).text();
  return true;
}

bool decode_exit(const BootClock& clock, const adam_event_header& header, std::span<const std::byte> payload,
                 MonitorEvent& out) {
  adam_mon_exit e;
  if (!read_record(header, payload, e)) return false;
  out.kind = "process.exit";
  Process& p = out.process;
  DataText data = process_fields(clock, e.proc, out.ts, p);
  p.exited = out.ts;
  // A wait status: (code << 8) when it exited, the signal (| 0x80 with a core) when killed.
  const uint32_t status = e.exit_code;
  if ((status & 0x7f) == 0) {
    p.exit_code = static_cast<int>((status >> 8) & 0xff);
    data.number("exit_code", *p.exit_code);
  } else {
    p.signal = static_cast<int>(status & 0x7f);
    data.number("signal", *p.signal);
    data.string("signal_name", signal_name(*p.signal));
  }
  data.boolean("core_dumped", (status & 0x80) != 0);
  data.number("lifetime_ns", header.ts_boot_ns > e.proc.self.start_ns
                                 ? header.ts_boot_ns - e.proc.self.start_ns
                                 : uint64_t{0});
  out.data = std::move(data).text();
  return true;
}

void add_result(DataText& data, int32_t result) {
  data.number("result", result);
  // INT32_MIN has no int negation (found by record_decoders_fuzz); no errno is that large anyway.
  if (result == INT32_MIN)
    data.string("error", "E" + std::to_string(-int64_t{result}));
  else if (result < 0)
    data.string("error", errno_name(-result));
}

bool decode_connect(const BootClock& clock, const adam_event_header& header,
                    std::span<const std::byte> payload, MonitorEvent& out) {
  adam_mon_connect e;
  if (!read_record(header, payload, e) || (e.family != AF_INET && e.family != AF_INET6)) return false;
  char addr[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(e.family, e.addr, addr, sizeof addr);
  out.kind = "net.connect";
  DataText data = process_fields(clock, e.proc, out.ts, out.process);
  data.string("family", e.family == AF_INET ? "ipv4" : "ipv6");
  data.string("daddr", addr);
  data.number("dport", e.port);
  if (e.protocol == IPPROTO_TCP)
    data.string("protocol", "tcp");
  else if (e.protocol == IPPROTO_UDP)
    data.string("protocol", "udp");
  else
    data.number("protocol", e.protocol);
  add_result(data, e.result);
  out.data = std::move(data).text();
  return true;
}

bool decode_open(const BootClock& clock, const adam_event_header& header, std::span<const std::byte> payload,
                 MonitorEvent& out) {
  adam_mon_open e;
  if (!read_record(header, payload, e) || e.path_len > sizeof e.path) return false;
  out.kind = "file.open";
  DataText data = process_fields(clock, e.proc, out.ts, out.process);
  data.string("path", std::string_view(e.path, e.path_len));
  if (e.trunc & ADAM_MON_PATH_TRUNCATED) data.boolean("path_truncated", true);
  data.number("flags", e.flags);
  data.string("flags_text", open_flags_text(e.flags));
  add_result(data, e.result);
  out.data = std::move(data).text();
  return true;
}

}  // namespace

bool decode_record(const BootClock& clock, const adam_event_header& header,
                   std::span<const std::byte> payload, MonitorEvent& out) {
  try {
    out.ts = event_time(clock, header);
    switch (header.kind) {
      case ADAM_MON_EXEC:
        return decode_exec(clock, header, payload, out);
      case ADAM_MON_FORK:
        return decode_fork(clock, header, payload, out);
      case ADAM_MON_EXIT:
        return decode_exit(clock, header, payload, out);
      case ADAM_MON_CONNECT:
        return decode_connect(clock, header, payload, out);
      case ADAM_MON_OPEN:
        return decode_open(clock, header, payload, out);
    }
  } catch (const std::exception&) {  // out of memory: the record is lost, adamd goes on
  }
  return false;
}

std::string event_text(const nlohmann::json& data) {
  return data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string signal_name(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(signal);
}

std::string errno_name(int err) {
  const char* name = ::strerrorname_np(err);
  return name ? name : "E" + std::to_string(err);
}

std::string open_flags_text(uint32_t flags) {
  static constexpr std::pair<uint32_t, const char*> kFlags[] = {
      {O_CREAT, "O_CREAT"},       {O_EXCL, "O_EXCL"},       {O_NOCTTY, "O_NOCTTY"},
      {O_TRUNC, "O_TRUNC"},       {O_APPEND, "O_APPEND"},   {O_NONBLOCK, "O_NONBLOCK"},
      {O_SYNC, "O_SYNC"},         {O_DSYNC, "O_DSYNC"},     {O_ASYNC, "O_ASYNC"},
      {O_DIRECT, "O_DIRECT"},     {O_TMPFILE, "O_TMPFILE"}, {O_DIRECTORY, "O_DIRECTORY"},
      {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"}, {O_CLOEXEC, "O_CLOEXEC"},
      {O_PATH, "O_PATH"}};
  const uint32_t mode = flags & O_ACCMODE;
  std::string text = mode == O_RDONLY   ? "O_RDONLY"
                     : mode == O_WRONLY ? "O_WRONLY"
                     : mode == O_RDWR   ? "O_RDWR"
                                        : "O_ACCMODE";
  uint32_t rest = flags & ~static_cast<uint32_t>(O_ACCMODE);
  for (auto [bit, name] : kFlags) {
    // O_SYNC and O_TMPFILE include another flag's bit: whole matches only.
    if ((rest & bit) == bit) {
      text += std::string("|") + name;
      rest &= ~bit;
    }
  }
  if (rest) text += fmt::format("|{:#o}", rest);
  return text;
}

}  // namespace adam::mon
