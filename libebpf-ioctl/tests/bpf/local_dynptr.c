// SPDX-License-Identifier: GPL-2.0
/* Test object: a dynamic pointer over a map value (bpf_dynptr_from_mem),
 * as programs make them to handle map memory and packets alike: read,
 * write, data, slices, adjust, clone, and the errors of flags and of
 * accesses past the end. The program returns what the host kernel
 * returns; the value comes out as the host leaves it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset,
			      void *buffer, __u32 buffer__szk) __ksym __weak;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym __weak;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone) __ksym __weak;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym __weak;

struct value {
	__u8 bytes[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct value);
} store SEC(".maps");

SEC("xdp")
int local(struct xdp_md *ctx)
{
	struct bpf_dynptr d, bad, clone;
	__u32 key = 0, word = 0x11223344, back = 0, *data;
	struct value *v;
	__u8 *slice;
	int r = 0;

	v = bpf_map_lookup_elem(&store, &key);
	if (!v)
		return 0;
	r |= (bpf_dynptr_from_mem(v, sizeof(*v), 1, &bad) == -22) << 0;
	r |= (bpf_dynptr_size(&bad) == 0) << 1;
	if (bpf_dynptr_from_mem(v, sizeof(*v), 0, &d))
		return 0x100;
	r |= (bpf_dynptr_size(&d) == 32) << 2;
	r |= (bpf_dynptr_write(&d, 4, &word, sizeof(word), 0) == 0) << 3;
	r |= (bpf_dynptr_write(&d, 30, &word, sizeof(word), 0) == -7) << 4;
	r |= (bpf_dynptr_read(&back, sizeof(back), &d, 4, 0) == 0 && back == 0x11223344) << 5;
	data = bpf_dynptr_data(&d, 8, 4);
	if (data) {
		*data = 0x55667788;
		r |= 1 << 6;
	}
	r |= (bpf_dynptr_data(&d, 30, 4) == 0) << 7;
	slice = bpf_dynptr_slice(&d, 8, 0, 1);
	if (slice)
		r |= (*slice == 0x88) << 8;
	bpf_dynptr_clone(&d, &clone);
	r |= (bpf_dynptr_adjust(&clone, 8, 12) == 0 && bpf_dynptr_size(&clone) == 4) << 9;
	back = 0;
	bpf_dynptr_read(&back, sizeof(back), &clone, 0, 0);
	r |= (back == 0x55667788) << 10;
	r |= (bpf_dynptr_read(&back, sizeof(back), &clone, 1, 0) == -7) << 11;
	return r;
}

char LICENSE[] SEC("license") = "GPL";
