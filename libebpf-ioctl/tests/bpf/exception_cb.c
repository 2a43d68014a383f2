// SPDX-License-Identifier: GPL-2.0
/* Test object: BPF exceptions with callbacks of the programs' own
 * (__exception_cb), thrown from nested functions, and the callbacks Linux
 * refuses. Each program loaded returns what the host kernel returns; the
 * others are refused with Linux's words. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_throw(__u64 cookie) __ksym;

#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

__noinline int double_it(__u64 cookie)
{
	return cookie * 2 + 1;
}

static __noinline int deep(struct __sk_buff *skb, int n)
{
	if (skb->len > n)
		bpf_throw(n);
	return n;
}

static __noinline int deeper(struct __sk_buff *skb)
{
	return deep(skb, 7) + 100;
}

/* A frame of 60 bytes is longer than 7: the callback returns 15. */
SEC("tc")
__exception_cb(double_it)
int throws_from_a_subprog(struct __sk_buff *skb)
{
	volatile char stack[64] = {};

	stack[3] = deeper(skb);
	return stack[3];
}

/* Never thrown: the program's own return. */
SEC("tc")
__exception_cb(double_it)
int never_throws(struct __sk_buff *skb)
{
	return 3;
}

__noinline int throws_again(__u64 cookie)
{
	bpf_throw(cookie);
	return 0;
}

SEC("?tc")
__exception_cb(throws_again)
int throwing_callback(struct __sk_buff *skb)
{
	bpf_throw(1);
	return 0;
}

SEC("?tc")
__exception_cb(double_it)
int calls_its_callback(struct __sk_buff *skb)
{
	return double_it(skb->len);
}

__noinline int two_args(int a, int b)
{
	return a + b;
}

SEC("?tc")
__exception_cb(two_args)
int callback_of_two_args(struct __sk_buff *skb)
{
	bpf_throw(1);
	return 0;
}

char _license[] SEC("license") = "GPL";
