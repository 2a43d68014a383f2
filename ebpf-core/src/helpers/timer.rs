//! The timer helpers (`bpf_timer_init`, `_set_callback`, `_start`,
//! `_cancel`) on a run's context; the timers themselves are
//! [`crate::runtime::timer`]'s.

use super::linux::RunContext;
use super::Helpers;
use crate::errno::Errno;
use crate::error::HelperError;
use crate::runtime::timer;

/// `struct bpf_timer`'s size.
const TIMER_BYTES: u64 = 16;

fn ret(r: Result<(), Errno>) -> u64 {
    r.map_or_else(|e| e.to_helper_ret(), |()| 0)
}

impl RunContext<'_> {
    /// The timer field at `addr` of a value the run may write (the
    /// verifier proved it; checked again, as a bad one would be a bug).
    fn timer_arg(&self, addr: u64) -> Result<u64, HelperError> {
        if addr % 8 != 0 || !self.allows(addr, TIMER_BYTES, true) {
            return Err(HelperError::BadPointer {
                addr,
                len: TIMER_BYTES as usize,
            });
        }
        Ok(addr)
    }

    /// `bpf_timer_init(timer, map, flags)`.
    pub(super) fn timer_init(
        &mut self,
        addr: u64,
        map_addr: u64,
        flags: u64,
    ) -> Result<u64, HelperError> {
        let addr = self.timer_arg(addr)?;
        let map = self.map_arg(map_addr)?;
        let value = map
            .value_of_timer(addr)
            .ok_or(HelperError::BadPointer { addr, len: 16 })?;
        // SAFETY: the timer field of a live value of `map`; the run is
        // inside its read-side section.
        Ok(ret(unsafe {
            timer::init(self.platform, map, value, addr, flags)
        }))
    }

    /// `bpf_timer_set_callback(timer, callback)`.
    pub(super) fn timer_set_callback(&mut self, addr: u64, func: u64) -> Result<u64, HelperError> {
        let addr = self.timer_arg(addr)?;
        let Some(program) = self.program else {
            return Ok(Errno::EOPNOTSUPP.to_helper_ret());
        };
        if program.program().function_index(func).is_none() {
            return Err(HelperError::BadCallback(func));
        }
        // SAFETY: a timer field of a live value, inside the run's section;
        // `program` is set only for programs inside a Shared.
        Ok(ret(unsafe {
            timer::set_callback(self.platform, addr, program, func)
        }))
    }

    /// `bpf_timer_start(timer, nsecs, flags)`.
    pub(super) fn timer_start(
        &mut self,
        addr: u64,
        ns: u64,
        flags: u64,
    ) -> Result<u64, HelperError> {
        let addr = self.timer_arg(addr)?;
        // SAFETY: as in `timer_set_callback`.
        Ok(ret(unsafe { timer::start(self.platform, addr, ns, flags) }))
    }

    /// `bpf_timer_cancel(timer)`.
    pub(super) fn timer_cancel(&mut self, addr: u64) -> Result<u64, HelperError> {
        let addr = self.timer_arg(addr)?;
        // SAFETY: as in `timer_set_callback`.
        Ok(
            match unsafe { timer::cancel(self.platform, addr, self.timer) } {
                Ok(armed) => armed,
                Err(e) => e.to_helper_ret(),
            },
        )
    }
}
