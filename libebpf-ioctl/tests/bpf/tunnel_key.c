// SPDX-License-Identifier: GPL-2.0
/* Test object: a tc program setting a packet's tunnel metadata and
 * reading it back, as encapsulating programs (Cilium's, the kernel's
 * l4lb test) do. Each program returns what the host kernel returns. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NO_TUNNEL_KEY (1 << 4)

/* Before any set: -EINVAL, key zeroed. Then an IPv4 key set and read back
 * (remote and local come back swapped: the metadata is the outer header,
 * read as the receiving side names it), with its flags. */
SEC("tc")
int tunnel_v4(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {}, back;
	long before, err;

	__builtin_memset(&back, 0xff, sizeof(back));
	before = bpf_skb_get_tunnel_key(skb, &back, sizeof(back), 0);
	if (before != -22 || back.tunnel_id != 0)
		return 1;
	key.tunnel_id = 7;
	key.remote_ipv4 = 0x0a000002;
	key.local_ipv4 = 0x0a000001;
	key.tunnel_tos = 3;
	key.tunnel_ttl = 64;
	err = bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_DONT_FRAGMENT);
	if (err)
		return 2;
	err = bpf_skb_get_tunnel_key(skb, &back, sizeof(back), BPF_F_TUNINFO_FLAGS);
	if (err)
		return 3;
	if (back.tunnel_id != 7 || back.tunnel_tos != 3 || back.tunnel_ttl != 64)
		return 4;
	/* An IPv6 read of an IPv4 key: -EPROTO. */
	if (bpf_skb_get_tunnel_key(skb, &back, sizeof(back), BPF_F_TUNINFO_IPV6) != -71)
		return 5;
	bpf_skb_get_tunnel_key(skb, &back, sizeof(back), BPF_F_TUNINFO_FLAGS);
	return (back.remote_ipv4 & 0xff) << 24 | (back.local_ipv4 & 0xff) << 16 |
	       __builtin_bswap16(back.tunnel_flags);
}

/* IPv6, an older key size (up to tunnel_label), bad flags and sizes, and
 * a label where IPv4 has none. */
SEC("tc")
int tunnel_v6(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {}, back = {};
	__u32 result = 0;

	key.tunnel_id = 9;
	key.remote_ipv6[3] = 0x02;
	key.local_ipv6[3] = 0x01;
	key.tunnel_label = 0xfff12345;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 1 << 7) == -22)
		result |= 1;
	if (bpf_skb_set_tunnel_key(skb, &key, 30, BPF_F_TUNINFO_IPV6) == -22)
		result |= 2;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0) == -22)
		result |= 4;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key),
				   BPF_F_TUNINFO_IPV6 | BPF_F_ZERO_CSUM_TX | NO_TUNNEL_KEY))
		return 100;
	if (bpf_skb_get_tunnel_key(skb, &back, 24, BPF_F_TUNINFO_IPV6))
		return 101;
	result |= back.tunnel_id << 8;
	result |= (back.remote_ipv6[3] & 0xff) << 16;
	if (bpf_skb_get_tunnel_key(skb, &back, sizeof(back),
				   BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS))
		return 102;
	return result | (back.tunnel_label == 0x12345) << 24 |
	       (__builtin_bswap16(back.tunnel_flags) == 0x2000) << 25 |
	       (back.local_ipv6[3] & 0xff) << 26;
}

char LICENSE[] SEC("license") = "GPL";
