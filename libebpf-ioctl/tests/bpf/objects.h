/* SPDX-License-Identifier: GPL-2.0 */
/* The object graph's declarations for the test objects, as libbpf's
 * bpf_experimental.h gives them: the special structs (opaque to programs),
 * the kfuncs and their macros, `__contains`, `__kptr` and hidden global
 * data sections (`private(A)`). */
#ifndef EBPF_TEST_OBJECTS_H
#define EBPF_TEST_OBJECTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define private(name) SEC(".bss." #name) __attribute__((visibility("hidden"), aligned(8)))

struct bpf_list_head {
	__u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_list_node {
	__u64 __opaque[3];
} __attribute__((aligned(8)));
struct bpf_rb_root {
	__u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_rb_node {
	__u64 __opaque[4];
} __attribute__((aligned(8)));
struct bpf_refcount {
	__u32 __opaque[1];
} __attribute__((aligned(4)));

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;
extern int bpf_list_push_front_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				    void *meta, __u64 off) __ksym;
extern int bpf_list_push_back_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				   void *meta, __u64 off) __ksym;
extern struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_pop_back(struct bpf_list_head *head) __ksym;
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       _Bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b),
			       void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root,
					     struct bpf_rb_node *node) __ksym;

#define bpf_obj_new(type) ((type *)bpf_obj_new_impl(__builtin_btf_type_id(*(type *)0, 0), NULL))
#define bpf_obj_drop(p) bpf_obj_drop_impl(p, NULL)
#define bpf_refcount_acquire(p) ((typeof(p))bpf_refcount_acquire_impl(p, NULL))
#define bpf_list_push_front(h, n) bpf_list_push_front_impl(h, n, NULL, 0)
#define bpf_list_push_back(h, n) bpf_list_push_back_impl(h, n, NULL, 0)
#define bpf_rbtree_add(r, n, less) bpf_rbtree_add_impl(r, n, less, NULL, 0)

#endif
