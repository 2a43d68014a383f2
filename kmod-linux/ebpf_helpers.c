// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel services that exist only as inline functions or macros, for the
 * core library (ebpf-core/src/c_os.rs), in the spirit of rust/helpers/.
 */
#include <linux/filter.h>
#include <linux/hrtimer.h>
#include <linux/jiffies.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/topology.h>
#include <linux/workqueue.h>

#include "ebpf_helpers.h"

/* A program runs inside this: RCU keeps what it reaches alive, and
 * softirqs (hence preemption) are off so that per-CPU data and the CPU id
 * stay put, and a timer's callback (softirq) cannot interrupt a holder of
 * that timer's lock on its CPU. */
void ebpf_os_read_lock(void)
{
	rcu_read_lock();
	local_bh_disable();
}

void ebpf_os_read_unlock(void)
{
	local_bh_enable();
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

/*
 * Timers of struct bpf_timer (ebpf-core/src/runtime/timer.rs): hrtimers
 * that expire in softirq, as Linux's own bpf_timer (HRTIMER_MODE_*_SOFT).
 */
struct ebpf_timer {
	struct hrtimer timer;
	void (*fire)(const void *arg);
	const void *arg;
};

static enum hrtimer_restart ebpf_timer_expired(struct hrtimer *timer)
{
	struct ebpf_timer *t = container_of(timer, struct ebpf_timer, timer);

	t->fire(t->arg);
	return HRTIMER_NORESTART;
}

void *ebpf_os_timer_create(void (*fire)(const void *arg), const void *arg, u32 clock)
{
	struct ebpf_timer *t = kzalloc(sizeof(*t), GFP_ATOMIC);

	if (!t)
		return NULL;
	hrtimer_init(&t->timer, clock, HRTIMER_MODE_REL_SOFT);
	t->timer.function = ebpf_timer_expired;
	t->fire = fire;
	t->arg = arg;
	return t;
}

void ebpf_os_timer_start(void *timer, u64 ns, bool absolute)
{
	struct ebpf_timer *t = timer;

	hrtimer_start(&t->timer, ns_to_ktime(ns),
		      absolute ? HRTIMER_MODE_ABS_SOFT : HRTIMER_MODE_REL_SOFT);
}

/* -1 (its callback runs now) counts as not armed: the core waits for the
 * callback itself. */
bool ebpf_os_timer_stop(void *timer)
{
	struct ebpf_timer *t = timer;

	return hrtimer_try_to_cancel(&t->timer) == 1;
}

void ebpf_os_timer_destroy(void *timer)
{
	struct ebpf_timer *t = timer;

	hrtimer_cancel(&t->timer);
	kfree(t);
}

/* The reaper: frees, in process context after a grace period, what timers
 * and programs let go of in atomic context. */
void ebpf_kcore_reap(void);

static void ebpf_reap_work(struct work_struct *work)
{
	ebpf_kcore_reap();
}

static DECLARE_WORK(ebpf_reaper, ebpf_reap_work);

void ebpf_os_kick_reaper(void)
{
	queue_work(system_unbound_wq, &ebpf_reaper);
}

void ebpf_os_reaper_drain(void)
{
	cancel_work_sync(&ebpf_reaper);
}
