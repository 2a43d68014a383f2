// SPDX-License-Identifier: GPL-2.0
/* Test object: an XDP program next to programs of types the runtime does
 * not provide (a kprobe, a cgroup_skb program). Loading the XDP program
 * alone works; loading the whole object says what is not provided. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int pass_all(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("kprobe/do_sys_open")
int count_opens(void *ctx)
{
	return 0;
}

SEC("cgroup_skb/ingress")
int allow(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
