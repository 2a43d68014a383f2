//! The hash maps: `HASH`, `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH` (and
//! the storage of `HASH_OF_MAPS`).
//!
//! Elements are preallocated (`max_entries + 1`, the spare making a
//! replacement atomic) and never freed before the map: a value pointer a
//! program holds always points into the map. Buckets are chains of element
//! indices ending in a "nulls" marker naming the bucket, as Linux's
//! `hlist_nulls`: lookups walk the chains without a lock and restart when a
//! recycled element led them into another bucket. Writers (insert, replace,
//! delete, eviction) serialise on the map's spin lock. docs/maps.md has the
//! full argument.

use core::sync::atomic::{fence, AtomicU32, Ordering};

use super::slab::LockSpec;
use super::slab::{round8, ValueSlab};
use super::update::{BPF_EXIST, BPF_NOEXIST};
use super::{flags, MapAttr, MapType};
use crate::errno::Errno;
use crate::graph::types::Record;
use crate::graph::Graph;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SpinLock};
use crate::shared::Shared;

/// End-of-chain marker bit; the low bits name the bucket.
const NULLS: u32 = 1 << 31;
/// End of the free list: a nulls value no bucket has (buckets are fewer
/// than 2^31 - 1), so a lookup that wandered onto the free list restarts
/// instead of taking it for the end of its own chain.
const FREE_END: u32 = NULLS | (NULLS - 1);
/// How often a lookup restarts after landing in a foreign chain (Linux
/// restarts without bound; a bound keeps a program's run finite under a
/// writer that recycles elements without pause).
const MAX_RESTARTS: usize = 4096;

/// Per-element metadata, kept apart from keys and values.
#[repr(C)]
struct Meta {
    next: AtomicU32,
    hash: AtomicU32,
    /// LRU: set when a program looks the element up (second chance).
    referenced: AtomicU32,
    /// Generation: odd while the element is live, even while it is free.
    /// Freeing and reusing an element each advance it, and its key is
    /// written only while it is even, so a lock-free reader that saw the
    /// same odd value before and after comparing the key has seen a live
    /// element holding that key (a per-element seqcount).
    generation: AtomicU32,
}

impl Meta {
    fn is_live(&self) -> bool {
        self.generation.load(Ordering::Relaxed) & 1 == 1
    }
}

/// A live element as a lock-free reader confirmed it: its index and the
/// generation it had. It may be freed at any moment afterwards; anything
/// read from it is still valid if the generation is unchanged after the
/// read ([`HashTable::still`]).
#[derive(Clone, Copy)]
struct Seen {
    index: u32,
    generation: u32,
}

struct State {
    /// Head of the free list (linked through `next`), or FREE_END.
    free: u32,
    count: u32,
    /// LRU clock hand.
    hand: u32,
}

pub(crate) struct HashTable {
    key_size: usize,
    key_stride: usize,
    max_entries: u32,
    slots: u32,
    bucket_mask: u32,
    seed: u32,
    lru: bool,
    buckets: PlatformBuf,
    /// Per-bucket change counters (odd while a writer changes the chain):
    /// a lookup reports a miss only if its bucket did not change while it
    /// walked, so a reader led astray by a recycled element cannot take
    /// the end of a chain it did not fully see for a miss.
    seqs: PlatformBuf,
    meta: PlatformBuf,
    keys: PlatformBuf,
    values: ValueSlab,
    /// The values' special fields (their lock, lists, trees, kptrs), never
    /// copied in or out.
    record: Record,
    /// Values holding objects: the graph they belong to
    /// ([`set_graph`](Self::set_graph)).
    objects: Option<Shared<Graph>>,
    state: SpinLock<State>,
}

/// A fast keyed hash over the key bytes (multiply-rotate over 8-byte words,
/// then a final avalanche); the random seed defeats chosen-key flooding.
pub(super) fn hash_bytes(key: &[u8], seed: u32) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (seed as u64) ^ (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    (h ^ (h >> 32)) as u32
}

impl HashTable {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let copies = if attr.map_type.is_percpu() {
            platform.possible_cpus() as usize
        } else {
            1
        };
        let slots = attr.max_entries.checked_add(1).ok_or(Errno::E2BIG)?;
        let n_buckets = attr
            .max_entries
            .checked_next_power_of_two()
            .ok_or(Errno::E2BIG)?;
        let key_stride = round8(attr.key_size as usize);
        let ctx = AllocContext::MaySleep;
        let buckets = PlatformBuf::new(platform, n_buckets as usize * 4, ctx)?;
        let seqs = PlatformBuf::new(platform, n_buckets as usize * 4, ctx)?;
        let meta = PlatformBuf::new(platform, slots as usize * size_of::<Meta>(), ctx)?;
        let keys = PlatformBuf::new(platform, slots as usize * key_stride, ctx)?;
        let values = ValueSlab::new(platform, slots as usize, copies, attr.value_size as usize)?;
        let seed = if attr.flags & flags::BPF_F_ZERO_SEED != 0 {
            0
        } else {
            platform.random_u32()
        };
        let table = HashTable {
            key_size: attr.key_size as usize,
            key_stride,
            max_entries: attr.max_entries,
            slots,
            bucket_mask: n_buckets - 1,
            seed,
            lru: matches!(attr.map_type, MapType::LruHash | MapType::LruPercpuHash),
            buckets,
            seqs,
            meta,
            keys,
            values,
            record: attr.record,
            objects: None,
            state: SpinLock::new(
                platform,
                LockClass::HashBuckets,
                State {
                    free: 0,
                    count: 0,
                    hand: 0,
                },
            )?,
        };
        for b in 0..n_buckets {
            table.bucket(b).store(NULLS | b, Ordering::Relaxed);
        }
        for i in 0..slots {
            let next = if i + 1 < slots { i + 1 } else { FREE_END };
            table.meta(i).next.store(next, Ordering::Relaxed);
        }
        Ok(table)
    }

    pub(crate) fn copies(&self) -> u32 {
        self.values.copies() as u32
    }

    /// Makes the values' lists, trees and kptrs hold objects of `graph`.
    pub(crate) fn set_graph(&mut self, graph: Shared<Graph>) {
        self.objects = Some(graph);
    }

    /// Lets go of the objects element `i`'s value holds (its lists and
    /// trees emptied, its kptrs NULL) and frees its timer: when it leaves
    /// the table, and before it is reused (a program that still held its
    /// value may have stashed one after it left).
    fn drop_objects(&self, i: u32) {
        let value = self.values.ptr(i as usize, 0);
        // SAFETY: the element's value, laid out as the record.
        unsafe { super::slab::free_timer(value, &self.record, self.values.platform()) };
        if let Some(graph) = &self.objects {
            // SAFETY: the element's value, laid out as the record, its
            // objects the graph's.
            unsafe {
                super::slab::drop_objects(value, &self.record, graph, self.values.platform())
            };
        }
    }

    /// Frees every element's timer (the map's users are gone); whether
    /// there was one.
    pub(crate) fn free_timers(&self) -> bool {
        let mut any = false;
        if self.record.timer().is_some() {
            for i in 0..self.slots {
                let value = self.values.ptr(i as usize, 0);
                // SAFETY: the element's value, laid out as the record.
                any |=
                    unsafe { super::slab::free_timer(value, &self.record, self.values.platform()) };
            }
        }
        any
    }

    /// The key of the element whose value is at `value`, copied to `out`;
    /// its length.
    pub(crate) fn key_of_value(&self, value: u64, out: &mut [u8]) -> Option<usize> {
        let i = self.values.element_at(value)?;
        let out = out.get_mut(..self.key_size)?;
        // SAFETY: element i's key lies in the key buffer (i < slots).
        unsafe { core::ptr::copy(self.key_ptr(i as u32), out.as_mut_ptr(), self.key_size) };
        Some(self.key_size)
    }

    /// Bytes `new` allocates for `attr` with `copies` values per element:
    /// buckets and their counters, then per slot its metadata, key and
    /// values.
    pub(crate) fn footprint(attr: &MapAttr, copies: u64) -> Option<u64> {
        let slots = attr.max_entries as u64 + 1;
        let buckets = (attr.max_entries.checked_next_power_of_two()? as u64) * 4 * 2;
        let per_slot = size_of::<Meta>() as u64 + round8(attr.key_size as usize) as u64;
        buckets
            .checked_add(slots.checked_mul(per_slot)?)?
            .checked_add(super::slab_bytes(slots, copies, attr.value_size)?)
    }

    fn bucket(&self, b: u32) -> &AtomicU32 {
        debug_assert!(b <= self.bucket_mask);
        // SAFETY: the bucket array holds bucket_mask + 1 aligned u32s, zeroed
        // or initialised in `new`, accessed only atomically.
        unsafe { AtomicU32::from_ptr((self.buckets.as_ptr() as *mut u32).add(b as usize)) }
    }

    fn seq(&self, b: u32) -> &AtomicU32 {
        debug_assert!(b <= self.bucket_mask);
        // SAFETY: as for `bucket`: one zeroed u32 per bucket, atomics only.
        unsafe { AtomicU32::from_ptr((self.seqs.as_ptr() as *mut u32).add(b as usize)) }
    }

    /// Runs `change` (a writer's change to bucket `b`'s chain, under the
    /// map lock) with the bucket's counter odd, as a seqlock writer.
    fn change_bucket<R>(&self, b: u32, change: impl FnOnce() -> R) -> R {
        let seq = self.seq(b);
        seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        let r = change();
        seq.fetch_add(1, Ordering::Release);
        r
    }

    fn meta(&self, i: u32) -> &Meta {
        debug_assert!(i < self.slots);
        // SAFETY: `slots` Meta records of atomics, aligned by the buffer;
        // accessed only through atomics.
        unsafe { &*(self.meta.as_ptr() as *const Meta).add(i as usize) }
    }

    fn key_ptr(&self, i: u32) -> *mut u8 {
        // SAFETY: i < slots, so the key lies inside the key buffer.
        unsafe { self.keys.as_ptr().add(i as usize * self.key_stride) }
    }

    /// Compares element `i`'s key with `key`. The key may be rewritten
    /// concurrently if the element is recycled; the comparison then fails
    /// or the caller's nulls check restarts the walk.
    fn key_eq(&self, i: u32, key: &[u8]) -> bool {
        let p = self.key_ptr(i);
        key.iter().enumerate().all(|(n, b)| {
            // SAFETY: n < key_size: inside element i's key; volatile because
            // a writer may recycle the element under us.
            unsafe { p.add(n).read_volatile() == *b }
        })
    }

    fn bucket_of(&self, hash: u32) -> u32 {
        hash & self.bucket_mask
    }

    /// Finds `key` without the lock: the element that held it, live, at
    /// some instant during the call. A walk may be led by recycled elements
    /// onto another chain or the free list, where a stale copy of the key
    /// can sit: a match counts only if the element's generation was odd
    /// (live) and unchanged across the key comparison.
    fn find(&self, key: &[u8], hash: u32) -> Option<Seen> {
        let b = self.bucket_of(hash);
        for _ in 0..MAX_RESTARTS {
            let before = self.seq(b).load(Ordering::Acquire);
            let mut cur = self.bucket(b).load(Ordering::Acquire);
            let mut steps = 0;
            while cur & NULLS == 0 && steps <= self.slots {
                let m = self.meta(cur);
                let generation = m.generation.load(Ordering::Acquire);
                if generation & 1 == 1
                    && m.hash.load(Ordering::Relaxed) == hash
                    && self.key_eq(cur, key)
                {
                    let seen = Seen {
                        index: cur,
                        generation,
                    };
                    if self.still(seen) {
                        return Some(seen);
                    }
                }
                cur = m.next.load(Ordering::Acquire);
                steps += 1;
            }
            // A miss counts only if the walk ended in this bucket and the
            // bucket did not change meanwhile.
            fence(Ordering::Acquire);
            if cur == NULLS | b && before & 1 == 0 && self.seq(b).load(Ordering::Relaxed) == before
            {
                return None;
            }
            core::hint::spin_loop();
        }
        None
    }

    /// Whether the element `seen` confirmed is still the same live element:
    /// what was read from it since is then its own key and value.
    fn still(&self, seen: Seen) -> bool {
        fence(Ordering::Acquire);
        self.meta(seen.index).generation.load(Ordering::Relaxed) == seen.generation
    }

    /// Finds `key` under the lock: returns the element and its predecessor
    /// link.
    fn find_locked(&self, key: &[u8], hash: u32) -> Option<(u32, &AtomicU32)> {
        let mut link = self.bucket(self.bucket_of(hash));
        let mut cur = link.load(Ordering::Relaxed);
        while cur & NULLS == 0 {
            let m = self.meta(cur);
            if m.hash.load(Ordering::Relaxed) == hash && self.key_eq(cur, key) {
                return Some((cur, link));
            }
            link = &m.next;
            cur = link.load(Ordering::Relaxed);
        }
        None
    }

    /// Takes a free element (evicting one in an LRU map that is full).
    fn alloc_elem(&self, st: &mut State, replacing: bool) -> Result<u32, Errno> {
        if !replacing && st.count >= self.max_entries {
            if !self.lru {
                return Err(Errno::E2BIG);
            }
            self.evict(st)?;
        }
        let i = st.free;
        if i & NULLS != 0 {
            return Err(Errno::E2BIG);
        }
        st.free = self.meta(i).next.load(Ordering::Relaxed);
        Ok(i)
    }

    fn free_elem(&self, st: &mut State, i: u32) {
        let m = self.meta(i);
        // Odd to even: readers that confirmed this element see the change.
        m.generation.fetch_add(1, Ordering::Release);
        m.next.store(st.free, Ordering::Release);
        st.free = i;
    }

    /// Second-chance clock over the slots: a referenced element loses its
    /// mark and is passed over; the first unreferenced one is evicted.
    fn evict(&self, st: &mut State) -> Result<(), Errno> {
        for _ in 0..2 * self.slots + 1 {
            let i = st.hand;
            st.hand = (st.hand + 1) % self.slots;
            let m = self.meta(i);
            if !m.is_live() {
                continue;
            }
            if m.referenced.swap(0, Ordering::Relaxed) != 0 {
                continue;
            }
            let hash = m.hash.load(Ordering::Relaxed);
            let mut key = [0u8; super::MAX_KEY_SIZE as usize];
            // SAFETY: element i's key lies in the key buffer; we hold the lock.
            unsafe { core::ptr::copy(self.key_ptr(i), key.as_mut_ptr(), self.key_size) };
            if let Some((found, link)) = self.find_locked(&key[..self.key_size], hash) {
                self.change_bucket(self.bucket_of(hash), || {
                    link.store(
                        self.meta(found).next.load(Ordering::Relaxed),
                        Ordering::Release,
                    );
                    self.free_elem(st, found);
                });
                st.count -= 1;
                self.drop_objects(found);
                return Ok(());
            }
        }
        Err(Errno::E2BIG)
    }

    /// Insert or replace; `fill` writes the new element's values.
    fn upsert(
        &self,
        key: &[u8],
        mode: u64,
        in_place: Option<&dyn Fn(u32) -> Result<(), Errno>>,
        fill: &dyn Fn(u32) -> Result<(), Errno>,
        on_old: &mut dyn FnMut(*const u8),
    ) -> Result<(), Errno> {
        let hash = hash_bytes(key, self.seed);
        let mut st = self.state.lock();
        let existing = self.find_locked(key, hash);
        match (mode, &existing) {
            (BPF_NOEXIST, Some(_)) => return Err(Errno::EEXIST),
            (BPF_EXIST, None) => return Err(Errno::ENOENT),
            _ => {}
        }
        if let (Some((i, _)), Some(update)) = (existing, in_place) {
            return update(i);
        }
        let new = self.alloc_elem(&mut st, existing.is_some())?;
        // Unpublished and free (even generation): no reader relies on it.
        self.drop_objects(new);
        if let Err(e) = fill(new) {
            self.meta(new).next.store(st.free, Ordering::Relaxed);
            st.free = new;
            return Err(e);
        }
        // The eviction may have changed the chain: look again.
        let existing = self.find_locked(key, hash);
        let st = &mut *st;
        let mut replaced = None;
        self.change_bucket(self.bucket_of(hash), || {
            // SAFETY: `new` is free: no reader can rely on its key.
            unsafe { core::ptr::copy(key.as_ptr(), self.key_ptr(new), key.len()) };
            let m = self.meta(new);
            m.hash.store(hash, Ordering::Relaxed);
            m.referenced.store(0, Ordering::Relaxed);
            // Even to odd, after the key and value: a reader that sees the
            // new generation sees them.
            m.generation.fetch_add(1, Ordering::Release);
            match existing {
                Some((old, link)) => {
                    // Replace in one store: readers see the old or the new
                    // element, never neither.
                    m.next.store(
                        self.meta(old).next.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                    link.store(new, Ordering::Release);
                    on_old(self.values.ptr(old as usize, 0));
                    self.free_elem(st, old);
                    replaced = Some(old);
                }
                None => {
                    let head = self.bucket(self.bucket_of(hash));
                    m.next
                        .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
                    head.store(new, Ordering::Release);
                    st.count += 1;
                }
            }
        });
        if let Some(old) = replaced {
            self.drop_objects(old);
        }
        Ok(())
    }

    pub(crate) fn update_user(
        &self,
        key: &[u8],
        value: &[u8],
        mode: u64,
        lock: LockSpec,
    ) -> Result<(), Errno> {
        self.update_with_old(key, value, mode, lock, &mut |_| {})
    }

    /// Update from userspace; `on_old` sees the replaced value under the
    /// lock (map-in-map releases the old inner map).
    pub(crate) fn update_with_old(
        &self,
        key: &[u8],
        value: &[u8],
        mode: u64,
        lock: LockSpec,
        on_old: &mut dyn FnMut(*const u8),
    ) -> Result<(), Errno> {
        let write_in_place = |i: u32| self.values.write_all(i as usize, value, lock);
        // BPF_F_LOCK updates an existing element in place, under its lock;
        // per-CPU elements are updated in place as on Linux.
        let in_place: Option<&dyn Fn(u32) -> Result<(), Errno>> =
            if lock.take || self.values.copies() > 1 {
                Some(&write_in_place)
            } else {
                None
            };
        self.upsert(
            key,
            mode,
            in_place,
            &|i| self.values.write_all(i as usize, value, lock.unlocked()),
            on_old,
        )
    }

    pub(crate) fn prog_update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: u64,
        lock: LockSpec,
        cpu: u32,
    ) -> Result<(), Errno> {
        let copy = cpu as usize % self.values.copies();
        if self.values.copies() > 1 {
            let one = |i: u32| {
                self.values
                    .write_one(i as usize, copy, value, false, lock.unlocked())
            };
            return self.upsert(
                key,
                mode,
                Some(&one),
                &|i| {
                    self.values
                        .write_one(i as usize, copy, value, true, lock.unlocked())
                },
                &mut |_| {},
            );
        }
        let locked = |i: u32| {
            // SAFETY: the value lies in the slab and has value_size bytes.
            unsafe {
                super::slab::copy_value_in(
                    self.values.ptr(i as usize, 0),
                    value,
                    lock,
                    self.values.platform(),
                )
            }
        };
        let in_place: Option<&dyn Fn(u32) -> Result<(), Errno>> =
            if lock.take { Some(&locked) } else { None };
        self.upsert(
            key,
            mode,
            in_place,
            &|i| {
                self.values
                    .write_one(i as usize, 0, value, false, lock.unlocked())
            },
            &mut |_| {},
        )
    }

    pub(crate) fn lookup_user(
        &self,
        key: &[u8],
        out: &mut [u8],
        lock: LockSpec,
    ) -> Result<(), Errno> {
        let hash = hash_bytes(key, self.seed);
        for _ in 0..MAX_RESTARTS {
            let seen = self.find(key, hash).ok_or(Errno::ENOENT)?;
            self.values.read_all(seen.index as usize, out, lock)?;
            // Recycled during the copy: the bytes may be another key's.
            if self.still(seen) {
                return Ok(());
            }
        }
        Err(Errno::ENOENT)
    }

    pub(crate) fn prog_lookup(&self, key: &[u8], cpu: u32) -> u64 {
        let hash = hash_bytes(key, self.seed);
        match self.find(key, hash) {
            Some(Seen { index: i, .. }) => {
                if self.lru {
                    let r = &self.meta(i).referenced;
                    if r.load(Ordering::Relaxed) == 0 {
                        r.store(1, Ordering::Relaxed);
                    }
                }
                self.values
                    .ptr(i as usize, cpu as usize % self.values.copies()) as u64
            }
            None => 0,
        }
    }

    /// Unlinks element `i` (of `hash`, after `link`) and frees it.
    fn unlink(&self, st: &mut State, hash: u32, i: u32, link: &AtomicU32) {
        self.change_bucket(self.bucket_of(hash), || {
            link.store(self.meta(i).next.load(Ordering::Relaxed), Ordering::Release);
            self.free_elem(st, i);
        });
        st.count -= 1;
        self.drop_objects(i);
    }

    /// Delete; `on_old` sees the value under the lock before the element
    /// is recycled.
    pub(crate) fn delete(
        &self,
        key: &[u8],
        on_old: &mut dyn FnMut(*const u8),
    ) -> Result<(), Errno> {
        let hash = hash_bytes(key, self.seed);
        let mut st = self.state.lock();
        let (i, link) = self.find_locked(key, hash).ok_or(Errno::ENOENT)?;
        on_old(self.values.ptr(i as usize, 0));
        self.unlink(&mut st, hash, i, link);
        Ok(())
    }

    pub(crate) fn lookup_and_delete(&self, key: &[u8], out: &mut [u8]) -> Result<(), Errno> {
        let hash = hash_bytes(key, self.seed);
        let mut st = self.state.lock();
        let (i, link) = self.find_locked(key, hash).ok_or(Errno::ENOENT)?;
        self.values
            .read_all(i as usize, out, LockSpec::new(&self.record, false))?;
        self.unlink(&mut st, hash, i, link);
        Ok(())
    }

    /// Iteration order: bucket by bucket, chain order within a bucket.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        let _st = self.state.lock();
        let mut start_bucket = 0;
        if let Some(key) = key {
            let hash = hash_bytes(key, self.seed);
            if let Some((i, _)) = self.find_locked(key, hash) {
                let after = self.meta(i).next.load(Ordering::Relaxed);
                if after & NULLS == 0 {
                    // SAFETY: `after` is a live element; we hold the lock.
                    unsafe {
                        core::ptr::copy(self.key_ptr(after), next.as_mut_ptr(), self.key_size)
                    };
                    return Ok(());
                }
                start_bucket = self.bucket_of(hash) + 1;
            }
        }
        for b in start_bucket..=self.bucket_mask {
            let head = self.bucket(b).load(Ordering::Relaxed);
            if head & NULLS == 0 {
                // SAFETY: as above.
                unsafe { core::ptr::copy(self.key_ptr(head), next.as_mut_ptr(), self.key_size) };
                return Ok(());
            }
        }
        Err(Errno::ENOENT)
    }

    pub(crate) fn contains(&self, addr: u64, len: u64) -> bool {
        self.values.contains(addr, len)
    }

    /// Visits live elements (a snapshot of their indices is not taken: as
    /// on Linux, concurrent updates may be seen or not).
    pub(crate) fn for_each(&self, cpu: u32, f: &mut dyn FnMut(&[u8], u64) -> bool) -> u64 {
        let copy = cpu as usize % self.values.copies();
        let mut key = [0u8; super::MAX_KEY_SIZE as usize];
        let mut visited = 0;
        for b in 0..=self.bucket_mask {
            let mut cur = self.bucket(b).load(Ordering::Acquire);
            let mut steps = 0;
            while cur & NULLS == 0 && steps <= self.slots {
                let m = self.meta(cur);
                let seen = Seen {
                    index: cur,
                    generation: m.generation.load(Ordering::Acquire),
                };
                // SAFETY: element `cur`'s key lies in the key buffer.
                unsafe { core::ptr::copy(self.key_ptr(cur), key.as_mut_ptr(), self.key_size) };
                cur = m.next.load(Ordering::Acquire);
                steps += 1;
                // Freed or recycled while copied: not an element of this
                // walk (its successor leads to the free list and ends it).
                if seen.generation & 1 == 0 || !self.still(seen) {
                    continue;
                }
                visited += 1;
                if !f(
                    &key[..self.key_size],
                    self.values.ptr(seen.index as usize, copy) as u64,
                ) {
                    return visited;
                }
            }
        }
        visited
    }

    /// Reads the first 8 bytes of the value of `key` (map-in-map slots).
    pub(crate) fn find_word(&self, key: &[u8]) -> Option<u64> {
        let seen = self.find(key, hash_bytes(key, self.seed))?;
        let p = self.values.ptr(seen.index as usize, 0);
        // The word read after the element was confirmed live is this
        // element's or a later occupant's; an object unpublished since the
        // confirmation is released only after a grace period, which waits
        // for the caller's read-side section (docs/maps.md).
        // SAFETY: object maps store one aligned u64 per element.
        Some(unsafe { AtomicU64Ref::load(p) })
    }

    /// Every live element's first value word, under the lock, then empties
    /// the table (map-in-map teardown).
    pub(crate) fn drain_words(&self, f: &mut dyn FnMut(u64)) {
        let mut st = self.state.lock();
        for b in 0..=self.bucket_mask {
            let head = self.bucket(b);
            let mut cur = head.load(Ordering::Relaxed);
            self.change_bucket(b, || head.store(NULLS | b, Ordering::Release));
            while cur & NULLS == 0 {
                let next = self.meta(cur).next.load(Ordering::Relaxed);
                // SAFETY: as in find_word.
                f(unsafe { AtomicU64Ref::load(self.values.ptr(cur as usize, 0)) });
                st.count -= 1;
                self.free_elem(&mut st, cur);
                cur = next;
            }
        }
    }
}

/// Atomic access to an aligned u64 inside map memory.
struct AtomicU64Ref;

impl AtomicU64Ref {
    /// # Safety
    /// `p` is 8-byte aligned and inside live map memory.
    unsafe fn load(p: *const u8) -> u64 {
        // SAFETY: per the contract.
        unsafe { core::sync::atomic::AtomicU64::from_ptr(p as *mut u64) }.load(Ordering::Acquire)
    }
}

impl Drop for HashTable {
    fn drop(&mut self) {
        // Its timers first: a callback still running ends before the map
        // goes (it reads the map).
        if self.free_timers() {
            self.values.platform().synchronize();
        }
        // The map goes: so do the objects its values hold (free elements'
        // too: a program may have stashed one after its element left).
        for i in 0..self.slots {
            self.drop_objects(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hash_bytes;

    #[test]
    fn hash_depends_on_every_byte_and_the_seed() {
        let a = hash_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 7);
        assert_ne!(a, hash_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 8], 7));
        assert_ne!(a, hash_bytes(&[0, 2, 3, 4, 5, 6, 7, 8, 9], 7));
        assert_ne!(a, hash_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 8));
        assert_ne!(hash_bytes(&[0; 4], 0), hash_bytes(&[0; 5], 0));
    }
}
