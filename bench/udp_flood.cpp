// UDP flood sender and counting receiver for bench/fw_vs_iptables.sh and
// bench/lb_vs_nft.sh.
//   udp_flood send --dst 198.51.100.2 --port 9999 --seconds 5 [--size 64] [--flows 1]
//   udp_flood recv --port 9999 --seconds 5
// --flows N sends from N sockets (N source ports, so N 5-tuples) in turn: a
// load balancer spreads flows, not packets.
// Each prints one JSON line: {"mode":…,"packets":…,"seconds":…,"pps":…}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Args {
  std::string mode, dst = "198.51.100.2";
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
        "usage: udp_flood send|recv [--dst IP] [--port N] [--seconds S] [--size BYTES] [--flows N]\n");
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
  const double s = elapsed(t0);
  std::printf("{\"mode\":\"send\",\"packets\":%llu,\"seconds\":%.3f,\"pps\":%.0f}\n",
              static_cast<unsigned long long>(sent), s, static_cast<double>(sent) / s);
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
  const double s = started ? elapsed(t0) : a.seconds;
  std::printf("{\"mode\":\"recv\",\"packets\":%llu,\"seconds\":%.3f,\"pps\":%.0f}\n",
              static_cast<unsigned long long>(received), s, static_cast<double>(received) / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.mode == "send") return send_flood(a);
  if (a.mode == "recv") return receive(a);
  std::fprintf(stderr, "udp_flood: mode must be send or recv\n");
  return 2;
}
