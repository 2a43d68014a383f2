// SPDX-License-Identifier: GPL-2.0
/* Test object: the string helpers, per-CPU lookups of a given CPU,
 * bpf_trace_vprintk, ECN marking and the tc helpers whose answer a test
 * run's packet fixes (route realm, net_cls class, IPsec state). Each
 * program returns what the host kernel returns; the frame comes back as
 * the host leaves it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} plain SEC(".maps");

const char hello[] = "hello";
/* strtol/strtoul results: value and return, in order. */
long results[16];

static __always_inline int strtol_at(int i, const char *s, int len, __u64 flags)
{
	long v = 0x5a5a;
	long r = bpf_strtol(s, len, flags, &v);

	results[2 * i] = v;
	results[2 * i + 1] = r;
	return 0;
}

SEC("tc")
int strings(struct __sk_buff *skb)
{
	char a[8] = "  -42x";
	char b[8] = "0x1f";
	char c[24] = "9223372036854775808";
	char d[8] = "hellp";
	char e[8] = "hello";
	unsigned long u = 7;
	int r = 0;

	strtol_at(0, a, sizeof(a), 0);
	strtol_at(1, b, sizeof(b), 0);
	strtol_at(2, b, sizeof(b), 10);
	strtol_at(3, c, sizeof(c), 0);
	strtol_at(4, a, sizeof(a), 7);
	results[10] = bpf_strtoul(a, sizeof(a), 0, &u);
	results[11] = u;
	results[12] = bpf_strtoul(b, sizeof(b), 16, &u);
	results[13] = u;
	r |= (bpf_strncmp(d, sizeof(d), hello) > 0) << 0;
	r |= (bpf_strncmp(e, sizeof(e), hello) == 0) << 1;
	r |= (bpf_strncmp(d, 4, hello) == 0) << 2;
	r |= (bpf_strncmp("hell", 5, hello) < 0) << 3;
	return r;
}

SEC("tc")
int percpu(struct __sk_buff *skb)
{
	__u32 key = 0, cpu = bpf_get_smp_processor_id();
	__u64 *mine, *there, *far;

	mine = bpf_map_lookup_elem(&counts, &key);
	there = bpf_map_lookup_percpu_elem(&counts, &key, cpu);
	far = bpf_map_lookup_percpu_elem(&counts, &key, 1 << 20);
	if (!mine || !there)
		return 1;
	*mine = 41;
	*there += 1;
	return (*mine == 42) | (far == 0) << 1;
}

SEC("tc")
int vprintk(struct __sk_buff *skb)
{
	static const char fmt[] = "vprintk %d %u %llx\n";
	static const char bad[4] = "abcd";
	__u64 args[3] = { 42, 7, 0xabc };
	long n, odd, unterminated;

	n = bpf_trace_vprintk(fmt, sizeof(fmt), args, sizeof(args));
	odd = bpf_trace_vprintk(fmt, sizeof(fmt), args, 12);
	unterminated = bpf_trace_vprintk(bad, sizeof(bad), 0, 0);
	return n | (odd == -22) << 8 | (unterminated == -22) << 9;
}

SEC("tc")
int skb_state(struct __sk_buff *skb)
{
	struct bpf_xfrm_state x;
	__u8 *bytes = (__u8 *)&x;
	long err;
	int i, r = 0;

	__builtin_memset(&x, 0x77, sizeof(x));
	err = bpf_skb_get_xfrm_state(skb, 0, &x, sizeof(x), 0);
	for (i = 0; i < sizeof(x); i++)
		if (bytes[i])
			r |= 1;
	r |= (err == -22) << 1;
	r |= (bpf_get_route_realm(skb) == 0) << 2;
	r |= (bpf_skb_cgroup_classid(skb) == 0) << 3;
	return r;
}

SEC("tc")
int ecn(struct __sk_buff *skb)
{
	return bpf_skb_ecn_set_ce(skb);
}

char _license[] SEC("license") = "GPL";
