// SPDX-License-Identifier: GPL-2.0
/* Test object: SYN cookies from raw headers, as XDP SYN proxies make them
 * (bpf_tcp_raw_gen_syncookie_ipv4/6, bpf_tcp_raw_check_syncookie_ipv4/6):
 * a cookie for the SYN in the frame, checked in the ACK that answers it,
 * a forged one refused, a header of the wrong length refused. Each
 * program returns what the host kernel returns (the MSS the cookie stands
 * for and the verdicts; the cookies themselves are the runtime's own). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int cookie_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);
	struct iphdr ip_ack;
	struct tcphdr ack;
	__s64 r;
	int out = 0;

	/* A SYN with 4 bytes of options (the MSS). */
	if ((void *)th + 24 > end)
		return 0;
	r = bpf_tcp_raw_gen_syncookie_ipv4(iph, th, 24);
	if (r < 0)
		return 1;
	out = r >> 32;
	__builtin_memcpy(&ip_ack, iph, sizeof(ip_ack));
	__builtin_memcpy(&ack, th, sizeof(ack));
	ack.seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
	ack.ack_seq = bpf_htonl((__u32)r + 1);
	out |= (bpf_tcp_raw_check_syncookie_ipv4(&ip_ack, &ack) == 0) << 16;
	ack.ack_seq = bpf_htonl((__u32)r + 2);
	out |= (bpf_tcp_raw_check_syncookie_ipv4(&ip_ack, &ack) == -13) << 17;
	ack.ack_seq = bpf_htonl((__u32)r + 1);
	ack.source = bpf_htons(1);
	out |= (bpf_tcp_raw_check_syncookie_ipv4(&ip_ack, &ack) == -13) << 18;
	out |= (bpf_tcp_raw_gen_syncookie_ipv4(iph, th, 20) == -22) << 19;
	return out;
}

SEC("xdp")
int cookie_v6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ipv6hdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);
	struct ipv6hdr ip_ack;
	struct tcphdr ack;
	__s64 r;
	int out = 0;

	/* A SYN without options: IPv6's default MSS. */
	if ((void *)th + 20 > end)
		return 0;
	r = bpf_tcp_raw_gen_syncookie_ipv6(iph, th, 20);
	if (r < 0)
		return 1;
	out = r >> 32;
	__builtin_memcpy(&ip_ack, iph, sizeof(ip_ack));
	__builtin_memcpy(&ack, th, sizeof(ack));
	ack.seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
	ack.ack_seq = bpf_htonl((__u32)r + 1);
	out |= (bpf_tcp_raw_check_syncookie_ipv6(&ip_ack, &ack) == 0) << 16;
	ip_ack.saddr.in6_u.u6_addr8[15] ^= 1;
	out |= (bpf_tcp_raw_check_syncookie_ipv6(&ip_ack, &ack) == -13) << 17;
	return out;
}

char _license[] SEC("license") = "GPL";
