// UDP flood sender and counting receiver for bench/fw_vs_iptables.sh and
// bench/lb_vs_nft.sh.
//   udp_flood send --dst 198.51.100.2 --port 9999 --seconds 5 [--size 64] [--flows 1]
//   udp_flood recv --port 9999 --seconds 5
//   udp_flood send-raw --dev veth0 --dst-mac 02:00:00:00:00:02 --src 198.51.100.1
//                      --dst 203.0.113.10 --port 9999 --seconds 5 [--size 64] [--flows 1]
//   udp_flood send-xdp  (the same options as send-raw)
//   udp_flood count-xdp --dev veth0 --port 9999 --seconds 5 [--xdp-mode generic|native]
// --flows N sends from N sockets (N source ports, so N 5-tuples) in turn: a
// load balancer spreads flows, not packets.
// send-raw writes whole Ethernet frames (IPv4 and UDP checksums complete)
// into --dev through AF_PACKET, past the qdisc: no socket, route or UDP
// stack of the sender's per packet, so what comes after the interface is
// what is measured. Its N flows are N source ports, frame by frame in turn.
// send-xdp sends the same frames cheaper still, from the kernel's XDP
// traffic generator (bench/xdp_flood.bpf.c): no skb and no syscall per
// frame; the receiving end of --dev needs NAPI (a veth's peer: an XDP
// program on it or GRO on). count-xdp counts (and drops) the flood where it
// arrives, at --dev's XDP hook.
// Both its addresses must be in the documentation ranges the tests use.
// Each prints one JSON line: {"mode":…,"packets":…,"seconds":…,"pps":…,"cpu_seconds":…}.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/bpf_handle.h"
#include "xdp_flood.skel.h"

namespace {

struct Args {
  std::string mode, dst = "198.51.100.2";
  std::string dev, dst_mac, src;     // send-raw
  std::string xdp_mode = "generic";  // count-xdp
  int port = 9999;
  double seconds = 5;
  size_t size = 64;
  int flows = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: udp_flood send|recv|send-raw [--dst IP] [--port N] [--seconds S] [--size BYTES] [--flows N]\n"
        "                [--dev IFNAME --dst-mac MAC --src IP]  (send-raw)\n");
    std::exit(2);
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dst")
      a.dst = v;
    else if (k == "--port")
      a.port = std::atoi(v.c_str());
    else if (k == "--seconds")
      a.seconds = std::atof(v.c_str());
    else if (k == "--size")
      a.size = static_cast<size_t>(std::atoi(v.c_str()));
    else if (k == "--flows")
      a.flows = std::max(1, std::atoi(v.c_str()));
    else if (k == "--dev")
      a.dev = v;
    else if (k == "--dst-mac")
      a.dst_mac = v;
    else if (k == "--src")
      a.src = v;
    else if (k == "--xdp-mode")
      a.xdp_mode = v;
    else {
      std::fprintf(stderr, "udp_flood: unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

double elapsed(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// cpu_seconds: the process's user + system time, which (with the kernel's
// tick accounting) includes the softirqs that ran in its context: a sender's
// whole receive path when every hop is a veth on this machine.
void report(const char* mode, uint64_t packets, double seconds) {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](timeval tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  std::printf("{\"mode\":\"%s\",\"packets\":%llu,\"seconds\":%.3f,\"pps\":%.0f,\"cpu_seconds\":%.3f}\n", mode,
              static_cast<unsigned long long>(packets), seconds, static_cast<double>(packets) / seconds,
              secs(ru.ru_utime) + secs(ru.ru_stime));
}

// Batches of 64 datagrams per sendmmsg: the sender is not the bottleneck.
// Each batch goes out of the next flow's socket.
int send_flood(const Args& a) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(a.port));
  if (::inet_pton(AF_INET, a.dst.c_str(), &dst.sin_addr) != 1) return 2;
  std::vector<int> fds;
  for (int i = 0; i < a.flows; ++i) {
    fds.push_back(::socket(AF_INET, SOCK_DGRAM, 0));
    if (::connect(fds.back(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return 1;
  }
  std::vector<char> payload(a.size, 'x');
  constexpr int kBatch = 64;
  std::vector<iovec> iov(kBatch, iovec{payload.data(), payload.size()});
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  size_t flow = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (elapsed(t0) < a.seconds) {
    const int n = ::sendmmsg(fds[flow], msgs.data(), kBatch, 0);
    flow = (flow + 1) % fds.size();
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  report("send", sent, elapsed(t0));
  return 0;
}

int receive(const Args& a) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const int buf = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(a.port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 1;
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr int kBatch = 64;
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(2048));
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {bufs[i].data(), bufs[i].size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t received = 0;
  // The clock starts at the first datagram, so start-up skew between sender
  // and receiver does not count.
  std::chrono::steady_clock::time_point t0;
  bool started = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.seconds + 10);
  while (std::chrono::steady_clock::now() < give_up) {
    const int n = ::recvmmsg(fd, msgs.data(), kBatch, 0, nullptr);
    if (n > 0) {
      if (!started) {
        started = true;
        t0 = std::chrono::steady_clock::now();
      }
      received += static_cast<uint64_t>(n);
    }
    if (started && elapsed(t0) >= a.seconds) break;
  }
  report("recv", received, started ? elapsed(t0) : a.seconds);
  return 0;
}

// The ones' complement sum of 16-bit words (RFC 1071), not yet inverted.
uint32_t add_words(uint32_t sum, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2) sum += static_cast<uint32_t>(p[len - 1] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// 198.51.100.0/24 and 203.0.113.0/24: the addresses the tests may use.
bool in_documentation_ranges(in_addr a) {
  const uint32_t net = ntohl(a.s_addr) & 0xffffff00;
  return net == 0xc6336400 || net == 0xcb007100;
}

bool parse_mac(const std::string& text, std::array<uint8_t, 6>& mac) {
  unsigned b[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
  return true;
}

// Where send-raw and send-xdp write: the interface, its MAC, the next hop's
// MAC and the addresses.
struct RawTarget {
  int ifindex = 0;
  std::array<uint8_t, 6> src_mac{}, dst_mac{};
  in_addr src{}, dst{};
};

bool raw_target(const Args& a, RawTarget& t) {
  if (::inet_pton(AF_INET, a.src.c_str(), &t.src) != 1 || ::inet_pton(AF_INET, a.dst.c_str(), &t.dst) != 1 ||
      !parse_mac(a.dst_mac, t.dst_mac) || a.dev.empty()) {
    std::fprintf(stderr, "udp_flood: %s needs --dev, --dst-mac, --src and --dst\n", a.mode.c_str());
    return false;
  }
  if (!in_documentation_ranges(t.src) || !in_documentation_ranges(t.dst)) {
    std::fprintf(stderr, "udp_flood: %s sends only within 198.51.100.0/24 and 203.0.113.0/24\n",
                 a.mode.c_str());
    return false;
  }
  const adam::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", a.dev.c_str());
  t.ifindex = static_cast<int>(::if_nametoindex(a.dev.c_str()));
  if (t.ifindex == 0 || ::ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) {
    std::fprintf(stderr, "udp_flood: no interface named '%s'\n", a.dev.c_str());
    return false;
  }
  std::copy_n(reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data), 6, t.src_mac.begin());
  return true;
}

// One frame per flow, built once: Ethernet, IPv4 (no options, DF), UDP from
// source port 10000 + flow, then `size` bytes of payload.
std::vector<std::vector<uint8_t>> raw_frames(const Args& a, const RawTarget& t, int flows) {
  struct [[gnu::packed]] Headers {
    ether_header eth;
    iphdr ip;
    udphdr udp;
  };
  std::vector<std::vector<uint8_t>> frames;
  for (int flow = 0; flow < flows; ++flow) {
    Headers h{};
    std::copy(t.dst_mac.begin(), t.dst_mac.end(), h.eth.ether_dhost);
    std::copy(t.src_mac.begin(), t.src_mac.end(), h.eth.ether_shost);
    h.eth.ether_type = htons(ETHERTYPE_IP);
    const uint16_t udp_len = static_cast<uint16_t>(sizeof(udphdr) + a.size);
    h.ip.ihl = 5;
    h.ip.version = 4;
    h.ip.tot_len = htons(static_cast<uint16_t>(sizeof(iphdr) + udp_len));
    h.ip.frag_off = htons(IP_DF);
    h.ip.ttl = 64;
    h.ip.protocol = IPPROTO_UDP;
    h.ip.saddr = t.src.s_addr;
    h.ip.daddr = t.dst.s_addr;
    h.ip.check = fold(add_words(0, &h.ip, sizeof h.ip));
    h.udp.source = htons(static_cast<uint16_t>(10000 + flow));
    h.udp.dest = htons(static_cast<uint16_t>(a.port));
    h.udp.len = htons(udp_len);
    std::vector<uint8_t> f(sizeof h + a.size, 'x');
    std::memcpy(f.data(), &h, sizeof h);
    // The pseudo-header (addresses, protocol, length), then header and payload.
    const uint32_t pseudo = add_words(0, &h.ip.saddr, 8) + IPPROTO_UDP + udp_len;
    const uint16_t check = fold(add_words(pseudo, f.data() + offsetof(Headers, udp), udp_len));
    h.udp.check = check == 0 ? 0xffff : check;  // 0 would mean "no checksum"
    std::memcpy(f.data(), &h, sizeof h);
    frames.push_back(std::move(f));
  }
  return frames;
}

// Batches of 64 frames per sendmmsg on an AF_PACKET socket that bypasses
// the qdisc (the frame goes straight to the driver's transmit).
int send_raw(const Args& a) {
  RawTarget t;
  if (!raw_target(a, t)) return 2;
  // Protocol 0: the socket sends and receives nothing.
  const adam::UniqueFd fd(::socket(AF_PACKET, SOCK_RAW, 0));
  const int bypass = 1;
  if (!fd || ::setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof bypass) != 0) {
    std::fprintf(stderr, "udp_flood: AF_PACKET socket: %s\n", std::strerror(errno));
    return 1;
  }
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = t.ifindex;
  to.sll_halen = 6;
  std::copy(t.dst_mac.begin(), t.dst_mac.end(), to.sll_addr);
  const auto frames = raw_frames(a, t, a.flows);
  constexpr int kBatch = 64;
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  size_t flow = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (elapsed(t0) < a.seconds) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {const_cast<uint8_t*>(frames[flow].data()), frames[flow].size()};
      flow = (flow + 1) % frames.size();
    }
    const int n = ::sendmmsg(fd.get(), msgs.data(), kBatch, 0);
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  report("send-raw", sent, elapsed(t0));
  return 0;
}

// bench/xdp_flood.bpf.c run by the kernel's XDP traffic generator
// (BPF_PROG_TEST_RUN with live frames) on flow 0's frame, ingress --dev:
// each call runs it on kRunFrames frames, handed to the driver in batches
// of 64. Each call also sleeps a while (in its set-up or tear-down, the
// page pool's): with 2^16 frames per call the sender was on a CPU about
// half the time with the other CPU idle, with 2^20 (~0.3 s at 3 Mpps, also
// how far a run may overshoot --seconds) over 90 %.
// Counts the frames the program sent; the driver may still drop some (a
// veth whose peer's ring is full), which only a receiver sees.
int send_xdp(const Args& a) {
  RawTarget t;
  if (!raw_target(a, t)) return 2;
  adam::SkeletonPtr<xdp_flood_bpf, xdp_flood_bpf__destroy> skel(xdp_flood_bpf__open());
  if (!skel) return 1;
  auto frame = raw_frames(a, t, 1).front();
  skel->rodata->flows = static_cast<uint32_t>(a.flows);
  if (xdp_flood_bpf__load(skel.get()) != 0) {
    std::fprintf(stderr, "udp_flood: cannot load xdp_flood.bpf.o: %s\n", std::strerror(errno));
    return 1;
  }
  std::memcpy(skel->bss->headers, frame.data(), sizeof skel->bss->headers);
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());
  ctx.ingress_ifindex = static_cast<uint32_t>(t.ifindex);
  constexpr int kRunFrames = 1 << 20;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx, .ctx_size_in = sizeof ctx,
              .repeat = kRunFrames, .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
  const int prog = bpf_program__fd(skel->progs.xdp_flood);
  const auto t0 = std::chrono::steady_clock::now();
  while (elapsed(t0) < a.seconds) {
    if (bpf_prog_test_run_opts(prog, &opts) != 0) {
      std::fprintf(stderr, "udp_flood: live XDP test run on '%s': %s\n", a.dev.c_str(), std::strerror(errno));
      return 1;
    }
  }
  report("send-xdp", skel->bss->sent, elapsed(t0));
  return 0;
}

// bench/xdp_flood.bpf.c's counter at --dev's XDP hook, --xdp-mode native
// (on a veth: redirected frames counted as they come, skbs through the
// veth's NAPI ring) or generic (every packet as an skb in the receive path):
// counts and drops the IPv4 UDP packets to --port for --seconds from the
// first one, like recv, then detaches.
int count_xdp(const Args& a) {
  const int ifindex = static_cast<int>(::if_nametoindex(a.dev.c_str()));
  if (ifindex == 0) {
    std::fprintf(stderr, "udp_flood: no interface named '%s'\n", a.dev.c_str());
    return 2;
  }
  if (a.xdp_mode != "native" && a.xdp_mode != "generic") {
    std::fprintf(stderr, "udp_flood: --xdp-mode is native or generic\n");
    return 2;
  }
  const uint32_t flags = a.xdp_mode == "native" ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
  adam::SkeletonPtr<xdp_flood_bpf, xdp_flood_bpf__destroy> skel(xdp_flood_bpf__open());
  if (!skel) return 1;
  skel->rodata->count_port = static_cast<uint16_t>(a.port);
  if (xdp_flood_bpf__load(skel.get()) != 0 ||
      bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.xdp_count), flags, nullptr) != 0) {
    std::fprintf(stderr, "udp_flood: cannot attach the counter to '%s': %s\n", a.dev.c_str(),
                 std::strerror(errno));
    return 1;
  }
  const int map = bpf_map__fd(skel->maps.counted);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(libbpf_num_possible_cpus()));
  const auto counted = [&] {
    const uint32_t key = 0;
    bpf_map_lookup_elem(map, &key, per_cpu.data());
    uint64_t sum = 0;
    for (uint64_t n : per_cpu) sum += n;
    return sum;
  };
  uint64_t first = 0, last = 0;
  std::chrono::steady_clock::time_point t0;
  bool started = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.seconds + 10);
  while (std::chrono::steady_clock::now() < give_up) {
    ::usleep(10000);
    last = counted();
    if (!started && last > 0) {
      started = true;
      first = last;
      t0 = std::chrono::steady_clock::now();
    }
    if (started && elapsed(t0) >= a.seconds) break;
  }
  const double s = started ? elapsed(t0) : a.seconds;
  bpf_xdp_detach(ifindex, flags, nullptr);
  report("count-xdp", last - first, s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.mode == "send") return send_flood(a);
  if (a.mode == "recv") return receive(a);
  if (a.mode == "send-raw") return send_raw(a);
  if (a.mode == "send-xdp") return send_xdp(a);
  if (a.mode == "count-xdp") return count_xdp(a);
  std::fprintf(stderr, "udp_flood: mode must be send, recv, send-raw, send-xdp or count-xdp\n");
  return 2;
}
