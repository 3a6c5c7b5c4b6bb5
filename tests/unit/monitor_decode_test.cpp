// The monitor's decoder (src/plugins/monitor/monitor_decode.cpp): records
// as the BPF programs write them (bpf/adam/monitor.h), built by hand, become
// the events of docs/monitor.md field by field; records that are cut short,
// too long or of an unknown kind are refused without reading past them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <random>
#include <vector>

#include "adam/monitor.h"
#include "plugins/monitor/monitor_decode.h"

namespace adam::mon {
namespace {

using nlohmann::json;

BootClock test_clock() {
  BootClock c;
  c.boot = "3f2a9c1e";
  c.boot_wall_ns = 1'764'000'000'000'000'000;
  c.ticks_per_second = 100;
  return c;
}

constexpr uint64_t kStartNs = 987'654'321'000;  // 98765 ticks, 4'321'000 ns into the tick
constexpr uint64_t kParentStartNs = 980'000'000'000;

adam_proc_ctx proc_ctx() {
  adam_proc_ctx p{};
  p.self = {.tgid = 1234, .pad = 0, .start_ns = kStartNs, .tag = 0x7ffc9a8b1000};
  p.parent = {.tgid = 1200, .pad = 0, .start_ns = kParentStartNs, .tag = 0x7ffd12345000};
  p.tid = 1235;
  p.ppid = 1;
  p.uid = 1000;
  p.gid = 100;
  p.cgroup_id = 4242;
  std::memcpy(p.comm, "bash", 4);
  return p;
}

// A decoded event with its data text parsed.
struct Decoded {
  std::string_view kind;
  json data;
};

// Decodes `size` bytes of `record` as the hub hands them over: header,
// payload. Every decode also checks that the process the decoder hands the
// process table is the one process_from_event reads from the event's data
// (compared as text: bytes that are not UTF-8 are U+FFFD in both).
template <typename Record>
bool decode(const Record& record, size_t size, Decoded& out) {
  adam_event_header header;
  std::memcpy(&header, &record, sizeof header);
  const auto* bytes = reinterpret_cast<const std::byte*>(&record);
  MonitorEvent event;
  if (!decode_record(test_clock(), header, {bytes + sizeof header, size - sizeof header}, event))
    return false;
  out = {event.kind, json::parse(event.data)};
  EXPECT_EQ(event_text(out.data), event.data)
      << "the text a nlohmann::json object dumps (keys sorted, its escapes)";
  EXPECT_EQ(event.ts, test_clock().boot_wall_ns + static_cast<TimeNs>(header.ts_boot_ns));
  EXPECT_EQ(event_text(to_json(event.process)),
            event_text(to_json(process_from_event(event.kind, out.data, event.ts))));
  return true;
}

template <typename Record>
Record record_of(uint32_t kind, uint32_t size = sizeof(Record)) {
  Record r{};
  r.header = {.ts_boot_ns = kStartNs + 5'000'000'000, .kind = kind, .size = size};
  r.proc = proc_ctx();
  return r;
}

void expect_process_fields(const json& d) {
  EXPECT_EQ(d["pid"], 1234);
  EXPECT_EQ(d["tid"], 1235);
  EXPECT_EQ(d["ppid"], 1);
  EXPECT_EQ(d["uid"], 1000);
  EXPECT_EQ(d["gid"], 100);
  EXPECT_EQ(d["comm"], "bash");
  EXPECT_EQ(d["cgroup_id"], 4242);
  EXPECT_EQ(d["exec_id"], "3f2a9c1e-1234-98765-7ffc9a8b1000");
  EXPECT_EQ(d["parent_exec_id"], "3f2a9c1e-1200-98000-7ffd12345000");
}

// An exec record of argv `args` (NUL-separated bytes), sent as the program
// sends it: only args_len bytes of args.
struct ExecRecord {
  std::unique_ptr<adam_mon_exec> e = std::make_unique<adam_mon_exec>();
  size_t size = 0;
  ExecRecord(const std::string& filename, const std::string& args, uint32_t flags = 0) {
    *e = record_of<adam_mon_exec>(ADAM_MON_EXEC);
    e->flags = flags;
    e->old_tid = 1235;
    e->filename_len = static_cast<uint32_t>(filename.size());
    std::memcpy(e->filename, filename.data(), filename.size());
    e->args_len = static_cast<uint32_t>(args.size());
    std::memcpy(e->args, args.data(), args.size());
    size = offsetof(adam_mon_exec, args) + args.size();
    e->header.size = static_cast<uint32_t>(size);
  }
  bool decode(Decoded& out) const { return mon::decode(*e, size, out); }
};

TEST(MonitorDecode, ExecRecordBecomesItsEventFieldByField) {
  static constexpr char kArgs[] = "sh\0-c\0echo 'a b'  \xc3\xbc";  // the literal's own NUL ends the last
  const std::string args(kArgs, sizeof kArgs);
  ExecRecord r("/bin/sh", args);
  Decoded out;
  ASSERT_TRUE(r.decode(out));
  EXPECT_EQ(out.kind, "process.exec");
  expect_process_fields(out.data);
  EXPECT_EQ(out.data["filename"], "/bin/sh");
  EXPECT_EQ(out.data["args"], json::array({"sh", "-c", "echo 'a b'  \xc3\xbc"}));
  EXPECT_EQ(out.data["args_truncated"], false);
  EXPECT_FALSE(out.data.contains("filename_truncated"));
  // The start to the clock tick, as /proc shows it: the same for a seeded process.
  EXPECT_EQ(out.data["started"], test_clock().boot_wall_ns + 98765 * 10'000'000LL);
}

TEST(MonitorDecode, ExecMarksTruncationAndKeepsTheCutLastArgument) {
  const std::string args("python3\0-c\0xxxx", 15);  // the last one cut: no NUL
  ExecRecord r(std::string(ADAM_MON_FILENAME_MAX - 1, 'f'), args,
               ADAM_MON_ARGS_TRUNCATED | ADAM_MON_FILENAME_TRUNCATED);
  Decoded out;
  ASSERT_TRUE(r.decode(out));
  EXPECT_EQ(out.data["args"], json::array({"python3", "-c", "xxxx"}));
  EXPECT_EQ(out.data["args_truncated"], true);
  EXPECT_EQ(out.data["filename_truncated"], true);
  EXPECT_EQ(out.data["filename"].get<std::string>().size(), ADAM_MON_FILENAME_MAX - 1u);
}

TEST(MonitorDecode, ExecWithoutArgsHasAnEmptyArray) {
  ExecRecord r("/sbin/init", "");
  Decoded out;
  ASSERT_TRUE(r.decode(out));
  EXPECT_EQ(out.data["args"], json::array());
}

TEST(MonitorDecode, InvalidUtf8BecomesReplacementCharacters) {
  const std::string args("cat\0\xff\xfe name\0", 12);
  ExecRecord r("/bin/cat", args);
  std::memcpy(r.e->proc.comm, "c\xfft", 4);
  Decoded out;
  ASSERT_TRUE(r.decode(out));
  const json& back = out.data;  // the text was valid JSON (decode parsed it)
  EXPECT_EQ(back["args"][1], "\xef\xbf\xbd\xef\xbf\xbd name");
  EXPECT_EQ(back["comm"], "c\xef\xbf\xbdt");
}

TEST(MonitorDecode, ExecRecordsOfInconsistentSizesAreRefused) {
  Decoded out;
  {
    ExecRecord r("/bin/sh", std::string("sh\0", 3));
    r.e->args_len = 4;  // says more than was sent
    EXPECT_FALSE(r.decode(out));
  }
  {
    ExecRecord r("/bin/sh", std::string("sh\0", 3));
    r.e->filename_len = ADAM_MON_FILENAME_MAX;  // past its array
    EXPECT_FALSE(r.decode(out));
  }
  {
    ExecRecord r("/bin/sh", "");
    r.size = offsetof(adam_mon_exec, args) - 1;  // cut inside the fixed part
    r.e->header.size = static_cast<uint32_t>(r.size);
    EXPECT_FALSE(r.decode(out));
  }
  {
    ExecRecord r("/bin/sh", std::string("sh\0", 3));
    r.e->header.size = static_cast<uint32_t>(r.size + 1);  // the header disagrees with the bytes
    EXPECT_FALSE(r.decode(out));
  }
}

TEST(MonitorDecode, ForkNamesTheChildAndItsParent) {
  auto r = record_of<adam_mon_fork>(ADAM_MON_FORK);
  Decoded out;
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.kind, "process.fork");
  expect_process_fields(out.data);
  EXPECT_EQ(out.data["started"], test_clock().boot_wall_ns + 98765 * 10'000'000LL);
}

TEST(MonitorDecode, PidOneHasNoParentExecId) {
  auto r = record_of<adam_mon_fork>(ADAM_MON_FORK);
  r.proc.parent = {};
  Decoded out;
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.data["parent_exec_id"], "");
}

TEST(MonitorDecode, ExitCodesSignalsAndCoreDumps) {
  Decoded out;
  auto r = record_of<adam_mon_exit>(ADAM_MON_EXIT);
  r.exit_code = 7 << 8;  // exit(7)
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.kind, "process.exit");
  expect_process_fields(out.data);
  EXPECT_EQ(out.data["exit_code"], 7);
  EXPECT_FALSE(out.data.contains("signal"));
  EXPECT_EQ(out.data["core_dumped"], false);
  EXPECT_EQ(out.data["lifetime_ns"], 5'000'000'000LL);

  r.exit_code = 9;  // SIGKILL
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_FALSE(out.data.contains("exit_code"));
  EXPECT_EQ(out.data["signal"], 9);
  EXPECT_EQ(out.data["signal_name"], "SIGKILL");
  EXPECT_EQ(out.data["core_dumped"], false);

  r.exit_code = 0x80 | 11;  // SIGSEGV with a core
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.data["signal_name"], "SIGSEGV");
  EXPECT_EQ(out.data["core_dumped"], true);
}

TEST(MonitorDecode, ConnectOverIpv4AndIpv6WithTheirResults) {
  Decoded out;
  auto r = record_of<adam_mon_connect>(ADAM_MON_CONNECT);
  r.family = AF_INET;
  r.port = 8080;
  r.protocol = IPPROTO_TCP;
  r.result = -ECONNREFUSED;
  ASSERT_EQ(inet_pton(AF_INET, "198.51.100.2", r.addr), 1);
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.kind, "net.connect");
  expect_process_fields(out.data);
  EXPECT_EQ(out.data["family"], "ipv4");
  EXPECT_EQ(out.data["daddr"], "198.51.100.2");
  EXPECT_EQ(out.data["dport"], 8080);
  EXPECT_EQ(out.data["protocol"], "tcp");
  EXPECT_EQ(out.data["result"], -ECONNREFUSED);
  EXPECT_EQ(out.data["error"], "ECONNREFUSED");

  r.family = AF_INET6;
  r.protocol = IPPROTO_UDP;
  r.result = 0;
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::2", r.addr), 1);
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.data["family"], "ipv6");
  EXPECT_EQ(out.data["daddr"], "2001:db8::2");
  EXPECT_EQ(out.data["protocol"], "udp");
  EXPECT_EQ(out.data["result"], 0);
  EXPECT_FALSE(out.data.contains("error"));

  r.protocol = IPPROTO_SCTP;
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.data["protocol"], IPPROTO_SCTP);

  r.family = AF_UNIX;  // the programs record inet families only
  EXPECT_FALSE(decode(r, sizeof r, out));
}

TEST(MonitorDecode, OpenWithFlagsAndResult) {
  Decoded out;
  auto r = record_of<adam_mon_open>(ADAM_MON_OPEN);
  const std::string path = "/etc/shadow";
  std::memcpy(r.path, path.data(), path.size());
  r.path_len = static_cast<uint32_t>(path.size());
  r.flags = O_WRONLY | O_CREAT | O_CLOEXEC;
  r.result = 3;
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.kind, "file.open");
  expect_process_fields(out.data);
  EXPECT_EQ(out.data["path"], path);
  EXPECT_FALSE(out.data.contains("path_truncated"));
  EXPECT_EQ(out.data["flags"], O_WRONLY | O_CREAT | O_CLOEXEC);
  EXPECT_EQ(out.data["flags_text"], "O_WRONLY|O_CREAT|O_CLOEXEC");
  EXPECT_EQ(out.data["result"], 3);
  EXPECT_FALSE(out.data.contains("error"));

  r.result = -EACCES;
  r.flags = O_RDONLY;
  r.trunc = ADAM_MON_PATH_TRUNCATED;
  ASSERT_TRUE(decode(r, sizeof r, out));
  EXPECT_EQ(out.data["error"], "EACCES");
  EXPECT_EQ(out.data["flags_text"], "O_RDONLY");
  EXPECT_EQ(out.data["path_truncated"], true);

  r.path_len = ADAM_MON_PATH_MAX + 1;
  EXPECT_FALSE(decode(r, sizeof r, out));
}

TEST(MonitorDecode, FlagNamesTakeCompositeFlagsWhole) {
  EXPECT_EQ(open_flags_text(O_RDWR | O_SYNC), "O_RDWR|O_SYNC");  // not O_DSYNC besides
  EXPECT_EQ(open_flags_text(O_WRONLY | O_DSYNC), "O_WRONLY|O_DSYNC");
  EXPECT_EQ(open_flags_text(O_RDWR | O_TMPFILE), "O_RDWR|O_TMPFILE");
  EXPECT_EQ(open_flags_text(O_RDONLY | O_DIRECTORY | 020000000000u), "O_RDONLY|O_DIRECTORY|020000000000");
}

TEST(MonitorDecode, NamesOfSignalsAndErrors) {
  EXPECT_EQ(signal_name(15), "SIGTERM");
  EXPECT_EQ(signal_name(200), "SIG200");
  EXPECT_EQ(errno_name(EINPROGRESS), "EINPROGRESS");
  EXPECT_EQ(errno_name(9999), "E9999");
}

TEST(MonitorDecode, FixedSizeRecordsCutOrPaddedAreRefused) {
  Decoded out;
  auto fork = record_of<adam_mon_fork>(ADAM_MON_FORK);
  EXPECT_FALSE(decode(fork, sizeof fork - 1, out));
  auto exit = record_of<adam_mon_exit>(ADAM_MON_EXIT, sizeof(adam_mon_exit) - 8);
  EXPECT_FALSE(decode(exit, sizeof exit, out));
  auto unknown = record_of<adam_mon_fork>(99);
  EXPECT_FALSE(decode(unknown, sizeof unknown, out));
  auto open_as_connect = record_of<adam_mon_open>(ADAM_MON_CONNECT);
  EXPECT_FALSE(decode(open_as_connect, sizeof open_as_connect, out));
}

// Random bytes of every size after a header of each kind: the decoder
// answers (mostly no) and reads nothing past the bytes it got (the buffer
// is exactly that long, so a read past it is a heap overflow the
// sanitizers and malloc checks see).
TEST(MonitorDecode, GarbageIsRefusedWithoutReadingPastIt) {
  std::mt19937 rng(11);
  int accepted = 0;
  for (uint32_t kind = 0; kind <= ADAM_MON_OPEN + 1; ++kind) {
    for (int i = 0; i < 2000; ++i) {
      const size_t size = rng() % (sizeof(adam_mon_exec) + 64);
      std::vector<std::byte> payload(size);
      for (auto& b : payload) b = static_cast<std::byte>(rng());
      adam_event_header header{.ts_boot_ns = rng(), .kind = kind, .size = static_cast<uint32_t>(size + 16)};
      if (i % 2) header.size = static_cast<uint32_t>(rng());
      MonitorEvent out;
      if (decode_record(test_clock(), header, payload, out)) {
        ++accepted;
        ASSERT_TRUE(json::accept(out.data)) << out.data;
        EXPECT_EQ(event_text(json::parse(out.data)), out.data);
      }
    }
  }
  // Random fixed-size records of a kind can be valid; most are not.
  EXPECT_LT(accepted, 200);
}

}  // namespace
}  // namespace adam::mon
