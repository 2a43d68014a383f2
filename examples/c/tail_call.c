// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * A tail-call dispatcher: the entry program jumps to a per-protocol
 * handler through a program array initialised in the object itself
 * (libbpf's `.values = { [i] = &prog }`). TCP is dropped, UDP is sent back
 * and anything without a handler (slot 2 is empty) falls through to PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

enum { SLOT_TCP, SLOT_UDP, SLOT_ICMP, SLOTS };

/* Handlers reached by tail calls count here, by slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} handled SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&handled, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("xdp")
int handle_tcp(struct xdp_md *ctx)
{
	count(SLOT_TCP);
	return XDP_DROP;
}

SEC("xdp")
int handle_udp(struct xdp_md *ctx)
{
	count(SLOT_UDP);
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLOTS);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[SLOT_TCP] = (void *)&handle_tcp,
		[SLOT_UDP] = (void *)&handle_udp,
	},
};

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	switch (ip->protocol) {
	case IPPROTO_TCP:
		bpf_tail_call(ctx, &jump_table, SLOT_TCP);
		break;
	case IPPROTO_UDP:
		bpf_tail_call(ctx, &jump_table, SLOT_UDP);
		break;
	case IPPROTO_ICMP:
		bpf_tail_call(ctx, &jump_table, SLOT_ICMP);
		break;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
