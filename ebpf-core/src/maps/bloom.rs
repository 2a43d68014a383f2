//! `BPF_MAP_TYPE_BLOOM_FILTER`: a set that answers "maybe present" or
//! "surely absent". Values are pushed (never removed); a peek of a value
//! is 0 when every one of its bits is set, `ENOENT` otherwise.
//!
//! Sized as Linux sizes it: `map_extra` hash functions (1 to 15, 5 when 0)
//! and a bit array of `max_entries * hashes * 7 / 5` bits rounded up to a
//! power of two (at least 64), for a false positive rate near 1% at
//! capacity. Each hash function is the map's hash of the value with the
//! seed plus its index (the seed is random unless `BPF_F_ZERO_SEED`).
//! Bits are set with atomic ORs: pushes and peeks never lock.

use core::sync::atomic::{AtomicU64, Ordering};

use super::{flags, MapAttr};
use crate::errno::Errno;
use crate::platform::{AllocContext, PlatformBuf, PlatformRef};

/// Hash functions when `map_extra` says 0 (Linux's default).
const DEFAULT_HASHES: u32 = 5;
/// The most `map_extra` may ask for.
const MAX_HASHES: u64 = 15;

pub(crate) fn validate(attr: &MapAttr) -> Result<(), Errno> {
    if attr.key_size != 0 || attr.value_size == 0 || attr.extra > MAX_HASHES {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn hashes(attr: &MapAttr) -> u32 {
    match attr.extra as u32 {
        0 => DEFAULT_HASHES,
        n => n,
    }
}

/// Bits of the array for `attr`, or `None` past what a map may hold.
fn bits(attr: &MapAttr) -> Option<u64> {
    let wanted = (attr.max_entries as u64)
        .checked_mul(hashes(attr) as u64)?
        .checked_mul(7)?
        / 5;
    let bits = wanted.max(64).checked_next_power_of_two()?;
    (bits <= 1 << 34).then_some(bits)
}

/// A bloom filter.
pub struct BloomFilter {
    words: PlatformBuf,
    mask: u64,
    hashes: u32,
    seed: u32,
}

impl BloomFilter {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let bits = bits(attr).ok_or(Errno::E2BIG)?;
        let seed = if attr.flags & flags::BPF_F_ZERO_SEED != 0 {
            0
        } else {
            platform.random_u32()
        };
        Ok(BloomFilter {
            words: PlatformBuf::new(platform, (bits / 8) as usize, AllocContext::MaySleep)?,
            mask: bits - 1,
            hashes: hashes(attr),
            seed,
        })
    }

    /// Bytes `new` allocates for `attr`: the bit array.
    pub(crate) fn footprint(attr: &MapAttr) -> Option<u64> {
        bits(attr).map(|b| b / 8)
    }

    fn word(&self, bit: u64) -> &AtomicU64 {
        // SAFETY: `bit` is masked to the array, whose words are 8-aligned
        // (a fresh, zeroed platform allocation) and only accessed
        // atomically.
        unsafe { AtomicU64::from_ptr(self.words.as_ptr().add((bit / 64 * 8) as usize).cast()) }
    }

    fn bits_of<'a>(&'a self, value: &'a [u8]) -> impl Iterator<Item = u64> + 'a {
        (0..self.hashes).map(move |i| {
            super::hash::hash_bytes(value, self.seed.wrapping_add(i)) as u64 & self.mask
        })
    }

    /// Adds `value` (`bpf_map_push_elem`, or an update from userspace):
    /// only `BPF_ANY` is allowed.
    pub fn push(&self, value: &[u8], mode: u64) -> Result<(), Errno> {
        if mode != super::update::BPF_ANY {
            return Err(Errno::EINVAL);
        }
        for bit in self.bits_of(value) {
            self.word(bit).fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether `value` may have been added (`bpf_map_peek_elem`):
    /// `ENOENT` when it surely was not.
    pub fn peek(&self, value: &[u8]) -> Result<(), Errno> {
        let all = self
            .bits_of(value)
            .all(|bit| self.word(bit).load(Ordering::Relaxed) & (1 << (bit % 64)) != 0);
        if all {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }
}
