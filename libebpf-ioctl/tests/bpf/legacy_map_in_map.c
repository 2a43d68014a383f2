// SPDX-License-Identifier: GPL-2.0
/* Test object: a map of maps in iproute2's `struct bpf_elf_map` format.
 * The outer map names its inner map's id (`inner_id`); the map with that
 * id goes into slot `inner_idx` of it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bpf_elf_map.h"

#define INNER_ID 42

struct bpf_elf_map SEC("maps") map_inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 1,
	.id = INNER_ID,
	.inner_idx = 2,
};

struct bpf_elf_map SEC("maps") map_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 4,
	.inner_id = INNER_ID,
};

/* The value in slot 2's inner map; 1000 when slot 2 is empty. */
SEC("classifier")
int read_slot(struct __sk_buff *skb)
{
	__u32 slot = 2, zero = 0, *v;
	void *inner = bpf_map_lookup_elem(&map_outer, &slot);

	if (!inner)
		return 1000;
	v = bpf_map_lookup_elem(inner, &zero);
	return v ? *v : 0;
}

char LICENSE[] SEC("license") = "GPL";
