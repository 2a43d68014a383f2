/* SPDX-License-Identifier: GPL-2.0 */
/* Inline-only kernel services, the kernel's JIT and the packet hooks
 * (ebpf_net.c) for the core library (ebpf-core/src/c_os.rs). */
#ifndef EBPF_HELPERS_H
#define EBPF_HELPERS_H

#include <linux/types.h>

void ebpf_os_read_lock(void);
void ebpf_os_spin_lock_bh(void *lock);
void ebpf_os_spin_unlock_bh(void *lock);
void ebpf_os_read_unlock(void);
void ebpf_os_resched(void);
bool ebpf_os_interrupted(void);
u32 ebpf_os_cpu_id(void);
u32 ebpf_os_numa_node(void);
u64 ebpf_os_monotonic_ns(void);
u64 ebpf_os_boot_ns(void);
u64 ebpf_os_coarse_ns(void);
u64 ebpf_os_jiffies(void);
void *ebpf_os_jit_compile(const void *insns, u32 len, u32 stack_depth, u64 *code, u32 *size);
void ebpf_os_jit_free(void *prog);
u64 ebpf_os_jit_call_base(void);
u64 ebpf_os_jit_call(u64 code, const u64 *args);
void *ebpf_os_jit_swap(void *run);
void *ebpf_os_jit_current(void);
int ebpf_os_net_device(u32 ifindex, const u8 *name, size_t len,
		       u32 *out_ifindex, u64 *out_key);
int ebpf_os_net_attach(u64 key, u32 ifindex, bool egress, void *target,
		       void **hook);
void ebpf_os_net_detach(void *hook);
u32 ebpf_os_net_hook_ifindex(void *hook);
void *ebpf_os_timer_create(void (*fire)(const void *arg), const void *arg, u32 clock);
void ebpf_os_timer_start(void *timer, u64 ns, bool absolute);
bool ebpf_os_timer_stop(void *timer);
void ebpf_os_timer_destroy(void *timer);
void ebpf_os_kick_reaper(void);
void ebpf_os_reaper_drain(void);
int ebpf_os_net_init(void);
void ebpf_os_net_exit(void);

#endif
