// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Perf events, as older tools and Cilium emit them: for every IPv4 packet,
 * a small header (protocol, frame length) followed by the first bytes of
 * the packet, into the perf event array slot of the CPU it runs on.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SAMPLE_BYTES 34		/* Ethernet and IPv4 headers */

struct sample {
	__u16 len;		/* frame length */
	__u8 protocol;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("xdp")
int perf_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct sample s;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	s.len = end - data;
	s.protocol = ip->protocol;
	s.pad = 0;
	bpf_perf_event_output(ctx, &events,
			      BPF_F_CURRENT_CPU | ((__u64)SAMPLE_BYTES << 32),
			      &s, sizeof(s));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
