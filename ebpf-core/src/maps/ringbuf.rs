//! `BPF_MAP_TYPE_RINGBUF`: a multi-producer, single-consumer ring of
//! variable-size records, with Linux's record header (`len` with the BUSY
//! and DISCARD bits, then a 4-byte field) and 8-byte record alignment.
//!
//! Producers (programs) reserve under the map's spin lock, fill the record
//! and commit it by clearing BUSY; the consumer reads committed records in
//! order and advances the consumer position. Linux maps the data area twice
//! so records can wrap; we cannot rely on that on every OS, so a record that
//! would cross the end is preceded by a discarded padding record filling
//! the tail.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::MapAttr;
use crate::errno::Errno;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SleepLock, SpinLock};

/// Record header bit: being written.
pub const BUSY_BIT: u32 = 1 << 31;
/// Record header bit: discarded, to be skipped.
pub const DISCARD_BIT: u32 = 1 << 30;
/// Header bytes before each record.
pub const HDR_SIZE: usize = 8;

/// `bpf_ringbuf_query` flags.
pub mod query {
    /// Bytes not yet consumed.
    pub const BPF_RB_AVAIL_DATA: u64 = 0;
    /// Size of the data area.
    pub const BPF_RB_RING_SIZE: u64 = 1;
    /// Consumer position.
    pub const BPF_RB_CONS_POS: u64 = 2;
    /// Producer position.
    pub const BPF_RB_PROD_POS: u64 = 3;
}

const PAGE_SIZE: u32 = 4096;

pub(crate) fn validate(attr: &MapAttr) -> Result<(), Errno> {
    let size = attr.max_entries;
    if attr.key_size != 0
        || attr.value_size != 0
        || !size.is_power_of_two()
        || size % PAGE_SIZE != 0
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A ring buffer.
pub struct RingBuf {
    data: PlatformBuf,
    mask: u64,
    producer: SpinLock<u64>,
    producer_pos: AtomicU64,
    consumer_pos: AtomicU64,
    consumer: SleepLock<()>,
}

impl RingBuf {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let size = attr.max_entries as usize;
        Ok(RingBuf {
            data: PlatformBuf::new(platform, size, AllocContext::MaySleep)?,
            mask: size as u64 - 1,
            producer: SpinLock::new(platform, LockClass::RingbufProducer, 0)?,
            producer_pos: AtomicU64::new(0),
            consumer_pos: AtomicU64::new(0),
            consumer: SleepLock::new(platform, LockClass::RingbufConsumer, ())?,
        })
    }

    /// Bytes `new` allocates for `attr`: the data area.
    pub(crate) fn footprint(attr: &MapAttr) -> u64 {
        attr.max_entries as u64
    }

    /// Size of the data area.
    pub fn size(&self) -> u64 {
        self.mask + 1
    }

    fn header(&self, pos: u64) -> &AtomicU32 {
        // SAFETY: pos & mask is 8-aligned (records are) and inside the data
        // area; headers are accessed only atomically.
        unsafe {
            AtomicU32::from_ptr(self.data.as_ptr().add((pos & self.mask) as usize) as *mut u32)
        }
    }

    /// Reserves a record of `len` bytes; returns the address of its data,
    /// or `None` when the ring has no room.
    pub fn reserve(&self, len: u64) -> Option<u64> {
        let size = self.size();
        if len > size - HDR_SIZE as u64 || len >= DISCARD_BIT as u64 {
            return None;
        }
        let total = (len + HDR_SIZE as u64 + 7) & !7;
        let mut prod = self.producer.lock();
        let cons = self.consumer_pos.load(Ordering::Acquire);
        let off = *prod & self.mask;
        let pad = if off + total > size { size - off } else { 0 };
        if *prod + pad + total - cons > size {
            return None;
        }
        if pad != 0 {
            // A padding record the consumer skips, so ours starts at 0.
            self.header(*prod).store(
                (pad as u32 - HDR_SIZE as u32) | DISCARD_BIT,
                Ordering::Release,
            );
            *prod += pad;
        }
        let at = *prod;
        self.header(at)
            .store(len as u32 | BUSY_BIT, Ordering::Relaxed);
        *prod += total;
        self.producer_pos.store(*prod, Ordering::Release);
        Some(self.data.as_ptr() as u64 + (at & self.mask) + HDR_SIZE as u64)
    }

    /// Commits (or discards) the record whose data starts at `addr`, which
    /// `reserve` returned and which was not committed yet.
    pub fn commit(&self, addr: u64, discard: bool) {
        let pos = addr - HDR_SIZE as u64 - self.data.as_ptr() as u64;
        let hdr = self.header(pos);
        let len = hdr.load(Ordering::Relaxed) & !BUSY_BIT;
        let len = if discard { len | DISCARD_BIT } else { len };
        hdr.store(len, Ordering::Release);
    }

    /// Copies `data` into a new record (`bpf_ringbuf_output`).
    pub fn output(&self, data: &[u8]) -> Result<(), Errno> {
        let addr = self.reserve(data.len() as u64).ok_or(Errno::EAGAIN)?;
        // SAFETY: the record was reserved for us, data.len() bytes at addr.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        self.commit(addr, false);
        Ok(())
    }

    /// `bpf_ringbuf_query`.
    pub fn query(&self, what: u64) -> u64 {
        let prod = self.producer_pos.load(Ordering::Acquire);
        let cons = self.consumer_pos.load(Ordering::Acquire);
        match what {
            query::BPF_RB_AVAIL_DATA => prod - cons,
            query::BPF_RB_RING_SIZE => self.size(),
            query::BPF_RB_CONS_POS => cons,
            query::BPF_RB_PROD_POS => prod,
            _ => 0,
        }
    }

    /// Whether `addr` is the data of a record in the ring.
    pub fn owns(&self, addr: u64) -> bool {
        self.data
            .contains(addr.wrapping_sub(HDR_SIZE as u64), HDR_SIZE as u64)
    }

    /// Consumes committed records in order, handing each one's data to `f`
    /// (discarded records are skipped), until `f` returns false (that record
    /// stays in the ring), a record is still being written, or the ring is
    /// empty. Returns the number of
    /// records handed to `f`. One consumer at a time; process context.
    pub fn consume(&self, f: &mut dyn FnMut(&[u8]) -> bool) -> usize {
        let _one = self.consumer.lock();
        let mut delivered = 0;
        let mut cons = self.consumer_pos.load(Ordering::Relaxed);
        loop {
            let prod = self.producer_pos.load(Ordering::Acquire);
            if cons >= prod {
                break;
            }
            let hdr = self.header(cons).load(Ordering::Acquire);
            if hdr & BUSY_BIT != 0 {
                break;
            }
            let len = (hdr & !(BUSY_BIT | DISCARD_BIT)) as u64;
            let total = (len + HDR_SIZE as u64 + 7) & !7;
            if hdr & DISCARD_BIT == 0 {
                let start = ((cons & self.mask) as usize) + HDR_SIZE;
                // SAFETY: a committed record lies inside the data area
                // (reserve never lets one cross the end) and producers do
                // not touch it until the consumer position passes it.
                let data = unsafe {
                    core::slice::from_raw_parts(self.data.as_ptr().add(start), len as usize)
                };
                if !f(data) {
                    break;
                }
                delivered += 1;
            }
            cons += total;
            self.consumer_pos.store(cons, Ordering::Release);
        }
        delivered
    }
}
