/* SPDX-License-Identifier: GPL-2.0 */
/* iproute2's (and Cilium's) map definition in the `maps` section, as
 * iproute2's include/bpf_elf.h spells it. */
#ifndef BPF_ELF_MAP_H
#define BPF_ELF_MAP_H

#include <linux/types.h>

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

#define PIN_GLOBAL_NS 2

#endif
