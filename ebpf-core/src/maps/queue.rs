//! `BPF_MAP_TYPE_QUEUE` (FIFO) and `BPF_MAP_TYPE_STACK` (LIFO): keyless
//! maps of up to `max_entries` values, pushed with `BPF_ANY` (`E2BIG` when
//! full) or `BPF_EXIST` (the oldest value makes room), popped or peeked
//! (`ENOENT` when empty). No value pointer is ever handed out, so every
//! operation copies under the map's spin lock.

use super::slab::ValueSlab;
use super::update::{BPF_EXIST, BPF_NOEXIST};
use super::{MapAttr, MapType};
use crate::errno::Errno;
use crate::platform::{LockClass, PlatformRef, SpinLock};

struct State {
    /// Index of the oldest value.
    head: usize,
    len: usize,
}

/// A queue or stack map.
pub struct QueueMap {
    lifo: bool,
    cap: usize,
    values: ValueSlab,
    state: SpinLock<State>,
}

impl QueueMap {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let cap = attr.max_entries as usize;
        Ok(QueueMap {
            lifo: attr.map_type == MapType::Stack,
            cap,
            values: ValueSlab::new(platform, cap, 1, attr.value_size as usize)?,
            state: SpinLock::new(platform, LockClass::QueueState, State { head: 0, len: 0 })?,
        })
    }

    /// Bytes `new` allocates for `attr`.
    pub(crate) fn footprint(attr: &MapAttr) -> Option<u64> {
        super::slab_bytes(attr.max_entries as u64, 1, attr.value_size)
    }

    /// Pushes `value` (`value_size` bytes).
    pub fn push(&self, value: &[u8], mode: u64) -> Result<(), Errno> {
        if mode == BPF_NOEXIST || mode > BPF_EXIST {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock();
        if st.len == self.cap {
            if mode != BPF_EXIST {
                return Err(Errno::E2BIG);
            }
            st.head = (st.head + 1) % self.cap;
            st.len -= 1;
        }
        let slot = (st.head + st.len) % self.cap;
        // Without a lock to take, a copy cannot fail.
        let _ = self
            .values
            .write_all(slot, value, super::slab::LockSpec::PLAIN);
        st.len += 1;
        Ok(())
    }

    /// Removes the next value (oldest for a queue, newest for a stack) and
    /// hands it to `f`.
    pub fn pop_with<E>(
        &self,
        f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Errno> {
        self.take(true, f)
    }

    /// Hands the next value to `f` without removing it.
    pub fn peek_with<E>(
        &self,
        f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Errno> {
        self.take(false, f)
    }

    fn take<E>(
        &self,
        remove: bool,
        f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Errno> {
        let mut st = self.state.lock();
        if st.len == 0 {
            return Err(Errno::ENOENT);
        }
        let slot = if self.lifo {
            (st.head + st.len - 1) % self.cap
        } else {
            st.head
        };
        // SAFETY: the slot lies in the slab; no program holds a pointer into
        // a queue, and we hold the lock, so nobody writes it meanwhile.
        let value = unsafe {
            core::slice::from_raw_parts(self.values.ptr(slot, 0), self.values.value_size())
        };
        let result = f(value);
        if remove && result.is_ok() {
            if !self.lifo {
                st.head = (st.head + 1) % self.cap;
            }
            st.len -= 1;
        }
        Ok(result)
    }

    pub(crate) fn peek(&self, out: &mut [u8]) -> Result<(), Errno> {
        self.peek_with::<()>(&mut |v| {
            out.copy_from_slice(v);
            Ok(())
        })?
        .map_err(|_| Errno::EINVAL)
    }

    pub(crate) fn pop(&self, out: &mut [u8]) -> Result<(), Errno> {
        self.pop_with::<()>(&mut |v| {
            out.copy_from_slice(v);
            Ok(())
        })?
        .map_err(|_| Errno::EINVAL)
    }
}
