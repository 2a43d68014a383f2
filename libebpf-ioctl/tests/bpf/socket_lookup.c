// SPDX-License-Identifier: GPL-2.0
/* Test object: socket lookups as load balancers and SYN proxies make them
 * (Cloudflare's cls_redirect, the kernel's sk_lookup tests): the tuple
 * from the frame, a TCP, a TCP-or-request and a UDP lookup, each socket
 * found read and released. Each program returns what the host kernel
 * returns for a frame no socket matches. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The frame's IPv4 addresses and ports, or -1 for a frame too short or
 * not IPv4. */
static __always_inline int tuple_of(void *data, void *data_end,
				    struct bpf_sock_tuple *t)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__be16 *ports = (void *)(iph + 1);

	if ((void *)(ports + 2) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	t->ipv4.saddr = iph->saddr;
	t->ipv4.daddr = iph->daddr;
	t->ipv4.sport = ports[0];
	t->ipv4.dport = ports[1];
	return 0;
}

/* 1 for a socket found (its state read, then released), else 0. */
static __always_inline int found(struct bpf_sock *sk)
{
	__u32 state;

	if (!sk)
		return 0;
	state = sk->state;
	bpf_sk_release(sk);
	return state != 0xffff;
}

SEC("tc")
int tc_lookups(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	int r = 0;

	if (tuple_of((void *)(long)skb->data, (void *)(long)skb->data_end, &t))
		return 100;
	r |= found(bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0));
	r |= found(bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0)) << 1;
	r |= found(bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0)) << 2;
	/* A tuple of neither size, flags: NULL whatever the sockets. */
	r |= found(bpf_sk_lookup_tcp(skb, &t, 8, BPF_F_CURRENT_NETNS, 0)) << 3;
	r |= found(bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 1)) << 4;
	sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);

		if (tp && tp->snd_cwnd)
			r |= 1 << 5;
		bpf_sk_release(sk);
	}
	return 0x40 | r;
}

SEC("xdp")
int xdp_lookups(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	int r = 0;

	if (tuple_of((void *)(long)ctx->data, (void *)(long)ctx->data_end, &t))
		return XDP_ABORTED;
	r |= found(bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0));
	r |= found(bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0));
	r |= found(bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0));
	return r ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
