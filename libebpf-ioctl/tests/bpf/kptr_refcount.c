// SPDX-License-Identifier: GPL-2.0
/* Test object: objects kept in kptrs (struct T __kptr *, bpf_kptr_xchg) of
 * a map value, of global data and of other objects, and objects with a
 * bpf_refcount in a list and a tree at once (bpf_refcount_acquire). Each
 * program returns what the host kernel returns. */
#include <stdbool.h>
#include "objects.h"

struct leaf {
	__u64 value;
};

struct shared {
	__u64 value;
	struct bpf_list_node l;
	struct bpf_rb_node r;
	struct bpf_refcount ref;
	struct leaf __kptr *leaf;
};

struct slot {
	__u64 stashes;
	struct shared __kptr *obj;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct slot);
} by_key SEC(".maps");

private(A) struct bpf_spin_lock lock;
private(A) struct bpf_list_head head __contains(shared, l);
private(A) struct bpf_rb_root root __contains(shared, r);
private(K) struct leaf __kptr *global_leaf;

__u64 runs;

static bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct shared, r)->value < container_of(b, struct shared, r)->value;
}

/* Stashes a new object (holding a leaf of its own) in slot 0 and returns
 * what the one it replaced held: value * 1000 + its leaf's value, 0 on the
 * first run. Replaced, the old object goes with its leaf. */
SEC("tc")
int stash(struct __sk_buff *skb)
{
	struct shared *obj, *old;
	struct leaf *leaf;
	struct slot *s;
	__u32 key = 0;
	int ret = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return -1;
	runs++;
	obj = bpf_obj_new(struct shared);
	if (!obj)
		return -2;
	leaf = bpf_obj_new(struct leaf);
	if (!leaf) {
		bpf_obj_drop(obj);
		return -3;
	}
	obj->value = runs;
	leaf->value = runs * 7;
	leaf = bpf_kptr_xchg(&obj->leaf, leaf);
	if (leaf)
		bpf_obj_drop(leaf);
	old = bpf_kptr_xchg(&s->obj, obj);
	s->stashes++;
	if (old) {
		ret = old->value * 1000;
		leaf = bpf_kptr_xchg(&old->leaf, NULL);
		if (leaf) {
			ret += leaf->value;
			bpf_obj_drop(leaf);
		}
		bpf_obj_drop(old);
	}
	return ret;
}

/* Reads slot 0's object without taking it out (the kptr read directly:
 * good for the run, as the object's type has a reference count), again
 * and again (-5 if it changed meanwhile), then through a reference of its
 * own: value + 10 * value; -2 when empty. */
SEC("tc")
int peek(struct __sk_buff *skb)
{
	struct shared *p, *q;
	struct slot *s;
	__u32 key = 0;
	int ret, i;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return -1;
	p = s->obj;
	if (!p)
		return -2;
	ret = p->value;
	for (i = 0; i < 8192; i++)
		if (*(volatile __u64 *)&p->value != ret)
			return -5;
	q = bpf_refcount_acquire(p);
	if (!q)
		return -3;
	ret += q->value * 10;
	bpf_obj_drop(q);
	return ret;
}

/* An object kept in a hash map's element (made on the first run): returns
 * the value of the one it replaces (0 on the first run, then 1, 2...). */
SEC("tc")
int hash_stash(struct __sk_buff *skb)
{
	struct slot zero = {}, *s;
	struct shared *obj, *old;
	__u32 key = 7;
	int ret = 0;

	s = bpf_map_lookup_elem(&by_key, &key);
	if (!s) {
		bpf_map_update_elem(&by_key, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&by_key, &key);
		if (!s)
			return -1;
	}
	obj = bpf_obj_new(struct shared);
	if (!obj)
		return -2;
	obj->value = ++s->stashes;
	old = bpf_kptr_xchg(&s->obj, obj);
	if (old) {
		ret = old->value;
		bpf_obj_drop(old);
	}
	return ret;
}

/* A leaf kept in global data between runs: returns the one taken out (0
 * on the first run), puts back one 5 larger. */
SEC("tc")
int global_kptr(struct __sk_buff *skb)
{
	struct leaf *got, *next;
	int ret = 0;

	got = bpf_kptr_xchg(&global_leaf, NULL);
	next = bpf_obj_new(struct leaf);
	if (!next) {
		if (got)
			bpf_obj_drop(got);
		return -1;
	}
	next->value = 5;
	if (got) {
		ret = got->value;
		next->value = got->value + 5;
		bpf_obj_drop(got);
	}
	got = bpf_kptr_xchg(&global_leaf, next);
	if (got) {
		bpf_obj_drop(got);
		return -2;
	}
	return ret;
}

/* One object in the tree and the list at once: read through both, a
 * second push into the list refused (its reference dropped), a removal
 * from the tree through a node it no longer holds refused, then taken
 * out of both. Returns digits: tree value, list value, push result == -22,
 * second removal NULL, the list empty after. */
SEC("tc")
int both(struct __sk_buff *skb)
{
	struct shared *n, *m, *again;
	struct bpf_list_node *l;
	struct bpf_rb_node *r;
	int ret = 0, pushed;

	n = bpf_obj_new(struct shared);
	if (!n)
		return -1;
	n->value = 4;
	m = bpf_refcount_acquire(n);
	bpf_spin_lock(&lock);
	bpf_rbtree_add(&root, &n->r, less);
	again = bpf_refcount_acquire(n);
	bpf_list_push_back(&head, &m->l);
	bpf_spin_unlock(&lock);
	if (!again)
		return -2;
	bpf_spin_lock(&lock);
	pushed = bpf_list_push_back(&head, &again->l);
	r = bpf_rbtree_first(&root);
	if (!r) {
		bpf_spin_unlock(&lock);
		return -3;
	}
	ret = container_of(r, struct shared, r)->value;
	r = bpf_rbtree_remove(&root, r);
	bpf_spin_unlock(&lock);
	if (!r)
		return -4;
	bpf_obj_drop(container_of(r, struct shared, r));

	bpf_spin_lock(&lock);
	l = bpf_list_pop_front(&head);
	bpf_spin_unlock(&lock);
	if (!l)
		return -5;
	n = container_of(l, struct shared, l);
	ret = ret * 10 + n->value;
	ret = ret * 10 + (pushed == -22);
	/* Back into the list, then removed from a tree it is not in. */
	bpf_spin_lock(&lock);
	bpf_list_push_back(&head, &n->l);
	r = bpf_rbtree_remove(&root, &n->r);
	bpf_spin_unlock(&lock);
	ret = ret * 10 + !r;
	if (r)
		bpf_obj_drop(container_of(r, struct shared, r));
	bpf_spin_lock(&lock);
	l = bpf_list_pop_front(&head);
	bpf_spin_unlock(&lock);
	if (l)
		bpf_obj_drop(container_of(l, struct shared, l));
	bpf_spin_lock(&lock);
	l = bpf_list_pop_front(&head);
	bpf_spin_unlock(&lock);
	ret = ret * 10 + !l;
	if (l)
		bpf_obj_drop(container_of(l, struct shared, l));
	return ret;
}

char _license[] SEC("license") = "GPL";
