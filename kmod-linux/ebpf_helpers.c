// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel services that exist only as inline functions or macros, for the
 * core library (ebpf-core/src/c_os.rs), in the spirit of rust/helpers/.
 */
#include <linux/jiffies.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/timekeeping.h>
#include <linux/topology.h>

#include "ebpf_helpers.h"

/* A program runs inside this: RCU keeps what it reaches alive, and
 * preemption is off so that per-CPU data and the CPU id stay put. */
void ebpf_os_read_lock(void)
{
	rcu_read_lock();
	preempt_disable();
}

void ebpf_os_read_unlock(void)
{
	preempt_enable();
	rcu_read_unlock();
}

/* Long requests call these between steps (never inside a program run). */
void ebpf_os_resched(void)
{
	cond_resched();
}

bool ebpf_os_interrupted(void)
{
	return signal_pending(current);
}

u32 ebpf_os_cpu_id(void)
{
	return smp_processor_id();
}

u32 ebpf_os_numa_node(void)
{
	int node = numa_node_id();

	return node < 0 ? 0 : node;
}

u64 ebpf_os_monotonic_ns(void)
{
	return ktime_get_ns();
}

u64 ebpf_os_boot_ns(void)
{
	return ktime_get_boottime_ns();
}

u64 ebpf_os_coarse_ns(void)
{
	return ktime_get_coarse_ns();
}

u64 ebpf_os_jiffies(void)
{
	return get_jiffies_64();
}
