#pragma once
// BPF_PROG_TEST_RUN for XDP (and tc) programs: runs a loaded program on a frame
// as if it had arrived on an interface, without sending anything anywhere. Used by
// the firewall's explain, its benchmark and the data-path tests.
#include <cstdint>
#include <optional>
#include <span>

namespace adam {

struct XdpRunResult {
  uint32_t verdict = 0;     // XDP_DROP, XDP_PASS, ...
  uint32_t ns_per_run = 0;  // the kernel's measurement, averaged over `repeat`
  uint32_t size_out = 0;    // bytes written to `data_out`
};

// `data` starts with `meta_len` bytes of XDP metadata (ctx->data_meta), then
// the frame. `data_out` (optional) receives metadata + frame after the run.
// Throws std::runtime_error with libbpf's error text.
XdpRunResult xdp_test_run(int prog_fd, std::span<const uint8_t> data, uint32_t ingress_ifindex,
                          uint32_t repeat = 1, uint32_t meta_len = 0, std::span<uint8_t> data_out = {});

struct TcRunResult {
  int verdict = 0;        // TC_ACT_SHOT, -1 (tcx's "next"), ...
  uint32_t size_out = 0;  // bytes written to `data_out`
};

// The same for a tc program: `data` as an skb arriving on `ifindex`;
// `data_out` (optional) receives the packet after the run. Nothing when the
// kernel builds no skb of the frame (EINVAL: shorter than an Ethernet
// header, or an IPv4/IPv6 header cut short). Throws std::runtime_error with
// libbpf's error text otherwise.
std::optional<TcRunResult> tc_test_run(int prog_fd, std::span<const uint8_t> data, uint32_t ifindex,
                                       std::span<uint8_t> data_out = {});

}  // namespace adam
