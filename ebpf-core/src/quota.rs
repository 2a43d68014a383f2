//! Accounting of what a device keeps alive, against its limits.
//!
//! A map or program is charged when it is created, before anything is
//! allocated for it, and the charge travels inside the object: it is given
//! back when the object is freed, whoever held the last reference (a
//! handle, a pin, a program using the map, a map-in-map or prog_array slot).
//! So the limits hold for everything alive, not only for what userspace
//! still has a handle to. Reserving is one atomic step per counter, so
//! concurrent creations cannot pass a limit together.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::errno::Errno;
use crate::shared::Shared;

/// A device's counters and limits.
pub struct Quota {
    maps: Counter,
    programs: Counter,
    map_bytes: Counter,
}

/// One counter with its limit.
struct Counter {
    used: AtomicU64,
    limit: u64,
}

impl Counter {
    const fn new(limit: u64) -> Self {
        Counter {
            used: AtomicU64::new(0),
            limit,
        }
    }

    /// Adds `n` if the total stays within the limit.
    fn reserve(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, n: u64) {
        let before = self.used.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "quota released more than it reserved");
    }

    fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// What one object holds of a [`Quota`]; gives it back when dropped.
pub struct Charge {
    quota: Shared<Quota>,
    maps: u64,
    programs: u64,
    map_bytes: u64,
}

impl Quota {
    /// Counters at zero with these limits.
    pub fn new(max_maps: u64, max_programs: u64, max_map_bytes: u64) -> Self {
        Quota {
            maps: Counter::new(max_maps),
            programs: Counter::new(max_programs),
            map_bytes: Counter::new(max_map_bytes),
        }
    }

    /// Reserves one map of `bytes` bytes: `ENOSPC` when the device has its
    /// maximum number of maps, `ENOMEM` when the bytes would pass its limit.
    pub fn charge_map(this: &Shared<Quota>, bytes: u64) -> Result<Charge, Errno> {
        if !this.maps.reserve(1) {
            return Err(Errno::ENOSPC);
        }
        if !this.map_bytes.reserve(bytes) {
            this.maps.release(1);
            return Err(Errno::ENOMEM);
        }
        Ok(Charge {
            quota: this.clone(),
            maps: 1,
            programs: 0,
            map_bytes: bytes,
        })
    }

    /// Reserves one program: `ENOSPC` at the maximum.
    pub fn charge_program(this: &Shared<Quota>) -> Result<Charge, Errno> {
        if !this.programs.reserve(1) {
            return Err(Errno::ENOSPC);
        }
        Ok(Charge {
            quota: this.clone(),
            maps: 0,
            programs: 1,
            map_bytes: 0,
        })
    }

    /// Maps alive.
    pub fn maps(&self) -> u64 {
        self.maps.used()
    }

    /// Programs alive.
    pub fn programs(&self) -> u64 {
        self.programs.used()
    }

    /// Bytes of map storage alive.
    pub fn map_bytes(&self) -> u64 {
        self.map_bytes.used()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.quota.maps.release(self.maps);
        self.quota.programs.release(self.programs);
        self.quota.map_bytes.release(self.map_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_refused_at_the_limit_and_given_back_on_drop() {
        let q = Shared::try_new(Quota::new(2, 1, 100)).unwrap();
        let a = Quota::charge_map(&q, 60).unwrap();
        assert_eq!(Quota::charge_map(&q, 41).err(), Some(Errno::ENOMEM));
        assert_eq!(q.maps(), 1, "a refused charge keeps nothing");
        let b = Quota::charge_map(&q, 40).unwrap();
        assert_eq!(Quota::charge_map(&q, 0).err(), Some(Errno::ENOSPC));
        assert_eq!((q.maps(), q.map_bytes()), (2, 100));
        drop(a);
        assert_eq!((q.maps(), q.map_bytes()), (1, 40));
        let p = Quota::charge_program(&q).unwrap();
        assert_eq!(Quota::charge_program(&q).err(), Some(Errno::ENOSPC));
        drop((b, p));
        assert_eq!((q.maps(), q.programs(), q.map_bytes()), (0, 0, 0));
    }
}
