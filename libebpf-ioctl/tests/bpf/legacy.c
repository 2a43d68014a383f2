// SPDX-License-Identifier: GPL-2.0
/* Test object in the style of older and iproute2-built objects: a map in
 * iproute2's `struct bpf_elf_map` format, pinned; a tc action; strings in
 * `.rodata.str1.1` and a counter in `.data.custom`; and a classifier whose
 * entry is a `NOTYPE` symbol with no size, as old compilers emitted. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bpf_elf_map.h"

struct bpf_elf_map SEC("maps") marks = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.pinning = PIN_GLOBAL_NS,
};

__u32 runs SEC(".data.custom") = 40;

SEC("action")
int count_marks(struct __sk_buff *skb)
{
	__u32 key = skb->mark & 3;
	__u64 *n = bpf_map_lookup_elem(&marks, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	runs++;
	bpf_trace_printk("mark %u\n", sizeof("mark %u\n"), skb->mark);
	return runs;
}

/* Not loaded unless asked for by name (libbpf's `?`). */
SEC("?xdp")
int on_request(struct xdp_md *ctx)
{
	return XDP_TX;
}

/* Old compilers: a global label, no type, no size. */
asm(".pushsection \"classifier/legacy\", \"ax\", @progbits\n"
    ".globl legacy_entry\n"
    "legacy_entry:\n"
    "	r0 = 2\n"
    "	exit\n"
    ".popsection\n");

char LICENSE[] SEC("license") = "GPL";
