//! Fixed arrays of values in platform memory, shared by the map types.
//!
//! Values are laid out every `stride` bytes (the value size rounded up to 8,
//! as Linux rounds per-CPU values), `copies` values per element (one per
//! CPU for per-CPU maps). The memory lives as long as the map, so a value
//! pointer a program holds is always valid memory.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::errno::Errno;
use crate::graph::types::Record;
use crate::platform::{AllocContext, PlatformBuf, PlatformRef, ReadGuard};

/// How a value is copied in or out: the special fields of its layout (its
/// `struct bpf_spin_lock`, lists, trees, kptrs) are never copied (in: they
/// stay; out: they read as zero), and with `BPF_F_LOCK` the copy happens
/// under the value's lock.
#[derive(Clone, Copy)]
pub(crate) struct LockSpec<'r> {
    /// The value's special fields.
    pub fields: &'r Record,
    /// Take the value's lock for the copy (`BPF_F_LOCK`).
    pub take: bool,
}

impl LockSpec<'static> {
    /// A copy of a value with no special field.
    pub(crate) const PLAIN: LockSpec<'static> = LockSpec {
        fields: &Record::EMPTY,
        take: false,
    };
}

impl<'r> LockSpec<'r> {
    /// A copy of a value laid out as `fields`, under its lock when `take`.
    pub(crate) fn new(fields: &'r Record, take: bool) -> Self {
        LockSpec { fields, take }
    }

    /// The same copy without taking the lock.
    pub(crate) fn unlocked(self) -> Self {
        LockSpec {
            take: false,
            ..self
        }
    }

    /// The lock to take, if the copy takes one.
    fn lock_to_take(&self) -> Option<usize> {
        self.fields
            .spin_lock()
            .filter(|_| self.take)
            .map(|o| o as usize)
    }
}

/// `value_size` rounded up to 8 bytes.
pub(crate) const fn round8(n: usize) -> usize {
    (n + 7) & !7
}

/// The values of a map.
pub(crate) struct ValueSlab {
    buf: PlatformBuf,
    value_size: usize,
    stride: usize,
    copies: usize,
    elems: usize,
}

impl ValueSlab {
    /// `elems` elements of `copies` zeroed values each.
    pub(crate) fn new(
        platform: PlatformRef,
        elems: usize,
        copies: usize,
        value_size: usize,
    ) -> Result<Self, Errno> {
        let stride = round8(value_size);
        let bytes = elems
            .checked_mul(copies)
            .and_then(|n| n.checked_mul(stride))
            .ok_or(Errno::E2BIG)?;
        Ok(ValueSlab {
            buf: PlatformBuf::new(platform, bytes, AllocContext::MaySleep)?,
            value_size,
            stride,
            copies,
            elems,
        })
    }

    /// Userspace's locked copies hold a value's lock with the CPU pinned
    /// (a read-side section): a holder is never preempted, so a program
    /// spinning on the lock on another CPU waits for one copy at most.
    fn pinned_if_locking(&self, lock_off: LockSpec) -> Option<ReadGuard> {
        lock_off.take.then(|| ReadGuard::new(self.buf.platform()))
    }

    /// The address of copy `copy` of element `elem`.
    pub(crate) fn ptr(&self, elem: usize, copy: usize) -> *mut u8 {
        debug_assert!(elem < self.elems && copy < self.copies);
        // SAFETY: in bounds: elem < elems and copy < copies by the callers'
        // invariants, so the offset is inside the buffer.
        unsafe {
            self.buf
                .as_ptr()
                .add((elem * self.copies + copy) * self.stride)
        }
    }

    /// The platform the values' memory belongs to.
    pub(crate) fn platform(&self) -> PlatformRef {
        self.buf.platform()
    }

    /// Where element `i`'s first value is: `base() + i * stride()`
    /// (with one copy per element).
    pub(crate) fn base(&self) -> u64 {
        self.buf.as_ptr() as u64
    }

    /// Bytes from one element's value to the next's (with one copy).
    pub(crate) fn stride(&self) -> usize {
        self.stride * self.copies
    }

    /// Value size in bytes.
    pub(crate) fn value_size(&self) -> usize {
        self.value_size
    }

    /// Values per element.
    pub(crate) fn copies(&self) -> usize {
        self.copies
    }

    /// The element whose (first) value starts at `addr`.
    pub(crate) fn element_at(&self, addr: u64) -> Option<usize> {
        let rel = addr.checked_sub(self.buf.as_ptr() as u64)?;
        let stride = self.stride() as u64;
        (rel % stride == 0 && rel / stride < self.elems as u64).then_some((rel / stride) as usize)
    }

    /// Whether `len` bytes at `addr` lie inside one value.
    pub(crate) fn contains(&self, addr: u64, len: u64) -> bool {
        if !self.buf.contains(addr, len) {
            return false;
        }
        let rel = (addr - self.buf.as_ptr() as u64) % self.stride as u64;
        rel + len <= self.value_size as u64
    }

    /// Copies all copies of element `elem` out, `stride` bytes each (the
    /// userspace view of a per-CPU value), or the single value.
    pub(crate) fn read_all(
        &self,
        elem: usize,
        out: &mut [u8],
        lock_off: LockSpec,
    ) -> Result<(), Errno> {
        let _pinned = self.pinned_if_locking(lock_off);
        let n = if self.copies == 1 {
            self.value_size
        } else {
            self.stride
        };
        for copy in 0..self.copies {
            let dst = &mut out[copy * self.stride..copy * self.stride + n];
            // SAFETY: the value lies in the slab; map values are shared
            // with running programs, which may write them concurrently as
            // on Linux (no tearing guarantee beyond BPF_F_LOCK).
            unsafe { copy_value_out(self.ptr(elem, copy), dst, lock_off, self.buf.platform()) }?;
        }
        Ok(())
    }

    /// Copies `src` (all copies, `stride` bytes apart, or one value) into
    /// element `elem`.
    pub(crate) fn write_all(
        &self,
        elem: usize,
        src: &[u8],
        lock_off: LockSpec,
    ) -> Result<(), Errno> {
        let _pinned = self.pinned_if_locking(lock_off);
        let n = self.value_size;
        for copy in 0..self.copies {
            let start = if self.copies == 1 {
                0
            } else {
                copy * self.stride
            };
            // SAFETY: as for read_all.
            unsafe {
                copy_value_in(
                    self.ptr(elem, copy),
                    &src[start..start + n],
                    lock_off,
                    self.buf.platform(),
                )
            }?;
        }
        Ok(())
    }

    /// Fills copy `copy` of `elem` with `src` and zeroes its other copies
    /// (a program's update of a per-CPU element that did not exist).
    pub(crate) fn write_one(
        &self,
        elem: usize,
        copy: usize,
        src: &[u8],
        zero_others: bool,
        lock: LockSpec,
    ) -> Result<(), Errno> {
        for c in 0..self.copies {
            let dst = self.ptr(elem, c);
            if c == copy {
                // SAFETY: as for read_all; src holds value_size bytes.
                unsafe { copy_value_in(dst, &src[..self.value_size], lock, self.buf.platform()) }?;
            } else if zero_others {
                // SAFETY: the value lies in the slab.
                unsafe { core::ptr::write_bytes(dst, 0, self.stride) };
            }
        }
        Ok(())
    }
}

/// How long a BPF_F_LOCK operation waits for a value's lock, in attempts.
///
/// How long a lock word is waited for. A holder keeps it for one copy of
/// at most `MAX_VALUE_SIZE` bytes, or for a program's few instructions
/// between `bpf_spin_lock` and `bpf_spin_unlock`, normally microseconds;
/// but a holder's CPU may stall (a virtual CPU the host deschedules), so
/// the wait is a quarter second, as Linux's resilient BPF spin locks wait.
/// The word lies in program-writable memory (a program the verifier did
/// not check can set it), so it can stay set for ever: the operation then
/// fails with `EDEADLK` instead of spinning, and a program's run that hits
/// it fails.
const LOCK_TIMEOUT_NS: u64 = 250_000_000;
/// Attempts between two looks at the clock.
const LOCK_SPINS: u32 = 1 << 10;
/// Attempts at most, whatever the clock says (a clock may stand still).
const LOCK_MAX_SPINS: u64 = 1 << 28;

/// The 4-byte `struct bpf_spin_lock` inside a value, held for one copy.
struct ValueLock<'a>(&'a AtomicU32);

impl<'a> ValueLock<'a> {
    /// # Safety
    /// `p` is 4-byte aligned and lies inside a live value.
    unsafe fn acquire(p: *mut u8, platform: PlatformRef) -> Result<Self, Errno> {
        // SAFETY: per the contract; the word is only accessed atomically.
        let word = unsafe { AtomicU32::from_ptr(p as *mut u32) };
        let mut since = None;
        let mut tries = 0u64;
        loop {
            for _ in 0..LOCK_SPINS {
                if word
                    .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(ValueLock(word));
                }
                platform.spin_relax();
            }
            tries += u64::from(LOCK_SPINS);
            let now = platform.monotonic_ns();
            let start = *since.get_or_insert(now);
            if now.saturating_sub(start) > LOCK_TIMEOUT_NS || tries >= LOCK_MAX_SPINS {
                return Err(Errno::EDEADLK);
            }
        }
    }
}

/// Takes the lock word at `p` for a program (`bpf_spin_lock`), to be
/// released by [`unlock_word`]: waited for at most [`LOCK_TIMEOUT_NS`],
/// then `EDEADLK`.
///
/// # Safety
/// `p` is 4-byte aligned and lies inside a live value.
pub(crate) unsafe fn lock_word(p: *mut u8, platform: PlatformRef) -> Result<(), Errno> {
    // SAFETY: per the contract.
    let held = unsafe { ValueLock::acquire(p, platform) }?;
    core::mem::forget(held);
    Ok(())
}

/// Releases a lock word [`lock_word`] took.
///
/// # Safety
/// As for [`lock_word`].
pub(crate) unsafe fn unlock_word(p: *mut u8) {
    // SAFETY: per the contract; the word is only accessed atomically.
    unsafe { AtomicU32::from_ptr(p as *mut u32) }.store(0, Ordering::Release);
}

impl Drop for ValueLock<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// Copies a value out, its special fields read as zero; with
/// `lock_off.take`, under the value's spin lock.
///
/// # Safety
/// `src` points at a live value of at least `dst.len()` bytes.
pub(crate) unsafe fn copy_value_out(
    src: *const u8,
    dst: &mut [u8],
    lock_off: LockSpec,
    platform: PlatformRef,
) -> Result<(), Errno> {
    // SAFETY: the loader placed a 4-byte aligned lock there.
    let _guard = lock_off
        .lock_to_take()
        .map(|off| unsafe { ValueLock::acquire(src.add(off) as *mut u8, platform) })
        .transpose()?;
    // SAFETY: per the contract.
    unsafe { core::ptr::copy(src, dst.as_mut_ptr(), dst.len()) };
    for f in lock_off.fields.iter() {
        let (start, end) = (f.offset as usize, (f.offset + f.kind.size()) as usize);
        if let Some(bytes) = dst.get_mut(start..end) {
            bytes.fill(0);
        }
    }
    Ok(())
}

/// Copies a value in, leaving its special fields alone; with
/// `lock_off.take`, under the value's spin lock.
///
/// # Safety
/// `dst` points at a live value of at least `src.len()` bytes.
pub(crate) unsafe fn copy_value_in(
    dst: *mut u8,
    src: &[u8],
    lock_off: LockSpec,
    platform: PlatformRef,
) -> Result<(), Errno> {
    // SAFETY: the loader placed a 4-byte aligned lock there.
    let _guard = lock_off
        .lock_to_take()
        .map(|off| unsafe { ValueLock::acquire(dst.add(off), platform) })
        .transpose()?;
    // SAFETY: per the contract.
    unsafe { copy_around(dst, src, lock_off.fields) };
    Ok(())
}

/// Copies `src` into the value at `dst`, every byte but those of the
/// special fields `fields` names (sorted by offset, inside the value).
///
/// # Safety
/// `dst` points at a live value of at least `src.len()` bytes.
pub(crate) unsafe fn copy_around(dst: *mut u8, src: &[u8], fields: &Record) {
    let mut at = 0usize;
    for f in fields.iter() {
        let start = (f.offset as usize).min(src.len());
        // SAFETY: both ranges lie inside the value, before the field.
        unsafe { core::ptr::copy(src.as_ptr().add(at), dst.add(at), start.saturating_sub(at)) };
        at = at.max((f.offset + f.kind.size()) as usize).min(src.len());
    }
    // SAFETY: the rest of the value.
    unsafe { core::ptr::copy(src.as_ptr().add(at), dst.add(at), src.len() - at) };
}

/// Lets go of the objects a live value holds, as Linux's
/// `bpf_obj_free_fields` does when an element is updated or leaves its
/// map: its lists and trees are taken whole under the value's lock, then
/// their objects dropped; its kptrs are cleared atomically and their
/// objects dropped. Programs may still hold the value and use it
/// meanwhile: each field is left valid (empty).
///
/// If the value's lock cannot be had (held for longer than a lock is ever
/// waited for), its lists and trees are left as they are: their objects
/// stay until the value is emptied again, never freed twice.
///
/// # Safety
/// `value` is a live value laid out as `record`, whose objects belong to
/// `graph`.
pub(crate) unsafe fn drop_objects(
    value: *mut u8,
    record: &Record,
    graph: &crate::graph::Graph,
    platform: PlatformRef,
) {
    let mut chains = [(0u64, 0u32); crate::graph::types::MAX_FIELDS];
    if record.has_lists() {
        // The CPU pinned while the lock is held (see ValueSlab).
        let _pinned = ReadGuard::new(platform);
        let lock = record.spin_lock().map(|o| o as usize);
        // SAFETY: a value with lists has a 4-byte aligned lock.
        let locked = lock.map(|off| unsafe { lock_word(value.add(off), platform) });
        if let Some(Ok(())) = locked {
            for (chain, f) in chains.iter_mut().zip(record.iter()) {
                if f.kind.is_root() {
                    // SAFETY: a list head or tree root of the value, its
                    // lock held.
                    let first = unsafe {
                        crate::graph::take_all(f.kind, value as u64 + u64::from(f.offset))
                    };
                    *chain = (first, f.node_offset);
                }
            }
            if let Some(off) = lock {
                // SAFETY: taken above.
                unsafe { unlock_word(value.add(off)) };
            }
        }
    }
    for &(first, node_offset) in &chains {
        // SAFETY: chains no head reaches any more: ours alone.
        unsafe { graph.drop_chain(first, node_offset) };
    }
    // SAFETY: the value's kptrs, exchanged atomically.
    unsafe { graph.free_fields(value as u64, &record.kptrs()) };
}

/// Frees the timer of a live value laid out as `record`, if it has one
/// (Linux's `bpf_obj_free_fields` for a `struct bpf_timer`): never waits,
/// any context. Whether it had one (whose callback may still run).
///
/// # Safety
/// `value` is a live value laid out as `record`.
pub(crate) unsafe fn free_timer(value: *mut u8, record: &Record, platform: PlatformRef) -> bool {
    let Some(off) = record.timer() else {
        return false;
    };
    let _section = ReadGuard::new(platform);
    // SAFETY: the value's timer field (8-byte aligned: `Record::new`),
    // inside a section.
    unsafe { crate::runtime::timer::cancel_and_free(platform, value as u64 + u64::from(off)) }
}
