// SPDX-License-Identifier: GPL-2.0
/* Test object with the CO-RE relocations of bitfields and enums, as
 * programs built against vmlinux.h have them: the IPv4 header's ihl and
 * version read directly and with BPF_CORE_READ_BITFIELD, and questions
 * about which helpers and actions exist. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct iphdr___core {
	__u8 ihl:4, version:4;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
} __attribute__((preserve_access_index));

/* ihl * 4 + version * 1000, from the IPv4 header after 14 bytes. */
SEC("xdp")
int ip_bitfields(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr___core *ip = data + 14;

	if ((void *)(ip + 1) > end)
		return 0;
	return ip->ihl * 4 + ip->version * 1000;
}

/* The same through libbpf's macro (offset, size, shifts and sign). */
SEC("xdp")
int ip_bitfields_macro(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr___core *ip = data + 14;

	if ((void *)(ip + 1) > end)
		return 0;
	return BPF_CORE_READ_BITFIELD(ip, ihl) * 4 + BPF_CORE_READ_BITFIELD(ip, version) * 1000;
}

/* 1: a helper this runtime has; 2: one of the Linux kernel's tasks (not
 * here); 4: XDP_TX's value is 3; 8: an action no kernel has. */
SEC("xdp")
int enum_questions(struct xdp_md *ctx)
{
	return bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_boot_ns) +
	       2 * bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task) +
	       4 * (bpf_core_enum_value(enum xdp_action, XDP_TX) == 3) +
	       8 * bpf_core_type_exists(enum xdp_action);
}

char LICENSE[] SEC("license") = "GPL";
