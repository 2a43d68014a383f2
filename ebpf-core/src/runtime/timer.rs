//! Timers in map values (`struct bpf_timer`, Linux's `kernel/bpf/helpers.c`
//! semantics): a program initialises one, gives it a callback (one of its
//! functions) and starts it; when it expires, the callback runs with the
//! timer's map, key and value, in the platform's timer context.
//!
//! A timer's 16 bytes in the value hold the address of its [`TimerCell`]
//! (0 until `bpf_timer_init`) in their first word. The cell owns the
//! platform timer and, while a callback is set, a reference to the program
//! whose function it is. Cells and the program references they let go of
//! in atomic context are freed in process context, a grace period later,
//! by the platform's [`Reaper`]: a program's run or a callback that still
//! read the old cell or program finishes first.
//!
//! Lifetimes, as on Linux: a map's timers hold programs, which hold the
//! map; the cycle is broken when the map's last user reference goes
//! ([`Map::release_user_refs`]): its timers are cancelled and freed, and
//! `bpf_timer_init` fails with `EPERM` from then on. Updating or deleting
//! an element frees its timer too.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::reaper::Reaper;
use super::LoadedProgram;
use crate::errno::Errno;
use crate::interp::Stack;
use crate::maps::Map;
use crate::platform::{AllocContext, PlatformRef, RawTimer, ReadGuard, TimerClock};
use crate::shared::Shared;

/// `BPF_F_TIMER_ABS`: the expiry is an absolute time on the timer's clock.
pub const BPF_F_TIMER_ABS: u64 = 1;
/// `BPF_F_TIMER_CPU_PIN`: expire on the CPU that started it (a hint here:
/// the platform's timers expire where the platform puts them).
pub const BPF_F_TIMER_CPU_PIN: u64 = 2;

/// The memory one initialised timer takes (its cell and the interpreter's
/// stack for its callback), which a map with timers counts per element.
pub const CELL_BYTES: u64 = (size_of::<TimerCell>() + size_of::<Stack>()) as u64;

/// What a cell's lock protects.
struct CellState {
    /// The program whose function is the callback, and that function (as
    /// `lddw rX, func` gave its address).
    callback: Option<(Shared<LoadedProgram>, u64)>,
    /// Unpublished: the value no longer points to the cell, which waits
    /// for the reaper.
    dead: bool,
}

/// One initialised `struct bpf_timer`.
pub struct TimerCell {
    platform: PlatformRef,
    timer: RawTimer,
    /// The map whose value holds the timer, and the value's address.
    map: *const Map,
    value: u64,
    /// A spin lock for `state`, held for a few instructions, always inside
    /// a read-side section (on Linux, with softirqs off: the callback's
    /// expiry cannot interrupt a holder on its CPU).
    lock: AtomicBool,
    state: UnsafeCell<CellState>,
    /// The callback is running (set under the lock when it is read).
    running: AtomicBool,
    /// Callbacks of other timers now cancelling this one (Linux's
    /// `cancelling`: two callbacks cancelling each other would wait for
    /// each other for ever).
    cancelling: AtomicU32,
    /// The interpreter's stack for the callback.
    stack: NonNull<Stack>,
    /// The reaper's list.
    pub(super) next: AtomicPtr<TimerCell>,
}

// SAFETY: `state` is only touched under `lock`; the rest is atomic or
// immutable; the map and value pointers are only dereferenced while the
// map is alive (see `fire`).
unsafe impl Sync for TimerCell {}
// SAFETY: as above.
unsafe impl Send for TimerCell {}

/// The held lock of a cell.
struct CellGuard<'c>(&'c TimerCell);

impl CellGuard<'_> {
    fn state(&mut self) -> &mut CellState {
        // SAFETY: the lock is held: the state is ours alone.
        unsafe { &mut *self.0.state.get() }
    }
}

impl Drop for CellGuard<'_> {
    fn drop(&mut self) {
        self.0.lock.store(false, Ordering::Release);
    }
}

impl TimerCell {
    fn lock(&self) -> CellGuard<'_> {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.platform.spin_relax();
        }
        CellGuard(self)
    }

    /// A new cell for the timer of `value` in `map` (atomic context).
    fn create(
        platform: PlatformRef,
        map: &Map,
        value: u64,
        clock: TimerClock,
    ) -> Result<NonNull<TimerCell>, Errno> {
        let cell = platform
            .alloc(
                size_of::<TimerCell>(),
                align_of::<TimerCell>(),
                AllocContext::Atomic,
            )
            .ok_or(Errno::ENOMEM)?
            .cast::<TimerCell>();
        let Some(stack) = platform.alloc(
            size_of::<Stack>(),
            align_of::<Stack>(),
            AllocContext::Atomic,
        ) else {
            // SAFETY: allocated above, never used.
            unsafe { platform.free(cell.cast(), size_of::<TimerCell>(), align_of::<TimerCell>()) };
            return Err(Errno::ENOMEM);
        };
        let Some(timer) = platform.timer_create(fire, cell.as_ptr() as *const c_void, clock) else {
            // SAFETY: allocated above, never used.
            unsafe {
                platform.free(stack, size_of::<Stack>(), align_of::<Stack>());
                platform.free(cell.cast(), size_of::<TimerCell>(), align_of::<TimerCell>());
            }
            return Err(Errno::ENOMEM);
        };
        // SAFETY: fresh memory for a TimerCell; the timer is not armed, so
        // `fire` cannot see the cell before it is written.
        unsafe {
            cell.as_ptr().write(TimerCell {
                platform,
                timer,
                map,
                value,
                lock: AtomicBool::new(false),
                state: UnsafeCell::new(CellState {
                    callback: None,
                    dead: false,
                }),
                running: AtomicBool::new(false),
                cancelling: AtomicU32::new(0),
                stack: stack.cast(),
                next: AtomicPtr::new(core::ptr::null_mut()),
            })
        };
        Ok(cell)
    }

    /// Frees the cell (process context): the platform timer is stopped and
    /// waited for first, then the program reference dropped.
    ///
    /// # Safety
    /// `cell` is unpublished, a grace period has passed since, and nothing
    /// else uses it.
    pub(super) unsafe fn destroy(cell: NonNull<TimerCell>) {
        // SAFETY: per the contract, ours alone.
        let TimerCell {
            platform,
            timer,
            stack,
            state,
            ..
        } = unsafe { cell.as_ptr().read() };
        // SAFETY: unpublished and dead: nothing arms it again.
        unsafe { platform.timer_destroy(timer) };
        drop(state.into_inner().callback);
        // SAFETY: allocated in `create` with these sizes.
        unsafe {
            platform.free(stack.cast(), size_of::<Stack>(), align_of::<Stack>());
            platform.free(cell.cast(), size_of::<TimerCell>(), align_of::<TimerCell>());
        }
    }
}

/// The word of the `struct bpf_timer` at `timer`.
///
/// # Safety
/// `timer` is the 8-byte aligned address of a timer field in a live value.
unsafe fn word<'a>(timer: u64) -> &'a AtomicU64 {
    // SAFETY: per the contract; the word is only accessed atomically.
    unsafe { AtomicU64::from_ptr(timer as *mut u64) }
}

/// The cell of the timer at `timer`, if initialised. Valid until the
/// caller's read-side section ends.
///
/// # Safety
/// As for [`word`], inside a read-side section.
unsafe fn cell_of<'a>(timer: u64) -> Option<&'a TimerCell> {
    // SAFETY: per the contract.
    let p = unsafe { word(timer) }.load(Ordering::Acquire) as *const TimerCell;
    // SAFETY: a published cell is freed only a grace period after it is
    // unpublished, and the caller is inside a section.
    unsafe { p.as_ref() }
}

fn reaper(platform: PlatformRef) -> Result<&'static Reaper, Errno> {
    // A platform without a reaper has no timers either.
    let platform: &'static dyn crate::platform::Platform = platform;
    platform.reaper().ok_or(Errno::EOPNOTSUPP)
}

/// `bpf_timer_init(timer, map, flags)`: gives the timer at `timer` (in
/// `value` of `map`) a cell on the clock `flags` names (`CLOCK_MONOTONIC`,
/// `CLOCK_REALTIME` or `CLOCK_BOOTTIME`). `EBUSY` if it has one, `EPERM`
/// once the map's user references are gone.
///
/// # Safety
/// `timer` is the timer field of `value`, a live value of `map`, and the
/// caller is inside a read-side section.
pub(crate) unsafe fn init(
    platform: PlatformRef,
    map: &Map,
    value: u64,
    timer: u64,
    flags: u64,
) -> Result<(), Errno> {
    let clock = match flags {
        0 => TimerClock::Real,
        1 => TimerClock::Monotonic,
        7 => TimerClock::Boot,
        _ => return Err(Errno::EINVAL),
    };
    let reaper = reaper(platform)?;
    // SAFETY: per the contract.
    let word = unsafe { word(timer) };
    if word.load(Ordering::Acquire) != 0 {
        return Err(Errno::EBUSY);
    }
    let cell = TimerCell::create(platform, map, value, clock)?;
    if word
        .compare_exchange(0, cell.as_ptr() as u64, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Another init won; never published, never armed.
        reaper.retire(platform, cell);
        return Err(Errno::EBUSY);
    }
    // Either the map's release sees the cell, or this sees the release
    // (Linux's `smp_mb` between `async->cb` and `usercnt`).
    fence(Ordering::SeqCst);
    if map.user_refs_released() {
        if word
            .compare_exchange(cell.as_ptr() as u64, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            reaper.retire(platform, cell);
        }
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// `bpf_timer_set_callback(timer, func)`: the running `program`'s function
/// `func` becomes the callback; the timer holds the program from now on.
///
/// # Safety
/// `timer` is a timer field of a live value, and the caller is inside a
/// read-side section; `program` lives inside a [`Shared`].
pub(crate) unsafe fn set_callback(
    platform: PlatformRef,
    timer: u64,
    program: &LoadedProgram,
    func: u64,
) -> Result<(), Errno> {
    let reaper = reaper(platform)?;
    // SAFETY: per the contract.
    let cell = unsafe { cell_of(timer) }.ok_or(Errno::EINVAL)?;
    // SAFETY: a live cell's map holds it (it is freed with the map).
    if unsafe { &*cell.map }.user_refs_released() {
        return Err(Errno::EPERM);
    }
    let mut guard = cell.lock();
    let state = guard.state();
    if state.dead {
        return Err(Errno::EINVAL);
    }
    let same = state
        .callback
        .as_ref()
        .is_some_and(|(p, _)| core::ptr::eq(Shared::as_ptr(p), program));
    let previous = if same {
        if let Some((_, f)) = &mut state.callback {
            *f = func;
        }
        None
    } else {
        // SAFETY: per the contract the program is inside a Shared, which
        // its run keeps referenced.
        let held = unsafe { Shared::clone_from_ptr(program) };
        state.callback.replace((held, func))
    };
    drop(guard);
    if let Some((p, _)) = previous {
        reaper.release_program(platform, p);
    }
    Ok(())
}

/// `bpf_timer_start(timer, ns, flags)`: arms the timer (`EINVAL` without a
/// callback).
///
/// # Safety
/// As for [`set_callback`].
pub(crate) unsafe fn start(
    platform: PlatformRef,
    timer: u64,
    ns: u64,
    flags: u64,
) -> Result<(), Errno> {
    if flags & !(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN) != 0 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: per the contract.
    let cell = unsafe { cell_of(timer) }.ok_or(Errno::EINVAL)?;
    let mut guard = cell.lock();
    let state = guard.state();
    if state.dead || state.callback.is_none() {
        return Err(Errno::EINVAL);
    }
    // Under the lock: a cancel or free that clears the callback stops the
    // timer after this.
    platform.timer_start(&cell.timer, ns, flags & BPF_F_TIMER_ABS != 0);
    Ok(())
}

/// `bpf_timer_cancel(timer)`: clears the callback (letting go of the
/// program), disarms the timer and waits for a running callback; 1 when
/// it was armed, else 0. `EDEADLK` from the timer's own callback, or from a
/// callback whose own timer another callback is cancelling (either could
/// wait for the other for ever).
///
/// # Safety
/// As for [`set_callback`]; `current` is the timer whose callback this
/// run is, if it is one.
pub(crate) unsafe fn cancel(
    platform: PlatformRef,
    timer: u64,
    current: Option<&TimerCell>,
) -> Result<u64, Errno> {
    let reaper = reaper(platform)?;
    // SAFETY: per the contract.
    let cell = unsafe { cell_of(timer) }.ok_or(Errno::EINVAL)?;
    if current.is_some_and(|c| core::ptr::eq(c, cell)) {
        return Err(Errno::EDEADLK);
    }
    // Counted only from callbacks: nobody waits for a program's run.
    let counted = current.is_some();
    if counted {
        cell.cancelling.fetch_add(1, Ordering::SeqCst);
    }
    let result = cancel_counted(platform, reaper, cell, current);
    if counted {
        cell.cancelling.fetch_sub(1, Ordering::SeqCst);
    }
    result
}

fn cancel_counted(
    platform: PlatformRef,
    reaper: &Reaper,
    cell: &TimerCell,
    current: Option<&TimerCell>,
) -> Result<u64, Errno> {
    let mut guard = cell.lock();
    let state = guard.state();
    if state.dead {
        return Err(Errno::EINVAL);
    }
    if current.is_some_and(|c| c.cancelling.load(Ordering::SeqCst) != 0) {
        return Err(Errno::EDEADLK);
    }
    let previous = state.callback.take();
    drop(guard);
    if let Some((p, _)) = previous {
        reaper.release_program(platform, p);
    }
    Ok(u64::from(stop_and_wait(cell)))
}

/// Disarms the cell's timer and waits until its callback is not running;
/// whether it was armed. The callback is cleared: nothing re-arms it.
fn stop_and_wait(cell: &TimerCell) -> bool {
    let mut armed = cell.platform.timer_stop(&cell.timer);
    while cell.running.load(Ordering::Acquire) {
        cell.platform.spin_relax();
    }
    // A callback that re-armed its timer before the callback was cleared.
    armed |= cell.platform.timer_stop(&cell.timer);
    armed
}

/// Frees the timer at `timer`, if initialised (an element updated or
/// deleted, its map's users gone): Linux's `bpf_timer_cancel_and_free`.
/// Never waits: the cell is unpublished, its callback cleared and its timer
/// stopped here; the reaper waits for a callback still running and frees
/// it. Called in any context. Whether there was a cell (a callback of it
/// may still run: a map that goes waits for a grace period first).
///
/// # Safety
/// `timer` is the timer field of a live value; the caller is inside a
/// read-side section.
pub(crate) unsafe fn cancel_and_free(platform: PlatformRef, timer: u64) -> bool {
    // SAFETY: per the contract.
    let word = unsafe { word(timer) };
    if word.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let p = word.swap(0, Ordering::AcqRel) as *mut TimerCell;
    let Some(cell) = NonNull::new(p) else {
        return false;
    };
    // SAFETY: unpublished by us alone; freed only by the reaper we hand it
    // to below.
    let c = unsafe { cell.as_ref() };
    let previous = {
        let mut guard = c.lock();
        let state = guard.state();
        state.dead = true;
        state.callback.take()
    };
    c.platform.timer_stop(&c.timer);
    // A platform with cells has a reaper.
    if let Ok(reaper) = reaper(platform) {
        if let Some((p, _)) = previous {
            reaper.release_program(platform, p);
        }
        reaper.retire(platform, cell);
    }
    true
}

/// The platform timer's expiry: runs the callback, if one is set, with the
/// timer's map, key and value.
///
/// # Safety
/// `arg` is a cell made by [`TimerCell::create`], alive until
/// `timer_destroy` returns (which waits for this).
unsafe extern "C" fn fire(arg: *const c_void) {
    // SAFETY: per the contract.
    let cell = unsafe { &*(arg as *const TimerCell) };
    let section = ReadGuard::new(cell.platform);
    // A reference of the run's own: the cell's may go (a cancel, a new
    // callback, a free) while the callback runs, and the program's last
    // reference may then be dropped anywhere.
    let callback = {
        let mut guard = cell.lock();
        let state = guard.state();
        match &state.callback {
            Some((p, func)) if !state.dead => {
                cell.running.store(true, Ordering::Release);
                Some((p.clone(), *func))
            }
            _ => None,
        }
    };
    let Some((program, func)) = callback else {
        return;
    };
    // SAFETY: the timer's map outlives the cell's published life, and a
    // map that goes waits, after unpublishing its timers, for a grace
    // period (its drop), so for this run, inside a section, to end.
    let map = unsafe { &*cell.map };
    let mut key = [0u8; crate::maps::MAX_KEY_SIZE as usize];
    if let Some(len) = map.key_of_value(cell.value, &mut key) {
        // SAFETY: the stack is the cell's, used by its callback alone (a
        // platform timer never expires concurrently with itself).
        let stack = unsafe { &mut *cell.stack.as_ptr() };
        let args = [cell.map as u64, key.as_ptr() as u64, cell.value, 0, 0];
        // Linux ignores the callback's return value (the verifier made it
        // 0); a failed run of a verified program is a bug reported there.
        let _ = program.run_timer_callback(&section, stack, func, args, &key[..len], map, cell);
    }
    cell.running.store(false, Ordering::Release);
    // Not freed here: timer context.
    if let Ok(reaper) = reaper(cell.platform) {
        reaper.release_program(cell.platform, program);
    }
}
