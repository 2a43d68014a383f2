//! `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match over keys
//! `struct bpf_lpm_trie_key { u32 prefixlen; u8 data[]; }` (IPv4: 4 data
//! bytes, IPv6: 16). Lookups return the value of the longest stored prefix
//! that matches the first `prefixlen` bits of the key; updates and deletes
//! name a prefix exactly.
//!
//! Prefixes are kept in a list ordered by decreasing length, so the first
//! match is the longest. Every operation holds the map's spin lock; the
//! longest an operation holds it is one pass over the prefixes.

use core::sync::atomic::{AtomicU32, Ordering};

use super::slab::{round8, LockSpec, ValueSlab};
use super::update::{BPF_EXIST, BPF_NOEXIST};
use super::{flags, MapAttr};
use crate::errno::Errno;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SpinLock};

/// Data bytes of a key: 1 to 256, as Linux.
const DATA_MIN: u32 = 1;
const DATA_MAX: u32 = 256;

pub(crate) fn validate(attr: &MapAttr) -> Result<(), Errno> {
    let data = attr.key_size.checked_sub(4).ok_or(Errno::EINVAL)?;
    if !(DATA_MIN..=DATA_MAX).contains(&data)
        || attr.value_size == 0
        || attr.flags & flags::BPF_F_NO_PREALLOC == 0
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

struct State {
    /// Element indices, longest prefix first; `count` of them are used.
    order: PlatformBuf,
    count: usize,
    /// Free element indices, a stack of `free_count`.
    free: PlatformBuf,
    free_count: usize,
}

pub(crate) struct LpmTrie {
    data_size: usize,
    key_stride: usize,
    max_entries: u32,
    keys: PlatformBuf,
    values: ValueSlab,
    state: SpinLock<State>,
    /// `State::count`, readable without the lock: what one lookup scans.
    len: AtomicU32,
}

fn prefix_len(key: &[u8]) -> u32 {
    u32::from_ne_bytes([key[0], key[1], key[2], key[3]])
}

/// Whether the first `bits` bits of `a` and `b` agree.
fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

impl LpmTrie {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let data_size = attr.key_size as usize - 4;
        let key_stride = round8(attr.key_size as usize);
        let n = attr.max_entries as usize;
        let ctx = AllocContext::MaySleep;
        let free = PlatformBuf::new(platform, n * 4, ctx)?;
        for i in 0..n {
            // SAFETY: the buffer holds n aligned u32s; nobody else sees it yet.
            unsafe { (free.as_ptr() as *mut u32).add(i).write((n - 1 - i) as u32) };
        }
        Ok(LpmTrie {
            data_size,
            key_stride,
            max_entries: attr.max_entries,
            keys: PlatformBuf::new(platform, n * key_stride, ctx)?,
            values: ValueSlab::new(platform, n, 1, attr.value_size as usize)?,
            state: SpinLock::new(
                platform,
                LockClass::LpmTrie,
                State {
                    order: PlatformBuf::new(platform, n * 4, ctx)?,
                    count: 0,
                    free,
                    free_count: n,
                },
            )?,
            len: AtomicU32::new(0),
        })
    }

    /// Prefixes stored: a lookup or update scans up to this many.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed) as u64
    }

    /// Bytes `new` allocates for `attr`: per element a free-list and an
    /// order entry, a key and a value.
    pub(crate) fn footprint(attr: &MapAttr) -> Option<u64> {
        let n = attr.max_entries as u64;
        let per = 4 + 4 + round8(attr.key_size as usize) as u64;
        n.checked_mul(per)?
            .checked_add(super::slab_bytes(n, 1, attr.value_size)?)
    }

    fn order<'a>(&self, st: &'a State) -> &'a [AtomicU32] {
        // SAFETY: `order` holds max_entries aligned u32s; we expose them as
        // atomics, and mutate them only under the lock.
        unsafe {
            core::slice::from_raw_parts(
                st.order.as_ptr() as *const AtomicU32,
                self.max_entries as usize,
            )
        }
    }

    /// The stored key of element `i` (only touched under the lock).
    fn key(&self, i: u32) -> &[u8] {
        // SAFETY: i < max_entries; keys are written only under the lock,
        // which every reader of this slice holds.
        unsafe {
            core::slice::from_raw_parts(
                self.keys.as_ptr().add(i as usize * self.key_stride),
                self.data_size + 4,
            )
        }
    }

    fn set_key(&self, i: u32, key: &[u8]) {
        // SAFETY: as in `key`; the caller holds the lock.
        unsafe {
            core::ptr::copy(
                key.as_ptr(),
                self.keys.as_ptr().add(i as usize * self.key_stride),
                key.len(),
            )
        }
    }

    fn check(&self, key: &[u8]) -> Result<u32, Errno> {
        let len = prefix_len(key);
        if len > (self.data_size * 8) as u32 {
            return Err(Errno::EINVAL);
        }
        Ok(len)
    }

    /// Position in `order` of the exact prefix of `key`.
    fn find_exact(&self, st: &State, key: &[u8], len: u32) -> Option<usize> {
        self.order(st)[..st.count].iter().position(|e| {
            let k = self.key(e.load(Ordering::Relaxed));
            prefix_len(k) == len && prefix_eq(&k[4..], &key[4..], len)
        })
    }

    /// The element holding the longest prefix matching `key`.
    fn longest_match(&self, st: &State, key: &[u8]) -> Option<u32> {
        let max = prefix_len(key).min((self.data_size * 8) as u32);
        self.order(st)[..st.count]
            .iter()
            .map(|e| e.load(Ordering::Relaxed))
            .find(|&i| {
                let k = self.key(i);
                let len = prefix_len(k);
                len <= max && prefix_eq(&k[4..], &key[4..], len)
            })
    }

    pub(crate) fn lookup_user(&self, key: &[u8], out: &mut [u8]) -> Result<(), Errno> {
        let st = self.state.lock();
        let i = self.longest_match(&st, key).ok_or(Errno::ENOENT)?;
        self.values.read_all(i as usize, out, LockSpec::PLAIN)
    }

    pub(crate) fn prog_lookup(&self, key: &[u8]) -> u64 {
        let st = self.state.lock();
        match self.longest_match(&st, key) {
            Some(i) => self.values.ptr(i as usize, 0) as u64,
            None => 0,
        }
    }

    pub(crate) fn update(&self, key: &[u8], value: &[u8], mode: u64) -> Result<(), Errno> {
        let len = self.check(key)?;
        let mut st = self.state.lock();
        if let Some(pos) = self.find_exact(&st, key, len) {
            if mode == BPF_NOEXIST {
                return Err(Errno::EEXIST);
            }
            let i = self.order(&st)[pos].load(Ordering::Relaxed);
            return self.values.write_all(i as usize, value, LockSpec::PLAIN);
        }
        if mode == BPF_EXIST {
            return Err(Errno::ENOENT);
        }
        if st.count >= self.max_entries as usize {
            return Err(Errno::ENOSPC);
        }
        if st.free_count == 0 {
            return Err(Errno::ENOSPC);
        }
        st.free_count -= 1;
        // SAFETY: free_count < max_entries u32s in the buffer; under the lock.
        let free = unsafe { (st.free.as_ptr() as *const u32).add(st.free_count).read() };
        self.set_key(free, key);
        // Without a lock to take, a copy cannot fail.
        let _ = self.values.write_all(free as usize, value, LockSpec::PLAIN);
        let order = self.order(&st);
        let at = order[..st.count]
            .iter()
            .position(|e| prefix_len(self.key(e.load(Ordering::Relaxed))) < len)
            .unwrap_or(st.count);
        for j in (at..st.count).rev() {
            order[j + 1].store(order[j].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        order[at].store(free, Ordering::Relaxed);
        st.count += 1;
        self.len.store(st.count as u32, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        let len = self.check(key)?;
        let mut st = self.state.lock();
        let pos = self.find_exact(&st, key, len).ok_or(Errno::ENOENT)?;
        let elem = self.order(&st)[pos].load(Ordering::Relaxed);
        // SAFETY: fewer than max_entries are free; under the lock.
        unsafe {
            (st.free.as_ptr() as *mut u32)
                .add(st.free_count)
                .write(elem)
        };
        st.free_count += 1;
        let order = self.order(&st);
        for j in pos..st.count - 1 {
            order[j].store(order[j + 1].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        st.count -= 1;
        self.len.store(st.count as u32, Ordering::Relaxed);
        Ok(())
    }

    /// Order: longest prefixes first; a missing key restarts at the first.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        let st = self.state.lock();
        let pos = match key {
            Some(k) if prefix_len(k) <= (self.data_size * 8) as u32 => {
                match self.find_exact(&st, k, prefix_len(k)) {
                    Some(p) => p + 1,
                    None => 0,
                }
            }
            _ => 0,
        };
        if pos >= st.count {
            return Err(Errno::ENOENT);
        }
        next.copy_from_slice(self.key(self.order(&st)[pos].load(Ordering::Relaxed)));
        Ok(())
    }

    pub(crate) fn contains(&self, addr: u64, len: u64) -> bool {
        self.values.contains(addr, len)
    }
}
