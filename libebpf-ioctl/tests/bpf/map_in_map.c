// SPDX-License-Identifier: GPL-2.0
/* Test object: BTF-defined maps of maps (`__array(values, ...)`) with
 * initial contents, as libbpf loads them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [1] = &inner_b },
};

static __u32 first_value(void *inner)
{
	__u32 key = 0, *v;

	v = bpf_map_lookup_elem(inner, &key);
	return v ? *v : 0;
}

static __u32 slot_value(void *outer_map, __u32 slot, __u32 empty)
{
	void *inner = bpf_map_lookup_elem(outer_map, &slot);

	return inner ? first_value(inner) : empty;
}

/* Each slot of `outer` gives its inner map's value, an empty one 100;
 * slot 1 of `outer_hash` gives its inner map's value times 1000. */
SEC("xdp")
int sum_inner(struct xdp_md *ctx)
{
	return slot_value(&outer, 0, 100) + slot_value(&outer, 1, 100) +
	       slot_value(&outer, 2, 100) + 1000 * slot_value(&outer_hash, 1, 0);
}

char LICENSE[] SEC("license") = "GPL";
