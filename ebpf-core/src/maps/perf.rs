//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: the channel `bpf_perf_event_output`
//! writes records into, one buffer per slot (programs usually pick the
//! slot of the CPU they run on, `BPF_F_CURRENT_CPU`).
//!
//! On Linux a slot holds a perf event that userspace opened and maps; here
//! each slot has a buffer of its own from the map's creation
//! ([`SLOT_BYTES`], a ring of records as [`RingBuf`] keeps them), which
//! userspace *enables* by storing any value in the slot (where Linux
//! stores the perf event's descriptor) and disables by deleting it; the
//! consumer reads a slot's records through the device
//! (`RINGBUF_CONSUME` with the slot's index). Output to a disabled slot is
//! `-ENOENT`, to a full buffer `-ENOSPC` (the record is counted as lost),
//! as Linux answers. Buffers are never freed before the map, so enabling
//! and disabling race with no program.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::ringbuf::RingBuf;
use super::{MapAttr, MapType};
use crate::errno::Errno;
use crate::platform::PlatformRef;

/// Bytes of each slot's buffer.
pub const SLOT_BYTES: u32 = 64 * 1024;

/// `BPF_F_INDEX_MASK`: the slot in `bpf_perf_event_output`'s flags.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`: the slot of the CPU the program runs on.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// `BPF_F_CTXLEN_MASK`: how many bytes of the packet to append (skb and
/// XDP programs).
pub const BPF_F_CTXLEN_MASK: u64 = 0xf_ffff << 32;

pub(crate) fn validate(attr: &MapAttr) -> Result<(), Errno> {
    if attr.key_size != 4 || attr.value_size != 4 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

struct Slot {
    ring: RingBuf,
    enabled: AtomicBool,
    lost: AtomicU64,
}

/// A perf event array.
pub struct PerfEventArray {
    slots: Vec<Slot>,
}

impl PerfEventArray {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let ring = MapAttr::new(MapType::RingBuf, 0, 0, SLOT_BYTES);
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(attr.max_entries as usize)
            .map_err(|_| Errno::ENOMEM)?;
        for _ in 0..attr.max_entries {
            slots.push(Slot {
                ring: RingBuf::new(platform, &ring)?,
                enabled: AtomicBool::new(false),
                lost: AtomicU64::new(0),
            });
        }
        Ok(PerfEventArray { slots })
    }

    /// Bytes `new` allocates for `attr`: a buffer per slot.
    pub(crate) fn footprint(attr: &MapAttr) -> Option<u64> {
        (attr.max_entries as u64).checked_mul(SLOT_BYTES as u64)
    }

    fn slot(&self, key: &[u8]) -> Result<&Slot, Errno> {
        let index = u32::from_ne_bytes(key.try_into().map_err(|_| Errno::EINVAL)?);
        self.slots.get(index as usize).ok_or(Errno::E2BIG)
    }

    /// Enables the slot `key` (userspace stores a value there).
    pub fn enable(&self, key: &[u8]) -> Result<(), Errno> {
        self.slot(key)?.enabled.store(true, Ordering::Release);
        Ok(())
    }

    /// Disables the slot `key`; `ENOENT` if it was not enabled.
    pub fn disable(&self, key: &[u8]) -> Result<(), Errno> {
        if self.slot(key)?.enabled.swap(false, Ordering::AcqRel) {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// Writes one record made of `parts` into slot `index`: `E2BIG` past
    /// the last slot, `ENOENT` for a disabled one, `ENOSPC` when its buffer
    /// is full (the record is lost and counted).
    pub fn output(&self, index: u64, parts: &[&[u8]]) -> Result<(), Errno> {
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| self.slots.get(i))
            .ok_or(Errno::E2BIG)?;
        if !slot.enabled.load(Ordering::Acquire) {
            return Err(Errno::ENOENT);
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let Some(addr) = slot.ring.reserve(len as u64) else {
            slot.lost.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::ENOSPC);
        };
        let mut at = addr as *mut u8;
        for p in parts {
            // SAFETY: the record was reserved for us: `len` bytes at
            // `addr`, which the parts fill in order.
            unsafe {
                core::ptr::copy_nonoverlapping(p.as_ptr(), at, p.len());
                at = at.add(p.len());
            }
        }
        slot.ring.commit(addr, false);
        Ok(())
    }

    /// The buffer of slot `index`, for its consumer.
    pub fn ring(&self, index: u32) -> Option<&RingBuf> {
        self.slots.get(index as usize).map(|s| &s.ring)
    }

    /// Records lost on slot `index` because its buffer was full.
    pub fn lost(&self, index: u32) -> u64 {
        self.slots
            .get(index as usize)
            .map_or(0, |s| s.lost.load(Ordering::Relaxed))
    }
}
