// SPDX-License-Identifier: GPL-2.0
/* Test object without a license section: libbpf and the kernel load it
 * with an empty license, so only the program that calls a GPL-only helper
 * is refused. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int say(struct xdp_md *ctx)
{
	bpf_trace_printk("hi\n", sizeof("hi\n"));
	return XDP_PASS;
}
