//! What is let go of where nothing may be freed: a program's run or a
//! timer's callback (atomic context) unpublishes a timer cell or drops a
//! program reference that may be the last; the [`Reaper`] frees them in
//! process context, a grace period later, so that a run or callback that
//! still read the old pointer finishes first (Linux defers the same way:
//! `bpf_prog_put` and `bpf_timer_cancel_and_free` hand over to a work
//! queue and RCU).
//!
//! Two lock-free stacks, pushed from any context; [`Reaper::reap`] takes
//! each whole, so a node is never popped while pushed (no ABA).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::timer::TimerCell;
use super::LoadedProgram;
use crate::platform::PlatformRef;
use crate::shared::Shared;

/// The platform's queue of timer cells and programs to free.
pub struct Reaper {
    cells: AtomicPtr<TimerCell>,
    programs: AtomicPtr<LoadedProgram>,
}

impl Default for Reaper {
    fn default() -> Self {
        Self::new()
    }
}

impl Reaper {
    /// An empty queue.
    pub const fn new() -> Self {
        Reaper {
            cells: AtomicPtr::new(core::ptr::null_mut()),
            programs: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Queues an unpublished cell for freeing (any context).
    pub(crate) fn retire(&self, platform: PlatformRef, cell: NonNull<TimerCell>) {
        // SAFETY: the cell is ours to hand over; its link is used only
        // by this list.
        let link = unsafe { &cell.as_ref().next };
        push(&self.cells, cell.as_ptr(), link);
        platform.kick_reaper();
    }

    /// Drops a program reference (any context): the last one queues the
    /// program for freeing instead of freeing it here.
    pub(crate) fn release_program(&self, platform: PlatformRef, program: Shared<LoadedProgram>) {
        if let Some(last) = Shared::release_keeping_last(program) {
            let last = last.cast_mut();
            // SAFETY: the last reference is gone: the program is ours, and
            // its link is used only by this list.
            let link = unsafe { &(*last).reap_next };
            push(&self.programs, last, link);
            platform.kick_reaper();
        }
    }

    /// Whether nothing waits to be freed.
    pub fn is_idle(&self) -> bool {
        self.cells.load(Ordering::Acquire).is_null()
            && self.programs.load(Ordering::Acquire).is_null()
    }

    /// Frees everything queued, after a grace period (process context,
    /// may sleep): cells once their platform timer is stopped and waited
    /// for, then programs. Freeing may queue more (a program's maps free
    /// their timers): repeated until empty.
    pub fn reap(&self, platform: PlatformRef) {
        loop {
            let cells = self.cells.swap(core::ptr::null_mut(), Ordering::AcqRel);
            let programs = self.programs.swap(core::ptr::null_mut(), Ordering::AcqRel);
            if cells.is_null() && programs.is_null() {
                return;
            }
            platform.synchronize();
            let mut at = cells;
            while let Some(cell) = NonNull::new(at) {
                // SAFETY: queued cells are ours; read the link first.
                at = unsafe { cell.as_ref() }.next.load(Ordering::Relaxed);
                // SAFETY: unpublished, a grace period ago; ours alone.
                unsafe { TimerCell::destroy(cell) };
            }
            let mut at = programs;
            while !at.is_null() {
                // SAFETY: queued programs are ours; read the link first.
                let next = unsafe { (*at).reap_next.load(Ordering::Relaxed) };
                // SAFETY: its last reference was given up in
                // `release_program`, a grace period ago.
                unsafe { Shared::free_last(at) };
                at = next;
            }
        }
    }
}

fn push<T>(head: &AtomicPtr<T>, node: *mut T, link: &AtomicPtr<T>) {
    let mut top = head.load(Ordering::Acquire);
    loop {
        link.store(top, Ordering::Relaxed);
        match head.compare_exchange_weak(top, node, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => top = now,
        }
    }
}
