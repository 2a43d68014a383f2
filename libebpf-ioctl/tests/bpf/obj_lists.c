// SPDX-License-Identifier: GPL-2.0
/* Test object: objects of the program's own types (bpf_obj_new) kept in
 * lists (bpf_list_head) of a map value and of global data, each guarded by
 * its bpf_spin_lock, lists inside objects, and a tree (bpf_rb_root): push
 * front and back, pop front and back in order, objects left in the lists
 * between runs, ordered adds, dropped. Each program returns what the host
 * kernel returns. */
#include "objects.h"

struct item {
	__u64 value;
	struct bpf_list_node node;
};

struct bucket {
	struct bpf_list_node node;
	struct bpf_spin_lock lock;
	__u32 id;
	struct bpf_list_head items __contains(item, node);
};

struct value {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct bpf_list_head items __contains(item, node);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct value);
} lists SEC(".maps");

private(A) struct bpf_spin_lock glock;
private(A) struct bpf_list_head buckets __contains(bucket, node);

/* Pushes 1, 2 at the back and 3 at the front of element 0's list, pops
 * front (3), back (2), front (1): returns the values as decimal digits,
 * 0 for an empty pop; one item (7) is left in the list on every run. */
SEC("tc")
int fifo(struct __sk_buff *skb)
{
	struct bpf_list_node *n;
	struct value *v;
	__u32 key = 0;
	__u64 out = 0;
	int i;

	v = bpf_map_lookup_elem(&lists, &key);
	if (!v)
		return -1;
	for (i = 1; i <= 4; i++) {
		struct item *it = bpf_obj_new(struct item);

		if (!it)
			return -2;
		it->value = i == 4 ? 7 : i;
		bpf_spin_lock(&v->lock);
		if (i == 3)
			bpf_list_push_front(&v->items, &it->node);
		else
			bpf_list_push_back(&v->items, &it->node);
		bpf_spin_unlock(&v->lock);
	}
	for (i = 0; i < 3; i++) {
		bpf_spin_lock(&v->lock);
		n = i == 1 ? bpf_list_pop_back(&v->items) : bpf_list_pop_front(&v->items);
		bpf_spin_unlock(&v->lock);
		out *= 10;
		if (n) {
			struct item *it = container_of(n, struct item, node);

			out += it->value;
			bpf_obj_drop(it);
		}
	}
	return out;
}

/* Counts (and empties) element 0's list: the items the earlier runs left,
 * plus 100 times the list's count of element 1 (never pushed to). */
SEC("tc")
int drain(struct __sk_buff *skb)
{
	struct bpf_list_node *n;
	struct value *v;
	__u32 key = 0;
	int count = 0, i;

	v = bpf_map_lookup_elem(&lists, &key);
	if (!v)
		return -1;
	for (i = 0; i < 64; i++) {
		bpf_spin_lock(&v->lock);
		n = bpf_list_pop_front(&v->items);
		bpf_spin_unlock(&v->lock);
		if (!n)
			break;
		count++;
		bpf_obj_drop(container_of(n, struct item, node));
	}
	key = 1;
	v = bpf_map_lookup_elem(&lists, &key);
	if (!v)
		return -1;
	bpf_spin_lock(&v->lock);
	n = bpf_list_pop_front(&v->items);
	bpf_spin_unlock(&v->lock);
	if (n) {
		bpf_obj_drop(container_of(n, struct item, node));
		count += 100;
	}
	return count;
}

/* A bucket holding three items, kept in a global list; the next run takes
 * it out and sums its items (0 on the first run, 6 after). */
SEC("tc")
int nested(struct __sk_buff *skb)
{
	struct bpf_list_node *n;
	struct bucket *b;
	__u64 sum = 0;
	int i;

	bpf_spin_lock(&glock);
	n = bpf_list_pop_front(&buckets);
	bpf_spin_unlock(&glock);
	if (n) {
		b = container_of(n, struct bucket, node);
		for (i = 0; i < 4; i++) {
			struct bpf_list_node *in;

			bpf_spin_lock(&b->lock);
			in = bpf_list_pop_back(&b->items);
			bpf_spin_unlock(&b->lock);
			if (!in)
				break;
			sum += container_of(in, struct item, node)->value;
			bpf_obj_drop(container_of(in, struct item, node));
		}
		bpf_obj_drop(b);
	}
	b = bpf_obj_new(struct bucket);
	if (!b)
		return -2;
	for (i = 1; i <= 3; i++) {
		struct item *it = bpf_obj_new(struct item);

		if (!it) {
			bpf_obj_drop(b);
			return -3;
		}
		it->value = i;
		bpf_spin_lock(&b->lock);
		bpf_list_push_back(&b->items, &it->node);
		bpf_spin_unlock(&b->lock);
	}
	bpf_spin_lock(&glock);
	bpf_list_push_back(&buckets, &b->node);
	bpf_spin_unlock(&glock);
	return sum;
}

char _license[] SEC("license") = "GPL";

/* Trees: nodes ordered by key, an equal key after those already there. */
struct keyed {
	long key;
	long tag;
	struct bpf_rb_node node;
};

private(T) struct bpf_spin_lock tlock;
private(T) struct bpf_rb_root tree __contains(keyed, node);

static _Bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct keyed, node)->key < container_of(b, struct keyed, node)->key;
}

/* Adds keys 5, 1, 3, 3 (tagged 1 to 4), then takes the first out four
 * times: the tags in order as decimal digits (2, 3, 4, 1: 2341). */
SEC("tc")
int ordered(struct __sk_buff *skb)
{
	long keys[4] = { 5, 1, 3, 3 };
	struct bpf_rb_node *n;
	__u64 out = 0;
	int i;

	for (i = 0; i < 4; i++) {
		struct keyed *k = bpf_obj_new(struct keyed);

		if (!k)
			return -2;
		k->key = keys[i];
		k->tag = i + 1;
		bpf_spin_lock(&tlock);
		bpf_rbtree_add_impl(&tree, &k->node, less, NULL, 0);
		bpf_spin_unlock(&tlock);
	}
	for (i = 0; i < 4; i++) {
		bpf_spin_lock(&tlock);
		n = bpf_rbtree_first(&tree);
		if (!n) {
			bpf_spin_unlock(&tlock);
			break;
		}
		n = bpf_rbtree_remove(&tree, n);
		bpf_spin_unlock(&tlock);
		if (!n)
			return -3;
		out = out * 10 + container_of(n, struct keyed, node)->tag;
		bpf_obj_drop(container_of(n, struct keyed, node));
	}
	return out;
}
