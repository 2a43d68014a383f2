// SPDX-License-Identifier: GPL-2.0
/* Test object: a program that calls a Linux kernel function (kfunc) next
 * to one that does not; and a .text function no program calls, which a
 * program must not carry (libbpf appends only the functions it reaches). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_rcu_read_lock(void) __ksym;

__attribute__((noinline)) int add_one(int x)
{
	return x + 1;
}

__attribute__((noinline)) int never_called(int x)
{
	return x * 3;
}

SEC("xdp")
int uses_kfunc(struct xdp_md *ctx)
{
	bpf_rcu_read_lock();
	return XDP_PASS;
}

SEC("xdp")
int plain(struct xdp_md *ctx)
{
	return add_one(XDP_DROP);
}

char LICENSE[] SEC("license") = "GPL";
