#pragma once
// `adamd --demo`: a little lab so the plugins have real traffic to work on.
// A network namespace "adam-demo" joined to the host by a veth pair,
// host side "adam-demo0" (198.51.100.1/24, 2001:db8:100::1/64), namespace side
// "eth0" (198.51.100.2/24, 2001:db8:100::2/64), with ping traffic both ways
// over IPv4 and IPv6 once a second. Only documentation ranges are used.
#include <sys/types.h>
#include <string>
#include <vector>

namespace adam {

class DemoLab {
 public:
  static constexpr const char* kNetns = "adam-demo";
  static constexpr const char* kHostIface = "adam-demo0";

  DemoLab();   // builds it (removing a leftover lab first); throws std::runtime_error
  ~DemoLab();  // stops the traffic and removes the namespace and veth pair
  DemoLab(const DemoLab&) = delete;
  DemoLab& operator=(const DemoLab&) = delete;

 private:
  void remove();
  std::vector<pid_t> traffic_;
};

}  // namespace adam
