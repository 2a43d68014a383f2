// SPDX-License-Identifier: GPL-2.0
/* Test object with CO-RE relocations, as programs built against vmlinux.h
 * have them: the context through a "flavour" of struct xdp_md whose fields
 * sit elsewhere than in the real one (another kernel's headers, say) and
 * which has a field no kernel has; a packet header; and a Linux kernel type
 * the runtime does not have. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __core __attribute__((preserve_access_index))

/* Fields reordered, and one that does not exist. */
struct xdp_md___other {
	__u32 rx_queue_index;
	__u32 no_such_field;
	__u32 ingress_ifindex;
	__u32 data_end;
	__u32 data;
} __core;

struct ethhdr___core {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__be16 h_proto;
} __core;

struct __sk_buff___core {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
} __core;

struct task_struct___core {
	int pid;
} __core;

SEC("xdp")
int core_xdp(struct xdp_md *ctx)
{
	struct xdp_md___other *md = (void *)ctx;
	void *data = (void *)(long)md->data;
	void *data_end = (void *)(long)md->data_end;
	struct ethhdr___core *eth = data;
	__u32 r = md->ingress_ifindex;

	if (bpf_core_field_exists(md->no_such_field))
		r += 100;
	if ((void *)(eth + 1) > data_end)
		return 0;
	return r * 0x10000 + eth->h_proto;
}

SEC("tc")
int core_tc(struct __sk_buff *skb)
{
	struct __sk_buff___core *s = (void *)skb;

	return s->cb[2] + s->len + bpf_core_field_size(s->cb[1]) * 0x10000;
}

SEC("xdp")
int core_task(struct xdp_md *ctx)
{
	struct task_struct___core *t = (void *)(long)ctx->data;

	return BPF_CORE_READ(t, pid);
}

char LICENSE[] SEC("license") = "GPL";
