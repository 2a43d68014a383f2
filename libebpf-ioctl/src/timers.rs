//! Timers and deferred freeing for the embedded backend: one thread per
//! platform expires its timers in deadline order (the callbacks of
//! `struct bpf_timer`s) and runs its reaper when asked, the roles Linux's
//! hrtimer softirq and work queue play in a kernel.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use ebpf_core::platform::{PlatformRef, RawTimer, TimerClock, TimerFn};
use ebpf_core::runtime::reaper::Reaper;

/// One timer: what to call, and when it is armed, its place in the queue.
struct UserTimer {
    fire: TimerFn,
    arg: *const c_void,
    clock: TimerClock,
    /// Its key in [`State::armed`] (guarded by the service's lock).
    armed: Mutex<Option<(u64, u64)>>,
}

#[derive(Default)]
struct State {
    /// Armed timers by (deadline on the monotonic clock, arming order).
    armed: BTreeMap<(u64, u64), usize>,
    next_seq: u64,
    /// The timer whose `fire` runs now (its address), or 0.
    firing: usize,
    /// The reaper was kicked.
    reap: bool,
    /// The thread runs.
    started: bool,
}

/// A platform's timers and reaper, and the thread serving them.
pub(crate) struct Timers {
    platform: OnceLock<PlatformRef>,
    reaper: Reaper,
    state: Mutex<State>,
    changed: Condvar,
}

// SAFETY: the raw `arg` pointers in timers are only handed back to `fire`;
// everything else is behind the mutex.
unsafe impl Sync for Timers {}
// SAFETY: as above.
unsafe impl Send for Timers {}

fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            platform: OnceLock::new(),
            reaper: Reaper::new(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// Ties the service to its platform (once it has its final address).
    pub(crate) fn bind(&self, platform: PlatformRef) {
        let _ = self.platform.set(platform);
    }

    pub(crate) fn reaper(&self) -> &Reaper {
        &self.reaper
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the thread on first use; `false` if the service is unbound.
    fn ensure_thread(&'static self, st: &mut State) -> bool {
        if st.started {
            return true;
        }
        if self.platform.get().is_none() {
            return false;
        }
        let spawned = std::thread::Builder::new()
            .name("ebpf-timers".into())
            .spawn(move || self.serve());
        st.started = spawned.is_ok();
        st.started
    }

    pub(crate) fn create(
        &'static self,
        fire: TimerFn,
        arg: *const c_void,
        clock: TimerClock,
    ) -> Option<RawTimer> {
        if !self.ensure_thread(&mut self.lock()) {
            return None;
        }
        let t = Box::new(UserTimer {
            fire,
            arg,
            clock,
            armed: Mutex::new(None),
        });
        Some(RawTimer::from_ptr(NonNull::from(Box::leak(t)).cast()))
    }

    fn timer(t: &RawTimer) -> &UserTimer {
        // SAFETY: every RawTimer of this service is a leaked UserTimer,
        // alive until `destroy`.
        unsafe { t.as_ptr().cast::<UserTimer>().as_ref() }
    }

    fn disarm(st: &mut State, t: &UserTimer) -> bool {
        match t.armed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(key) => st.armed.remove(&key).is_some(),
            None => false,
        }
    }

    pub(crate) fn start(&self, t: &RawTimer, ns: u64, absolute: bool) {
        let timer = Self::timer(t);
        let mono = now_ns(libc::CLOCK_MONOTONIC);
        let deadline = if absolute {
            let on_clock = match timer.clock {
                TimerClock::Monotonic => mono,
                TimerClock::Boot => now_ns(libc::CLOCK_BOOTTIME),
                TimerClock::Real => now_ns(libc::CLOCK_REALTIME),
            };
            mono.saturating_add(ns.saturating_sub(on_clock))
        } else {
            mono.saturating_add(ns)
        };
        let mut st = self.lock();
        Self::disarm(&mut st, timer);
        st.next_seq += 1;
        let key = (deadline, st.next_seq);
        st.armed.insert(key, t.as_ptr().as_ptr() as usize);
        *timer.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        self.changed.notify_all();
    }

    pub(crate) fn stop(&self, t: &RawTimer) -> bool {
        Self::disarm(&mut self.lock(), Self::timer(t))
    }

    /// # Safety
    /// `t` came from `create` and is not used afterwards.
    pub(crate) unsafe fn destroy(&self, t: RawTimer) {
        let addr = t.as_ptr().as_ptr() as usize;
        let mut st = self.lock();
        Self::disarm(&mut st, Self::timer(&t));
        while st.firing == addr {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        drop(st);
        // SAFETY: leaked in `create`; disarmed and not firing.
        drop(unsafe { Box::from_raw(t.as_ptr().cast::<UserTimer>().as_ptr()) });
    }

    pub(crate) fn kick(&'static self) {
        let mut st = self.lock();
        st.reap = true;
        if self.ensure_thread(&mut st) {
            self.changed.notify_all();
        }
    }

    fn serve(&self) {
        let Some(&platform) = self.platform.get() else {
            return;
        };
        let mut st = self.lock();
        loop {
            if st.reap {
                st.reap = false;
                drop(st);
                self.reaper.reap(platform);
                st = self.lock();
                continue;
            }
            let now = now_ns(libc::CLOCK_MONOTONIC);
            let due = st.armed.first_key_value().map(|(&k, &t)| (k, t));
            match due {
                Some((key, addr)) if key.0 <= now => {
                    st.armed.remove(&key);
                    // SAFETY: armed timers are live (destroy disarms first).
                    let timer = unsafe { &*(addr as *const UserTimer) };
                    *timer.armed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    st.firing = addr;
                    drop(st);
                    // SAFETY: the timer's callback with its argument.
                    unsafe { (timer.fire)(timer.arg) };
                    st = self.lock();
                    st.firing = 0;
                    self.changed.notify_all();
                }
                Some((key, _)) => {
                    let wait = Duration::from_nanos(key.0 - now);
                    st = self
                        .changed
                        .wait_timeout(st, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}
