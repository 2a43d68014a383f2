// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel services that exist only as inline functions or macros, for the
 * core library (ebpf-core/src/c_os.rs), in the spirit of rust/helpers/.
 */
#include <linux/filter.h>
#include <linux/jiffies.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
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

/* The core's spinlocks: taken in process context and in the packet hooks'
 * softirqs, so softirqs are off while one is held. */
void ebpf_os_spin_lock_bh(void *lock)
{
	spin_lock_bh((spinlock_t *)lock);
}

void ebpf_os_spin_unlock_bh(void *lock)
{
	spin_unlock_bh((spinlock_t *)lock);
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

u64 ebpf_os_tai_ns(void)
{
	return ktime_get_clocktai_ns();
}

u64 ebpf_os_coarse_ns(void)
{
	return ktime_get_coarse_ns();
}

u64 ebpf_os_jiffies(void)
{
	return get_jiffies_64();
}

/*
 * The kernel's own eBPF JIT for programs the core verified (a module gets
 * no executable memory): one bpf_prog per eBPF function, compiled by
 * bpf_prog_select_runtime, freed by bpf_prog_free. The core has already
 * made every call a call relative to __bpf_call_base (see
 * ebpf-core/src/jit/kernel.rs).
 */
void *ebpf_os_jit_compile(const void *insns, u32 len, u32 stack_depth, u64 *code, u32 *size)
{
	struct bpf_prog *prog;
	int err = 0;

	prog = bpf_prog_alloc(bpf_prog_size(len), 0);
	if (!prog)
		return NULL;
	prog->len = len;
	memcpy(prog->insnsi, insns, bpf_prog_insn_size(prog));
	prog->aux->stack_depth = stack_depth;
	prog = bpf_prog_select_runtime(prog, &err);
	if (err || !prog->jited) {
		/* The JIT is off (net.core.bpf_jit_enable) or failed: the core
		 * interprets the program. */
		bpf_prog_free(prog);
		return NULL;
	}
	*code = (u64)(unsigned long)prog->bpf_func;
	*size = prog->jited_len;
	return prog;
}

void ebpf_os_jit_free(void *prog)
{
	bpf_prog_free(prog);
}

u64 ebpf_os_jit_call_base(void)
{
	return (u64)(unsigned long)__bpf_call_base;
}

/* Compiled eBPF takes r1-r5 in the C argument registers and returns r0. */
u64 ebpf_os_jit_call(u64 code, const u64 *args)
{
	u64 (*func)(u64, u64, u64, u64, u64) = (void *)(unsigned long)code;

	return func(args[0], args[1], args[2], args[3], args[4]);
}

/* The run each CPU is making, for the core's helper entry. Runs happen
 * with preemption off and nest (swap saves the outer one). */
static DEFINE_PER_CPU(void *, ebpf_jit_run);

void *ebpf_os_jit_swap(void *run)
{
	void *old = this_cpu_read(ebpf_jit_run);

	this_cpu_write(ebpf_jit_run, run);
	return old;
}

void *ebpf_os_jit_current(void)
{
	return this_cpu_read(ebpf_jit_run);
}
