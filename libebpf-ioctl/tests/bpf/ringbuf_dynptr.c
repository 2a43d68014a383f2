// SPDX-License-Identifier: GPL-2.0
/* Test object: ring buffer records through dynamic pointers
 * (bpf_ringbuf_reserve_dynptr, bpf_dynptr_write/_data/_read, submit and
 * discard), as Linux 6.x programs write them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* Submits one 16-byte record: 0xaa..., the word 0x11223344 at 4 through
 * bpf_dynptr_write, 0x55667788 at 8 through bpf_dynptr_data; returns what
 * bpf_dynptr_read finds at 4, plus the errors of a too big reservation
 * (which must still be discarded) and of flags. */
SEC("xdp")
int submit_record(struct xdp_md *ctx)
{
	struct bpf_dynptr rec, big;
	__u32 word = 0x11223344, back = 0, *data;
	long err, too_big, flags;

	too_big = bpf_ringbuf_reserve_dynptr(&events, 1 << 20, 0, &big);
	bpf_ringbuf_discard_dynptr(&big, 0);
	flags = bpf_ringbuf_reserve_dynptr(&events, 16, 1, &big);
	bpf_ringbuf_discard_dynptr(&big, 0);
	err = bpf_ringbuf_reserve_dynptr(&events, 16, 0, &rec);
	if (err) {
		bpf_ringbuf_discard_dynptr(&rec, 0);
		return 1;
	}
	data = bpf_dynptr_data(&rec, 0, 4);
	if (data)
		*data = 0xaaaaaaaa;
	bpf_dynptr_write(&rec, 4, &word, sizeof(word), 0);
	data = bpf_dynptr_data(&rec, 8, 8);
	if (data) {
		data[0] = 0x55667788;
		data[1] = 0;
	}
	bpf_dynptr_read(&back, sizeof(back), &rec, 4, 0);
	bpf_ringbuf_submit_dynptr(&rec, 0);
	return (back == 0x11223344) | (too_big == -22 ? 2 : 0) | (flags == -22 ? 4 : 0);
}

char LICENSE[] SEC("license") = "GPL";
