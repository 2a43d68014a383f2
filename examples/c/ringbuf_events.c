// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * An event producer: for every IPv4 packet, emit its addresses, protocol
 * and length into a ring buffer for userspace to consume.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 saddr;		/* network order */
	__u32 daddr;		/* network order */
	__u16 len;		/* frame length */
	__u8 protocol;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int ringbuf_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return XDP_PASS;
	ev->saddr = ip->saddr;
	ev->daddr = ip->daddr;
	ev->len = end - data;
	ev->protocol = ip->protocol;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
