/* SPDX-License-Identifier: GPL-2.0 */
/* Inline-only kernel services for the core library (ebpf-core/src/c_os.rs). */
#ifndef EBPF_HELPERS_H
#define EBPF_HELPERS_H

#include <linux/types.h>

void ebpf_os_read_lock(void);
void ebpf_os_read_unlock(void);
void ebpf_os_resched(void);
bool ebpf_os_interrupted(void);
u32 ebpf_os_cpu_id(void);
u32 ebpf_os_numa_node(void);
u64 ebpf_os_monotonic_ns(void);
u64 ebpf_os_boot_ns(void);
u64 ebpf_os_coarse_ns(void);
u64 ebpf_os_jiffies(void);

#endif
