// SPDX-License-Identifier: GPL-2.0
/* Test object: dynamic pointers over the packet (bpf_dynptr_from_skb and
 * _xdp, read, write, slices, adjust, clone), as programs written for
 * Linux 6.x use them. Each program returns what the host kernel returns
 * on the same 60-byte frame whose byte i is i. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_dynptr;
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym __weak;
extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym __weak;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer, __u32 buffer__szk) __ksym __weak;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *ptr, __u32 offset,
				   void *buffer, __u32 buffer__szk) __ksym __weak;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *ptr, __u32 start, __u32 end) __ksym __weak;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *ptr) __ksym __weak;
extern int bpf_dynptr_clone(const struct bpf_dynptr *ptr,
			    struct bpf_dynptr *clone__init) __ksym __weak;

/* Bytes 10..13 read, bytes 12..13 through a slice, and the errors of a
 * read past the end and of flags. */
SEC("tc")
int skb_read(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	__u32 word = 0;
	__u16 *half;
	long past, flags;

	bpf_dynptr_from_skb(skb, 0, &ptr);
	if (bpf_dynptr_read(&word, sizeof(word), &ptr, 10, 0))
		return 1;
	past = bpf_dynptr_read(&word, sizeof(word), &ptr, 58, 0);
	flags = bpf_dynptr_read(&word, sizeof(word), &ptr, 0, 1);
	half = bpf_dynptr_slice(&ptr, 12, NULL, sizeof(*half));
	if (!half)
		return 2;
	/* 0x0d0c0b0a (bytes 10..13, read before the failing reads left it
	 * alone) is gone: the read at 0 with flags did not copy either. */
	return *half + (past == -7 ? 0x10000 : 0) + (flags == -22 ? 0x20000 : 0) +
	       (word == 0x0d0c0b0a ? 0x40000 : 0);
}

/* Writes through a writable slice and bpf_dynptr_write, then narrows the
 * dynptr and reads through the narrowed and a cloned one. */
SEC("xdp")
int xdp_write(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr, copy;
	__u8 byte = 0xbb, *p;
	__u32 result = 0;

	if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
		return 1;
	p = bpf_dynptr_slice_rdwr(&ptr, 0, NULL, 4);
	if (!p)
		return 2;
	p[0] = 0xaa;
	if (bpf_dynptr_write(&ptr, 1, &byte, 1, 0))
		return 3;
	if (bpf_dynptr_adjust(&ptr, 2, 10))
		return 4;
	result = bpf_dynptr_size(&ptr);               /* 8 */
	if (bpf_dynptr_adjust(&ptr, 0, 9) == -34)     /* -ERANGE */
		result |= 0x100;
	bpf_dynptr_clone(&ptr, &copy);
	p = bpf_dynptr_slice(&copy, 0, NULL, 1);      /* byte 2 */
	if (p)
		result |= *p << 16;
	if (!bpf_dynptr_slice(&copy, 7, NULL, 2))     /* past the 8 */
		result |= 0x1000;
	return result;
}

char LICENSE[] SEC("license") = "GPL";
