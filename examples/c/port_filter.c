// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The classic port filter: drop TCP to ports 80 and 8080 (IPv4 and IPv6),
 * pass everything else, and count the drops per destination port.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);	/* destination port, host order */
	__type(value, __u64);	/* packets dropped */
} drops SEC(".maps");

static __always_inline int blocked(__u16 port)
{
	return port == 80 || port == 8080;
}

static __always_inline int verdict(struct tcphdr *tcp, void *end)
{
	if ((void *)(tcp + 1) > end)
		return XDP_PASS;
	__u16 port = bpf_ntohs(tcp->dest);
	if (!blocked(port))
		return XDP_PASS;
	__u64 one = 1, *count = bpf_map_lookup_elem(&drops, &port);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&drops, &port, &one, BPF_NOEXIST);
	return XDP_DROP;
}

SEC("xdp")
int port_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return XDP_PASS;
		return verdict((void *)ip + ip->ihl * 4, end);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		return verdict((void *)(ip6 + 1), end);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
