#pragma once
// Datagrams between a test's namespaces: sent from one, received (or not:
// the firewall dropped them) on a socket of the other. IPv4 only.
#include <chrono>
#include <cstdint>
#include <string>

#include "core/bpf_handle.h"

namespace adam::test {

// Sends `count` datagrams from namespace `ns` to `dst`:`port`, a short pause
// after every 64 (a flood, not a burst that the veth's backlog drops).
void send_udp(const std::string& ns, const std::string& dst, uint16_t port, int count);

// A UDP socket bound to `addr`:`port` in namespace `ns`.
class UdpReceiver {
 public:
  UdpReceiver(const std::string& ns, const std::string& addr, uint16_t port);
  // How many datagrams arrive until none came for `quiet`.
  int drain(std::chrono::milliseconds quiet);

 private:
  UniqueFd fd_;
};

}  // namespace adam::test
