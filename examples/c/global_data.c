// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Global data and bpf-to-bpf calls: a read-only configuration (.rodata), a
 * counter with an initial value (.data) and a zero-initialised one (.bss),
 * updated by functions that are real calls, not inlined.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* The EtherType to drop; a loader may rewrite it before loading. */
const volatile __u16 blocked_ethertype = ETH_P_ARP;
/* Packets seen, starting from 1000 to show .data's initial value. */
__u64 seen = 1000;
/* Packets dropped. */
__u64 dropped;

static __noinline int classify(__u16 ethertype)
{
	return ethertype == blocked_ethertype ? XDP_DROP : XDP_PASS;
}

static __noinline int account(int verdict)
{
	seen++;
	if (verdict == XDP_DROP)
		dropped++;
	return verdict;
}

SEC("xdp")
int global_data(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return account(XDP_PASS);
	return account(classify(bpf_ntohs(eth->h_proto)));
}

char LICENSE[] SEC("license") = "GPL";
