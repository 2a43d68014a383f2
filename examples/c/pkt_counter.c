// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Per-CPU packet and byte counters, indexed by the frame's EtherType class:
 * 0 = IPv4, 1 = IPv6, 2 = anything else. Per-CPU slots need no atomics.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

SEC("xdp")
int pkt_counter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 class = 2;

	if ((void *)(eth + 1) <= end) {
		if (eth->h_proto == bpf_htons(ETH_P_IP))
			class = 0;
		else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
			class = 1;
	}
	struct counter *c = bpf_map_lookup_elem(&counters, &class);
	if (c) {
		c->packets++;
		c->bytes += end - data;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
