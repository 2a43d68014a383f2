// SPDX-License-Identifier: GPL-2.0
/* Test object: a map of a type holding the Linux kernel's objects (a
 * socket map) beside an ordinary one. The program that uses only the
 * ordinary map loads without the socket map; the one that uses it is
 * refused, naming the map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int count(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &key);

	if (!n)
		return -1;
	return ++*n;
}

SEC("tc")
int lookup_socket(struct __sk_buff *skb)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&sockets, &key) != 0;
}

char _license[] SEC("license") = "GPL";
