#include "support/udp.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>

#include "support/netns.h"

namespace adam::test {

namespace {

sockaddr_in address(const std::string& addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  EXPECT_EQ(::inet_pton(AF_INET, addr.c_str(), &a.sin_addr), 1) << addr;
  return a;
}

}  // namespace

void send_udp(const std::string& ns, const std::string& dst, uint16_t port, int count) {
  ScopedNetns in_ns(ns);
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd) << strerror(errno);
  const sockaddr_in to = address(dst, port);
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(::sendto(fd.get(), "hi", 2, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to), 2)
        << strerror(errno);
    if (i % 64 == 63) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

UdpReceiver::UdpReceiver(const std::string& ns, const std::string& addr, uint16_t port) {
  ScopedNetns in_ns(ns);
  fd_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const sockaddr_in at = address(addr, port);
  EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&at), sizeof at), 0)
      << addr << ":" << port << ": " << strerror(errno);
}

int UdpReceiver::drain(std::chrono::milliseconds quiet) {
  int n = 0;
  pollfd p{fd_.get(), POLLIN, 0};
  char buf[16];
  while (::poll(&p, 1, static_cast<int>(quiet.count())) == 1)
    while (::recv(fd_.get(), buf, sizeof buf, 0) > 0) ++n;
  return n;
}

}  // namespace adam::test
