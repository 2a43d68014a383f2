// SPDX-License-Identifier: GPL-2.0
/* Test object: a tc program in a section of its own name, as Cilium's and
 * iproute2-built objects have them (tc loads any section as a classifier,
 * bpftool with `type`). Returns TC_ACT_SHOT (2) for frames over 10 bytes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("from-container")
int handle(struct __sk_buff *skb)
{
	return skb->len > 10 ? 2 : 0;
}

char LICENSE[] SEC("license") = "GPL";
