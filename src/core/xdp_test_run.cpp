#include "core/xdp_test_run.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <stdexcept>

#include "core/bpf_handle.h"

namespace adam {

namespace {

// The options both program types run with: the frame in, the room for the
// frame out (none: the kernel keeps it), and the context.
bpf_test_run_opts run_opts(std::span<const uint8_t> data, std::span<uint8_t> data_out, void* ctx,
                           size_t ctx_size) {
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = data.data();
  opts.data_size_in = static_cast<__u32>(data.size());
  if (!data_out.empty()) {
    opts.data_out = data_out.data();
    opts.data_size_out = static_cast<__u32>(data_out.size());
  }
  opts.ctx_in = ctx;
  opts.ctx_size_in = static_cast<__u32>(ctx_size);
  return opts;
}

}  // namespace

XdpRunResult xdp_test_run(int prog_fd, std::span<const uint8_t> data, uint32_t ingress_ifindex,
                          uint32_t repeat, uint32_t meta_len, std::span<uint8_t> data_out) {
  xdp_md ctx{};
  ctx.data = meta_len;  // the first ctx.data bytes of data_in are the metadata
  ctx.data_end = static_cast<__u32>(data.size());
  ctx.ingress_ifindex = ingress_ifindex;
  bpf_test_run_opts opts = run_opts(data, data_out, &ctx, sizeof(ctx));
  opts.repeat = repeat;
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err)
    throw std::runtime_error("BPF_PROG_TEST_RUN: " + libbpf_error(err));
  return XdpRunResult{opts.retval, opts.duration, opts.data_size_out};
}

std::optional<TcRunResult> tc_test_run(int prog_fd, std::span<const uint8_t> data, uint32_t ifindex,
                                       std::span<uint8_t> data_out) {
  __sk_buff ctx{};
  ctx.ifindex = ifindex;
  bpf_test_run_opts opts = run_opts(data, data_out, &ctx, sizeof(ctx));
  const int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err == -EINVAL) return std::nullopt;
  if (err) throw std::runtime_error("BPF_PROG_TEST_RUN of a tc program: " + libbpf_error(err));
  return TcRunResult{static_cast<int>(opts.retval), opts.data_size_out};
}

}  // namespace adam
