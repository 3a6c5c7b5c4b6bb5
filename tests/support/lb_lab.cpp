#include "support/lb_lab.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "support/netns.h"

namespace adam::test {
namespace {

std::atomic<int> g_lab_counter{0};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Writes a sysctl of the namespace the calling thread is in (/proc/sys/net
// follows the opener's network namespace).
void write_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/" + key;
  for (auto& c : path)
    if (c == '.') c = '/';
  std::ofstream out(path);
  out << value;
  if (!out.flush()) throw std::runtime_error("LbLab: cannot set " + key);
}

constexpr int kMaxConnections = 256;

// The backend's server, in the forked child: only system calls from here on
// (the parent may have threads). Greets every connection, echoes its data.
[[noreturn]] void serve(int listener, const char* greeting, size_t greeting_len) {
  pollfd fds[kMaxConnections + 1];
  int n = 1;
  fds[0] = {listener, POLLIN, 0};
  char buf[4096];
  for (;;) {
    if (::poll(fds, n, -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        if (n <= kMaxConnections && ::write(c, greeting, greeting_len) == static_cast<ssize_t>(greeting_len))
          fds[n++] = {c, POLLIN, 0};
        else
          ::close(c);
      }
    }
    for (int i = 1; i < n;) {
      if (fds[i].revents == 0) {
        ++i;
        continue;
      }
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0 && ::write(fds[i].fd, buf, static_cast<size_t>(r)) == r) {
        fds[i++].revents = 0;
        continue;
      }
      ::close(fds[i].fd);
      fds[i] = fds[--n];  // the moved one's revents are from this round: handled next
    }
  }
}

}  // namespace

LbLab::LbLab() {
  const std::string prefix =
      "adamt-" + std::to_string(::getpid()) + "-lab" + std::to_string(g_lab_counter++) + "-";
  switch_ns_ = prefix + "sw";
  const auto host = [&](const std::string& name, int last) {
    char mac[18];
    std::snprintf(mac, sizeof mac, "02:00:00:00:00:%02x", last);
    return Host{name, prefix + name, "198.51.100." + std::to_string(last),
                "2001:db8:100::" + std::to_string(last), mac};
  };
  hosts_ = {host("client", 1), host("balancer", 2), host("b1", 11), host("b2", 12), host("b3", 13)};
  servers_.assign(backend_count(), -1);
  try {
    build();
    for (size_t i = 0; i < backend_count(); ++i) start_server(i);
  } catch (...) {
    remove();
    throw;
  }
}

LbLab::~LbLab() { remove(); }

void LbLab::build() {
  const auto step = [](const std::string& command) {
    if (run(command) != 0) throw std::runtime_error("LbLab: '" + command + "' failed");
  };
  step("ip netns add " + switch_ns_);
  step("ip -n " + switch_ns_ + " link add br0 type bridge mcast_snooping 0");
  step("ip -n " + switch_ns_ + " link set br0 up");
  for (const Host& h : hosts_) {
    const std::string port = "p-" + h.name;
    step("ip netns add " + h.ns);
    {
      // Before veth0 arrives, so it comes up without duplicate address
      // detection on its link-local address either.
      ScopedNetns in(h.ns);
      write_sysctl("net.ipv6.conf.default.accept_dad", "0");
      write_sysctl("net.ipv6.conf.all.accept_dad", "0");
    }
    step("ip -n " + switch_ns_ + " link add " + port + " type veth peer name veth0 netns " + h.ns);
    step("ip -n " + switch_ns_ + " link set " + port + " master br0 up");
    step("ip -n " + h.ns + " link set veth0 address " + h.mac);
    step("ip -n " + h.ns + " addr add " + h.ipv4 + "/24 dev veth0");
    step("ip -n " + h.ns + " addr add " + h.ipv6 + "/64 dev veth0 nodad");
    step("ip -n " + h.ns + " link set lo up");
    step("ip -n " + h.ns + " link set veth0 up");
  }
  step("ip -n " + client().ns + " route add " + kVip4 + "/32 via " + balancer().ipv4);
  step("ip -n " + client().ns + " -6 route add " + kVip6 + "/128 via " + balancer().ipv6);
  for (size_t i = 0; i < backend_count(); ++i) {
    const Host& b = backend(i);
    step("ip -n " + b.ns + " addr add " + kVip4 + "/32 dev lo");
    step("ip -n " + b.ns + " addr add " + kVip6 + "/128 dev lo nodad");
    ScopedNetns in(b.ns);
    // The VIP on lo must not be announced on the segment (only the
    // balancer's MAC leads to it), and packets to it arrive on veth0.
    for (const std::string dev : {"all", "veth0"}) {
      write_sysctl("net.ipv4.conf." + dev + ".arp_ignore", "1");
      write_sysctl("net.ipv4.conf." + dev + ".arp_announce", "2");
      write_sysctl("net.ipv4.conf." + dev + ".rp_filter", "0");
    }
  }
  // Everyone reaches everyone on the segment (and the neighbour entries are
  // there before a test measures anything).
  std::string pings;
  for (const Host& h : hosts_)
    if (&h != &client()) pings += " " + h.ipv4 + " " + h.ipv6;
  step("ip netns exec " + client().ns + " sh -c " +
       quote("for a in" + pings +
             "; do ping -q -c 1 -W 3 $a >/dev/null || { echo unreachable: $a; exit 1; }; done"));
}

void LbLab::remove() {
  for (size_t i = 0; i < servers_.size(); ++i) kill_server(i);
  for (const Host& h : hosts_) {
    run("ip netns pids " + h.ns + " 2>/dev/null | xargs -r kill -9 2>/dev/null");
    run("ip netns delete " + h.ns + " 2>/dev/null");
  }
  if (!switch_ns_.empty()) run("ip netns delete " + switch_ns_ + " 2>/dev/null");
}

void LbLab::start_server(size_t i) {
  if (servers_[i] > 0) return;
  int listener;
  {
    ScopedNetns in(backend(i).ns);
    listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  const int zero = 0, one = 1;
  ::setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(kPort);
  addr.sin6_addr = in6addr_any;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1024) != 0) {
    const std::string why = std::strerror(errno);
    if (listener >= 0) ::close(listener);
    throw std::runtime_error("LbLab: cannot listen on port 80 in " + backend(i).ns + ": " + why);
  }
  const std::string greeting = backend(i).name + "\n";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
    serve(listener, greeting.data(), greeting.size());
  }
  ::close(listener);
  if (pid < 0) throw std::runtime_error("LbLab: fork failed");
  servers_[i] = pid;
}

void LbLab::kill_server(size_t i) {
  if (servers_[i] <= 0) return;
  ::kill(servers_[i], SIGKILL);
  ::waitpid(servers_[i], nullptr, 0);
  servers_[i] = -1;
}

int LbLab::exec(const std::string& ns, const std::string& command) const {
  return run("ip netns exec " + ns + " sh -c " + quote(command));
}

LabConnection::LabConnection(const LbLab& lab, const std::string& address, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  const bool v6 = address.find(':') != std::string::npos;
  {
    ScopedNetns in(lab.client().ns);
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(LbLab::kPort);
    ::inet_pton(AF_INET6, address.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(LbLab::kPort);
    ::inet_pton(AF_INET, address.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    error_ = std::string("connect: ") + std::strerror(errno);
    return;
  }
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout_.count())) != 1) {
    error_ = "connect: timed out";
    return;
  }
  int so_error = 0;
  socklen_t so_len = sizeof so_error;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
  if (so_error != 0) {
    error_ = std::string("connect: ") + std::strerror(so_error);
    return;
  }
  backend_ = read_line();
  if (backend_.empty() && error_.empty()) error_ = "no greeting";
}

LabConnection::~LabConnection() {
  if (fd_ >= 0) ::close(fd_);
}

std::string LabConnection::read_line() {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      error_ = "read: timed out";
      return {};
    }
    char c;
    const ssize_t r = ::read(fd_, &c, 1);
    if (r == 1 && c == '\n') return line;
    if (r == 1) {
      line += c;
      continue;
    }
    if (r < 0 && errno == EAGAIN) continue;
    error_ = r == 0 ? "read: closed by the peer" : std::string("read: ") + std::strerror(errno);
    return {};
  }
}

std::string LabConnection::exchange(const std::string& line) {
  if (fd_ < 0 || !ok()) return {};
  const std::string out = line + "\n";
  if (::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    error_ = std::string("send: ") + std::strerror(errno);
    return {};
  }
  return read_line();
}

std::string ask(const LbLab& lab, const std::string& address) {
  return LabConnection(lab, address).backend();
}

}  // namespace adam::test
