#pragma once
// The load balancer's test network (docs/lb.md "Tests"): one segment, a
// bridge in a switch namespace, and five hosts on it, each a namespace with
// one veth ("veth0") into the bridge:
//
//   client    198.51.100.1   2001:db8:100::1    routes the VIPs via the balancer
//   balancer  198.51.100.2   2001:db8:100::2    where adamd runs the lb plugin
//   b1..b3    198.51.100.11-13  2001:db8:100::11-13
//             each holds the VIPs 203.0.113.10 and 2001:db8:203::10 on lo
//             (arp_ignore 1, arp_announce 2, rp_filter off: direct server
//             return) and runs a TCP server on port 80 that answers every
//             connection with its name ("b1\n") and then echoes what it gets.
//
// Nothing is routed anywhere but between these namespaces. The namespaces
// are "adamt-<pid>-lab<n>-<host>"; the destructor kills the servers and
// deletes every namespace (and with them the veths and the bridge), also
// when the test failed.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace adam::test {

class LbLab {
 public:
  static constexpr const char* kVip4 = "203.0.113.10";
  static constexpr const char* kVip6 = "2001:db8:203::10";
  static constexpr int kPort = 80;
  static constexpr const char* kInterface = "veth0";  // every host's link into the switch

  struct Host {
    std::string name;  // "client", "balancer", "b1", ...
    std::string ns;
    std::string ipv4, ipv6;
    std::string mac;  // veth0's, fixed: 02:00:00:00:00:<last byte of ipv4 in hex>
  };

  // Builds the network and starts the three backends' servers; throws
  // (having removed what it made) when a step fails or the hosts cannot
  // reach each other.
  LbLab();
  ~LbLab();
  LbLab(const LbLab&) = delete;
  LbLab& operator=(const LbLab&) = delete;

  const Host& client() const { return hosts_[0]; }
  const Host& balancer() const { return hosts_[1]; }
  const Host& backend(size_t i) const { return hosts_[2 + i]; }  // i: 0..2
  size_t backend_count() const { return hosts_.size() - 2; }

  // Kills backend i's server (its listener and its open connections go
  // with it: connections to port 80 are refused), and starts it again.
  void kill_server(size_t i);
  void start_server(size_t i);
  bool server_running(size_t i) const { return servers_[i] > 0; }

  // `ip netns exec <ns> sh -c <command>`, exit status.
  int exec(const std::string& ns, const std::string& command) const;

 private:
  void build();
  void remove();

  std::vector<Host> hosts_;
  std::string switch_ns_;
  std::vector<pid_t> servers_;
};

// A TCP connection from the lab's client to port 80 of an address (a VIP,
// or a backend's own), opened by the constructor; `ok()` once the server
// has said its name.
class LabConnection {
 public:
  LabConnection(const LbLab& lab, const std::string& address,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~LabConnection();
  LabConnection(const LabConnection&) = delete;
  LabConnection& operator=(const LabConnection&) = delete;

  bool ok() const { return !backend_.empty(); }
  const std::string& backend() const { return backend_; }  // the answering backend's name
  const std::string& error() const { return error_; }      // why not ok(), or why exchange() failed
  // Sends a line and returns what came back (the server echoes it); empty
  // when the connection failed or nothing came back within the timeout.
  std::string exchange(const std::string& line);

 private:
  std::string read_line();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string backend_, error_;
};

// One connection's answer: the server's name, or "" when it failed.
std::string ask(const LbLab& lab, const std::string& address);

}  // namespace adam::test
