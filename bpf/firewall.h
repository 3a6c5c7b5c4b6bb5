/* Types and constants shared by the firewall's XDP program (firewall.bpf.c)
 * and its C++ side (src/plugins/firewall/). Fixed-width types only, so both
 * sides agree on every layout. */
#ifndef ADAM_BPF_FIREWALL_H
#define ADAM_BPF_FIREWALL_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Verdicts: index of the fw_totals per-CPU array. */
#define ADAM_FW_VERDICT_PASS 0
#define ADAM_FW_VERDICT_DROP 1
#define ADAM_FW_VERDICTS 2

/* How many interfaces the firewall can be started on at once (fw_ifaces). */
#define ADAM_FW_MAX_IFACES 64

/* Value of fw_totals (one per CPU and verdict). */
struct adam_fw_counter {
	__u64 packets;
	__u64 bytes;
};

/* Value of fw_ifaces (key: __u32 ifindex). Reserved for per-interface
 * settings; 1 for now. */
#define ADAM_FW_IFACE_ON 1

#endif /* ADAM_BPF_FIREWALL_H */
