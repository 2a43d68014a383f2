//! Maps with Linux's semantics: types numbered as `enum bpf_map_type`, the
//! same flags, errnos and iteration rules. Design notes (locking, memory
//! reclamation): `docs/maps.md`.
//!
//! A map is used from two sides:
//! - userspace requests (through the dispatcher, in process context): the
//!   `lookup`/`update`/`delete`/`get_next_key`/... methods, which copy
//!   values in and out;
//! - running programs (through the helpers, inside a read-side section):
//!   the `prog_*` methods, which hand out the real address of a value.

mod array;
pub mod bloom;
pub use array::InlineArray;
mod hash;
mod lpm;
mod objects;
pub mod perf;
mod program_ref;
mod queue;
pub mod ringbuf;
mod slab;

use crate::errno::Errno;
use crate::graph::types::Record;
use crate::platform::PlatformRef;
use crate::quota::Charge;
use crate::shared::Shared;
pub(crate) use slab::{lock_word, unlock_word};

pub use program_ref::{ProgramHeader, ProgramRef};
pub use queue::QueueMap;
pub use ringbuf::RingBuf;

/// Map types, numbered as Linux's `enum bpf_map_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum MapType {
    Hash = 1,
    Array = 2,
    ProgArray = 3,
    /// Buffers `bpf_perf_event_output` writes records into.
    PerfEventArray = 4,
    PercpuHash = 5,
    PercpuArray = 6,
    LruHash = 9,
    LruPercpuHash = 10,
    LpmTrie = 11,
    ArrayOfMaps = 12,
    HashOfMaps = 13,
    /// Network devices XDP programs redirect to (`bpf_redirect_map`).
    DevMap = 14,
    /// CPUs XDP programs redirect to.
    CpuMap = 16,
    /// AF_XDP sockets XDP programs redirect to.
    XskMap = 17,
    Queue = 22,
    Stack = 23,
    /// Network devices by any key.
    DevMapHash = 25,
    RingBuf = 27,
    /// A set answering "maybe present" or "surely absent".
    BloomFilter = 30,
}

impl MapType {
    /// The type with Linux's number `n`; `EINVAL` for types we do not have.
    pub fn from_u32(n: u32) -> Result<Self, Errno> {
        use MapType::*;
        Ok(match n {
            1 => Hash,
            2 => Array,
            3 => ProgArray,
            4 => PerfEventArray,
            5 => PercpuHash,
            6 => PercpuArray,
            9 => LruHash,
            10 => LruPercpuHash,
            11 => LpmTrie,
            12 => ArrayOfMaps,
            13 => HashOfMaps,
            14 => DevMap,
            16 => CpuMap,
            17 => XskMap,
            22 => Queue,
            23 => Stack,
            25 => DevMapHash,
            27 => RingBuf,
            30 => BloomFilter,
            _ => return Err(Errno::EINVAL),
        })
    }

    /// Linux's map types this runtime does not provide because they hold
    /// the Linux kernel's own objects: Linux's name for type `n` and what
    /// it needs (`None` for types provided here and for unknown numbers).
    pub fn linux_only(n: u32) -> Option<(&'static str, &'static str)> {
        Some(match n {
            7 => ("stack_trace", "call stacks"),
            8 => ("cgroup_array", "cgroups"),
            15 => ("sockmap", "sockets"),
            18 => ("sockhash", "sockets"),
            19 => ("cgroup_storage", "cgroups"),
            20 => ("reuseport_sockarray", "sockets"),
            21 => ("percpu_cgroup_storage", "cgroups"),
            24 => ("sk_storage", "sockets"),
            26 => ("struct_ops", "kernel structures of operations"),
            28 => ("inode_storage", "inodes"),
            29 => ("task_storage", "tasks"),
            31 => ("user_ringbuf", "user ring buffers (bpf_user_ringbuf_drain)"),
            32 => ("cgrp_storage", "cgroups"),
            33 => ("arena", "memory arenas"),
            _ => return None,
        })
    }

    /// Linux's name for the type, as bpftool prints it.
    pub fn name(self) -> &'static str {
        use MapType::*;
        match self {
            Hash => "hash",
            Array => "array",
            ProgArray => "prog_array",
            PerfEventArray => "perf_event_array",
            PercpuHash => "percpu_hash",
            PercpuArray => "percpu_array",
            LruHash => "lru_hash",
            LruPercpuHash => "lru_percpu_hash",
            LpmTrie => "lpm_trie",
            ArrayOfMaps => "array_of_maps",
            HashOfMaps => "hash_of_maps",
            Queue => "queue",
            Stack => "stack",
            RingBuf => "ringbuf",
            BloomFilter => "bloom_filter",
            DevMap => "devmap",
            CpuMap => "cpumap",
            XskMap => "xskmap",
            DevMapHash => "devmap_hash",
        }
    }

    /// Whether XDP programs redirect to what it holds (`bpf_redirect_map`).
    pub fn is_redirect(self) -> bool {
        matches!(
            self,
            MapType::DevMap | MapType::DevMapHash | MapType::CpuMap | MapType::XskMap
        )
    }

    /// Whether each element holds one value per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }
}

/// Update flags (`BPF_ANY`, ...).
pub mod update {
    /// Create or replace.
    pub const BPF_ANY: u64 = 0;
    /// Create only; `EEXIST` if the key exists.
    pub const BPF_NOEXIST: u64 = 1;
    /// Replace only; `ENOENT` if the key does not exist.
    pub const BPF_EXIST: u64 = 2;
    /// Copy the value under its `struct bpf_spin_lock`.
    pub const BPF_F_LOCK: u64 = 4;
}

/// Map creation flags (`map_flags`).
pub mod flags {
    /// Hash: allocate elements on demand (LPM trie: required).
    pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
    /// LRU hash: one LRU list per CPU.
    pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
    /// `numa_node` is meaningful.
    pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
    /// Read-only from userspace.
    pub const BPF_F_RDONLY: u32 = 1 << 3;
    /// Write-only from userspace.
    pub const BPF_F_WRONLY: u32 = 1 << 4;
    /// Hash: do not randomise the hash seed.
    pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
    /// Read-only from programs.
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    /// Write-only from programs.
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
    /// Array: mappable (accepted; the values are plain memory).
    pub const BPF_F_MMAPABLE: u32 = 1 << 10;
    /// Map-in-map: inner maps may differ in `max_entries`.
    pub const BPF_F_INNER_MAP: u32 = 1 << 12;

    /// Flags that only say who may access the map.
    pub(crate) const ACCESS: u32 =
        BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
}

/// The largest key (Linux: keys live on the 512-byte stack).
pub const MAX_KEY_SIZE: u32 = 512;
/// The largest value we accept (Linux: `KMALLOC_MAX_SIZE`; ours is 1 MiB).
pub const MAX_VALUE_SIZE: u32 = 1 << 20;
/// The largest per-CPU value (Linux's `PCPU_MIN_UNIT_SIZE`).
pub const MAX_PERCPU_VALUE_SIZE: u32 = 32 << 10;
/// The largest storage one map may take.
pub const MAX_MAP_BYTES: u64 = 1 << 30;

/// What the inner maps of a map-in-map must look like (Linux takes it from
/// `inner_map_fd` at creation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerTemplate {
    /// Type of the inner maps.
    pub map_type: MapType,
    /// Their key size.
    pub key_size: u32,
    /// Their value size.
    pub value_size: u32,
    /// Their `max_entries` (not checked with `BPF_F_INNER_MAP`).
    pub max_entries: u32,
    /// Their flags.
    pub flags: u32,
    /// The special fields of their values.
    pub record: Record,
}

/// How to create a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapAttr {
    /// The type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU, for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// For array_of_maps and hash_of_maps: the inner map template.
    pub inner: Option<InnerTemplate>,
    /// Linux's `map_extra` (a bloom filter's hash functions); 0 for other
    /// types.
    pub extra: u64,
    /// The special fields of its values: its `struct bpf_spin_lock` (which
    /// enables `BPF_F_LOCK`), lists, trees and kptrs of objects
    /// ([`crate::graph`]); empty for most maps.
    pub record: Record,
}

impl MapAttr {
    /// Attributes with no flags, lock or inner template.
    pub const fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            inner: None,
            extra: 0,
            record: Record::EMPTY,
        }
    }

    /// The same attributes with `flags`.
    pub const fn with_flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// The offset of the values' `struct bpf_spin_lock`, if they have one.
    pub fn spin_lock(&self) -> Option<u32> {
        self.record.spin_lock()
    }

    /// The template an inner map of this shape satisfies.
    pub fn as_template(&self) -> InnerTemplate {
        InnerTemplate {
            map_type: self.map_type,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            flags: self.flags,
            record: self.record,
        }
    }
}

/// A value a map of objects stores: a map (map-in-map) or a program
/// (prog_array).
pub enum MapObject {
    /// An inner map.
    Map(Shared<Map>),
    /// A program, for tail calls.
    Program(ProgramRef),
}

enum Kind {
    Array(array::ArrayMap),
    Hash(hash::HashTable),
    Lpm(lpm::LpmTrie),
    Queue(queue::QueueMap),
    RingBuf(ringbuf::RingBuf),
    Perf(perf::PerfEventArray),
    Bloom(bloom::BloomFilter),
    ProgArray(objects::ObjectArray),
    ArrayOfMaps(objects::ObjectArray),
    HashOfMaps(objects::ObjectHash),
}

/// A map.
pub struct Map {
    attr: MapAttr,
    id: u32,
    footprint: u64,
    /// What it holds of its device's limits, given back when it is freed.
    charge: Option<Charge>,
    kind: Kind,
    /// Its last user reference (handle or pin) is gone: its timers were
    /// freed, and no new one may start ([`release_user_refs`](Self::release_user_refs)).
    released: core::sync::atomic::AtomicBool,
}

/// Bytes of a value slab of `elems` elements of `copies` values each
/// (each rounded up to 8 bytes, as [`slab::ValueSlab`] lays them out).
fn slab_bytes(elems: u64, copies: u64, value_size: u32) -> Option<u64> {
    elems
        .checked_mul(copies)?
        .checked_mul(slab::round8(value_size as usize) as u64)
}

/// Userspace sees per-CPU values as `possible_cpus` values of `value_size`
/// rounded up to 8 bytes.
pub fn user_value_size(attr: &MapAttr, possible_cpus: u32) -> usize {
    if attr.map_type.is_percpu() {
        slab::round8(attr.value_size as usize) * possible_cpus as usize
    } else {
        attr.value_size as usize
    }
}

impl Map {
    /// Creates a map after checking `attr` as Linux does (`EINVAL` for bad
    /// sizes or flags, `E2BIG` for sizes over the limits, `ENOMEM` when
    /// memory is short). `id` is the map's id for listings.
    pub fn create(platform: PlatformRef, attr: &MapAttr, id: u32) -> Result<Self, Errno> {
        let footprint = Self::footprint(platform, attr)?;
        let kind = match attr.map_type {
            MapType::Array | MapType::PercpuArray => {
                Kind::Array(array::ArrayMap::new(platform, attr)?)
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                Kind::Hash(hash::HashTable::new(platform, attr)?)
            }
            // Their entries, kept by key: what a slot holds is a device
            // index, a queue size or a socket, not memory programs write.
            MapType::DevMap | MapType::DevMapHash | MapType::CpuMap | MapType::XskMap => {
                Kind::Hash(hash::HashTable::new(platform, attr)?)
            }
            MapType::LpmTrie => Kind::Lpm(lpm::LpmTrie::new(platform, attr)?),
            MapType::Queue | MapType::Stack => Kind::Queue(queue::QueueMap::new(platform, attr)?),
            MapType::RingBuf => Kind::RingBuf(ringbuf::RingBuf::new(platform, attr)?),
            MapType::PerfEventArray => Kind::Perf(perf::PerfEventArray::new(platform, attr)?),
            MapType::BloomFilter => Kind::Bloom(bloom::BloomFilter::new(platform, attr)?),
            MapType::ProgArray => Kind::ProgArray(objects::ObjectArray::new(platform, attr)?),
            MapType::ArrayOfMaps => Kind::ArrayOfMaps(objects::ObjectArray::new(platform, attr)?),
            MapType::HashOfMaps => Kind::HashOfMaps(objects::ObjectHash::new(platform, attr)?),
        };
        let mut attr = *attr;
        if matches!(attr.map_type, MapType::DevMap | MapType::DevMapHash) {
            // Programs read a device slot, never write it (as Linux sets).
            attr.flags |= flags::BPF_F_RDONLY_PROG;
        }
        Ok(Map {
            attr,
            id,
            footprint,
            charge: None,
            kind,
            released: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Checks `attr` as [`create`](Map::create) does and returns the bytes
    /// of storage such a map holds, without allocating: accounting charges
    /// them against a limit before the map is created.
    pub fn footprint(platform: PlatformRef, attr: &MapAttr) -> Result<u64, Errno> {
        use MapType::*;
        validate(attr)?;
        let copies = if attr.map_type.is_percpu() {
            platform.possible_cpus() as u64
        } else {
            1
        };
        let bytes = match attr.map_type {
            Array | PercpuArray => array::ArrayMap::footprint(attr, copies),
            Hash | PercpuHash | LruHash | LruPercpuHash => hash::HashTable::footprint(attr, copies),
            DevMap | DevMapHash | CpuMap | XskMap => hash::HashTable::footprint(attr, 1),
            LpmTrie => lpm::LpmTrie::footprint(attr),
            Queue | Stack => queue::QueueMap::footprint(attr),
            RingBuf => Some(ringbuf::RingBuf::footprint(attr)),
            PerfEventArray => perf::PerfEventArray::footprint(attr),
            BloomFilter => bloom::BloomFilter::footprint(attr),
            ProgArray | ArrayOfMaps => Some(objects::ObjectArray::footprint(attr)),
            HashOfMaps => objects::ObjectHash::footprint(attr),
        };
        // Timers: a cell per element at most (one more for a hash map's
        // spare slot), allocated by programs, counted with the map.
        let bytes = match attr.record.timer() {
            Some(_) => bytes.and_then(|b| {
                let cells = u64::from(attr.max_entries) + 1;
                b.checked_add(cells.checked_mul(crate::runtime::timer::CELL_BYTES)?)
            }),
            None => bytes,
        };
        match bytes {
            Some(b) if b <= MAX_MAP_BYTES => Ok(b),
            _ => Err(Errno::E2BIG),
        }
    }

    /// Makes the lists, trees and kptrs its values hold (`attr.record`)
    /// hold objects of `graph`; `EINVAL` for a map without them.
    pub fn set_graph(&mut self, graph: Shared<crate::graph::Graph>) -> Result<(), Errno> {
        match &mut self.kind {
            Kind::Array(m) if self.attr.record.holds_objects() => {
                m.set_graph(self.attr.record, graph);
                Ok(())
            }
            Kind::Hash(m) if self.attr.record.holds_objects() => {
                m.set_graph(graph);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Makes the map hold `charge` until it is freed (device accounting).
    pub fn set_charge(&mut self, charge: Charge) {
        self.charge = Some(charge);
    }

    /// The attributes it was created with.
    pub fn attr(&self) -> &MapAttr {
        &self.attr
    }

    /// The map's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The map's type.
    pub fn map_type(&self) -> MapType {
        self.attr.map_type
    }

    /// Bytes of storage the map holds (for accounting and GET_INFO):
    /// [`footprint`](Map::footprint) of its attributes.
    pub fn memory_bytes(&self) -> u64 {
        self.footprint
    }

    /// How its values are copied: every special field skipped and, with
    /// `BPF_F_LOCK`, under the value's lock; `EINVAL` for `BPF_F_LOCK` on a
    /// value without a lock.
    fn lock_off(&self, flags: u64) -> Result<slab::LockSpec<'_>, Errno> {
        let take = flags & update::BPF_F_LOCK != 0;
        if take && self.attr.spin_lock().is_none() {
            return Err(Errno::EINVAL);
        }
        Ok(slab::LockSpec::new(&self.attr.record, take))
    }

    fn takes_lock(lock: slab::LockSpec) -> bool {
        lock.take
    }

    fn check_key(&self, key: &[u8]) -> Result<(), Errno> {
        if key.len() != self.attr.key_size as usize {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8], possible_cpus: u32) -> Result<(), Errno> {
        if value.len() != user_value_size(&self.attr, possible_cpus) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn cpus(&self) -> u32 {
        match &self.kind {
            Kind::Array(m) => m.copies(),
            Kind::Hash(m) => m.copies(),
            _ => 1,
        }
    }

    /// The size of a value as userspace sees it.
    pub fn user_value_size(&self) -> usize {
        user_value_size(&self.attr, self.cpus())
    }

    // ---- userspace side -------------------------------------------------

    /// Copies the value of `key` into `value` (`BPF_MAP_LOOKUP_ELEM`).
    /// Queue and stack: peek (`key` empty). Map-in-map and prog_array: the
    /// object's id as a u32. `flags` may hold `BPF_F_LOCK`.
    pub fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        if flags & !update::BPF_F_LOCK != 0 {
            return Err(Errno::EINVAL);
        }
        let lock = self.lock_off(flags)?;
        self.check_key(key)?;
        match &self.kind {
            Kind::Array(m) => {
                self.check_value(value, m.copies())?;
                m.lookup(key, value, lock)
            }
            Kind::Hash(m) => {
                self.check_value(value, m.copies())?;
                m.lookup_user(key, value, lock)
            }
            Kind::Lpm(m) => {
                self.check_value(value, 1)?;
                m.lookup_user(key, value)
            }
            Kind::Queue(m) => {
                self.check_value(value, 1)?;
                m.peek(value)
            }
            Kind::RingBuf(_) | Kind::Perf(_) => Err(Errno::ENOTSUPP),
            // The value is what is looked for: `bloom().peek`.
            Kind::Bloom(m) => {
                self.check_value(value, 1)?;
                m.peek(value)
            }
            Kind::ProgArray(m) | Kind::ArrayOfMaps(m) => m.lookup_id(key, value),
            Kind::HashOfMaps(m) => m.lookup_id(key, value),
        }
    }

    /// Stores `value` under `key` (`BPF_MAP_UPDATE_ELEM`). Queue and stack:
    /// push (`BPF_EXIST` overwrites the oldest when full).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        let lock = self.lock_off(flags)?;
        let mode = flags & !update::BPF_F_LOCK;
        if mode > update::BPF_EXIST {
            return Err(Errno::EINVAL);
        }
        self.check_key(key)?;
        match &self.kind {
            Kind::Array(m) => {
                self.check_value(value, m.copies())?;
                m.update(key, value, mode, lock)
            }
            Kind::Hash(m) if self.attr.map_type.is_redirect() => {
                self.check_value(value, 1)?;
                match check_redirect_update(&self.attr, key, value, mode)? {
                    RedirectUpdate::Store => m.update_user(key, value, mode, lock),
                    RedirectUpdate::Delete => match m.delete(key, &mut |_| {}) {
                        Err(Errno::ENOENT) => Ok(()),
                        r => r,
                    },
                }
            }
            Kind::Hash(m) => {
                self.check_value(value, m.copies())?;
                m.update_user(key, value, mode, lock)
            }
            Kind::Lpm(m) => {
                if Self::takes_lock(lock) {
                    return Err(Errno::EINVAL);
                }
                self.check_value(value, 1)?;
                m.update(key, value, mode)
            }
            Kind::Queue(m) => {
                if Self::takes_lock(lock) {
                    return Err(Errno::EINVAL);
                }
                self.check_value(value, 1)?;
                m.push(value, mode)
            }
            Kind::RingBuf(_) => Err(Errno::ENOTSUPP),
            Kind::Bloom(m) => {
                self.check_value(value, 1)?;
                m.push(value, mode)
            }
            // Any value enables the slot (Linux stores a perf event's
            // descriptor there).
            Kind::Perf(m) => {
                if flags != update::BPF_ANY {
                    return Err(Errno::EINVAL);
                }
                self.check_value(value, 1)?;
                m.enable(key)
            }
            // Objects are stored with `update_object`.
            Kind::ProgArray(_) | Kind::ArrayOfMaps(_) | Kind::HashOfMaps(_) => Err(Errno::EINVAL),
        }
    }

    /// Stores an object under `key` in a prog_array or map-in-map (the
    /// dispatcher turns the handle userspace passes into the object).
    pub fn update_object(&self, key: &[u8], object: MapObject, flags: u64) -> Result<(), Errno> {
        if flags > update::BPF_EXIST {
            return Err(Errno::EINVAL);
        }
        self.check_key(key)?;
        match (&self.kind, object) {
            (Kind::ProgArray(m), obj @ MapObject::Program(_)) => m.update(key, obj, flags),
            (Kind::ArrayOfMaps(m), MapObject::Map(inner)) => {
                self.check_inner(&inner)?;
                m.update(key, MapObject::Map(inner), flags)
            }
            (Kind::HashOfMaps(m), MapObject::Map(inner)) => {
                self.check_inner(&inner)?;
                m.update(key, inner, flags)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn check_inner(&self, inner: &Map) -> Result<(), Errno> {
        let Some(t) = self.attr.inner else {
            return Err(Errno::EINVAL);
        };
        let a = inner.attr();
        let same_entries = t.flags & flags::BPF_F_INNER_MAP != 0 || a.max_entries == t.max_entries;
        let same = a.map_type == t.map_type
            && a.key_size == t.key_size
            && a.value_size == t.value_size
            && (a.flags & !flags::ACCESS) == (t.flags & !flags::ACCESS)
            && a.record == t.record
            && same_entries;
        if !same || matches!(a.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Removes `key` (`BPF_MAP_DELETE_ELEM`); `EINVAL` for arrays, as on
    /// Linux.
    pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        self.check_key(key)?;
        match &self.kind {
            Kind::Array(_) | Kind::Queue(_) => Err(Errno::EINVAL),
            Kind::Hash(m) => m.delete(key, &mut |_| {}),
            Kind::Lpm(m) => m.delete(key),
            Kind::RingBuf(_) => Err(Errno::ENOTSUPP),
            Kind::Perf(m) => m.disable(key),
            Kind::Bloom(_) => Err(Errno::EOPNOTSUPP),
            Kind::ProgArray(m) | Kind::ArrayOfMaps(m) => m.delete(key),
            Kind::HashOfMaps(m) => m.delete(key),
        }
    }

    /// The key after `key`, or the first key when `key` is `None` or not in
    /// the map (`BPF_MAP_GET_NEXT_KEY`); `ENOENT` after the last.
    pub fn get_next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        if next.len() != self.attr.key_size as usize {
            return Err(Errno::EINVAL);
        }
        match &self.kind {
            Kind::Array(_) | Kind::ProgArray(_) | Kind::ArrayOfMaps(_) | Kind::Perf(_) => {
                array::next_index(key, next, self.attr.max_entries)
            }
            Kind::Hash(m) => m.get_next_key(key, next),
            Kind::HashOfMaps(m) => m.get_next_key(key, next),
            Kind::Lpm(m) => m.get_next_key(key, next),
            Kind::Queue(_) | Kind::RingBuf(_) => Err(Errno::EINVAL),
            Kind::Bloom(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    /// Copies the value of `key` out and removes it
    /// (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`): pop for queue and stack, and for
    /// the hash types as in Linux 5.14+.
    pub fn lookup_and_delete(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        self.check_key(key)?;
        match &self.kind {
            Kind::Queue(m) => {
                self.check_value(value, 1)?;
                m.pop(value)
            }
            Kind::Hash(m) => {
                self.check_value(value, m.copies())?;
                m.lookup_and_delete(key, value)
            }
            _ => Err(Errno::ENOTSUPP),
        }
    }

    /// The ring buffer, for consumers.
    pub fn ringbuf(&self) -> Option<&RingBuf> {
        match &self.kind {
            Kind::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// The bloom filter, for `bpf_map_push_elem` and `bpf_map_peek_elem`.
    pub fn bloom(&self) -> Option<&bloom::BloomFilter> {
        match &self.kind {
            Kind::Bloom(b) => Some(b),
            _ => None,
        }
    }

    /// The perf event array, for `bpf_perf_event_output` and consumers.
    pub fn perf(&self) -> Option<&perf::PerfEventArray> {
        match &self.kind {
            Kind::Perf(p) => Some(p),
            _ => None,
        }
    }

    /// What Linux does when a map's last user reference (handle or pin)
    /// goes: a prog_array lets go of its programs, a map with timers frees
    /// them, and `bpf_timer_init` fails with `EPERM` from then on. This
    /// breaks the reference cycles of tail calls and of timers, whose
    /// callbacks hold their programs. Process context.
    pub fn release_user_refs(&self) {
        self.released
            .store(true, core::sync::atomic::Ordering::SeqCst);
        match &self.kind {
            Kind::ProgArray(_) => self.release_objects(),
            Kind::Array(m) => {
                m.free_timers();
            }
            Kind::Hash(m) => {
                m.free_timers();
            }
            _ => {}
        }
    }

    /// Whether [`release_user_refs`](Self::release_user_refs) happened.
    pub fn user_refs_released(&self) -> bool {
        self.released.load(core::sync::atomic::Ordering::SeqCst)
    }

    /// The value whose timer is at `timer`, if `timer` is one.
    pub fn value_of_timer(&self, timer: u64) -> Option<u64> {
        let value = timer.checked_sub(u64::from(self.attr.record.timer()?))?;
        let mut key = [0u8; MAX_KEY_SIZE as usize];
        self.key_of_value(value, &mut key).map(|_| value)
    }

    /// The key of the element whose value starts at `value` (arrays and
    /// hash maps), copied to `out`: its length.
    pub fn key_of_value(&self, value: u64, out: &mut [u8]) -> Option<usize> {
        match &self.kind {
            Kind::Array(m) => m.key_of_value(value, out),
            Kind::Hash(m) => m.key_of_value(value, out),
            _ => None,
        }
    }

    /// Releases every object a prog_array or map-in-map holds: what Linux
    /// does to a prog_array when its last user reference goes, which breaks
    /// reference cycles through tail calls. Waits for a grace period.
    pub fn release_objects(&self) {
        match &self.kind {
            Kind::ProgArray(m) | Kind::ArrayOfMaps(m) => m.clear(),
            Kind::HashOfMaps(m) => m.clear(),
            _ => {}
        }
    }

    // ---- program side ---------------------------------------------------

    /// Work, in instruction-budget units, that one program call on this
    /// map (lookup, update, delete) may do beyond a constant: a program's
    /// run is charged for it, so no run outlasts its budget by calling
    /// helpers. Only the LPM trie scans (its stored prefixes).
    pub fn prog_call_cost(&self) -> u64 {
        match &self.kind {
            Kind::Lpm(m) => m.len(),
            _ => 0,
        }
    }

    /// For an array of one value per element with 4-byte keys: where its
    /// values are, so that compiled code can look them up without a call.
    pub fn inline_array(&self) -> Option<InlineArray> {
        match &self.kind {
            Kind::Array(m) if self.attr.key_size == 4 => m.inline_layout(),
            _ => None,
        }
    }

    /// `bpf_map_lookup_elem` from a program on CPU `cpu`: the address of
    /// the value (this CPU's, for per-CPU maps), or 0. Map-in-map: the inner
    /// map's address.
    pub fn prog_lookup(&self, key: &[u8], cpu: u32) -> u64 {
        if key.len() != self.attr.key_size as usize {
            return 0;
        }
        match &self.kind {
            Kind::Array(m) => m.prog_lookup(key, cpu),
            Kind::Hash(m) => m.prog_lookup(key, cpu),
            Kind::Lpm(m) => m.prog_lookup(key),
            Kind::ArrayOfMaps(m) => m.prog_lookup(key),
            Kind::HashOfMaps(m) => m.prog_lookup(key),
            Kind::ProgArray(_)
            | Kind::Queue(_)
            | Kind::RingBuf(_)
            | Kind::Perf(_)
            | Kind::Bloom(_) => 0,
        }
    }

    /// `bpf_map_update_elem` from a program: only this CPU's value of a
    /// per-CPU element changes.
    pub fn prog_update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<(), Errno> {
        let lock = self.lock_off(flags)?;
        let mode = flags & !update::BPF_F_LOCK;
        if mode > update::BPF_EXIST || self.attr.flags & flags::BPF_F_RDONLY_PROG != 0 {
            return Err(Errno::EINVAL);
        }
        self.check_key(key)?;
        if value.len() != self.attr.value_size as usize {
            return Err(Errno::EINVAL);
        }
        match &self.kind {
            Kind::Array(m) => m.prog_update(key, value, mode, lock, cpu),
            Kind::Hash(m) => m.prog_update(key, value, mode, lock, cpu),
            Kind::Lpm(m) => m.update(key, value, mode),
            Kind::Queue(m) => m.push(value, mode),
            // Linux's verifier refuses these from programs.
            _ => Err(Errno::EINVAL),
        }
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn prog_delete(&self, key: &[u8]) -> Result<(), Errno> {
        if self.attr.flags & flags::BPF_F_RDONLY_PROG != 0 {
            return Err(Errno::EINVAL);
        }
        match &self.kind {
            Kind::Hash(_) | Kind::Lpm(_) | Kind::Array(_) => self.delete(key),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `bpf_map_push_elem`/`pop`/`peek` from a program, on a queue or stack.
    pub fn queue(&self) -> Option<&queue::QueueMap> {
        match &self.kind {
            Kind::Queue(q) => Some(q),
            _ => None,
        }
    }

    /// The program stored at `index` of a prog_array, for a tail call. The
    /// pointer stays valid until the caller's read-side section ends.
    pub fn prog_array_get(&self, index: u32) -> Option<*const ProgramHeader> {
        match &self.kind {
            Kind::ProgArray(m) => m.get_program(index),
            _ => None,
        }
    }

    /// Whether a program may access `len` bytes at `addr` as part of one of
    /// this map's values (written, if `write`).
    pub fn contains_value(&self, addr: u64, len: u64, write: bool) -> bool {
        if write && self.attr.flags & flags::BPF_F_RDONLY_PROG != 0 {
            return false;
        }
        match &self.kind {
            Kind::Array(m) => m.contains(addr, len),
            Kind::Hash(m) => m.contains(addr, len),
            Kind::Lpm(m) => m.contains(addr, len),
            _ => false,
        }
    }

    /// Takes the `struct bpf_spin_lock` at `addr` for a program
    /// (`bpf_spin_lock`): `EINVAL` unless `addr` is a 4-byte aligned word
    /// in one of the map's values and the values have a lock; `EDEADLK`
    /// when it stays held (by a program that never releases it: verified
    /// programs always do).
    pub fn program_lock(&self, addr: u64, platform: PlatformRef) -> Result<(), Errno> {
        if !self.has_lock_word(addr) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: a 4-byte aligned word inside a value of this map, which
        // lives while the caller's run does.
        unsafe { slab::lock_word(addr as *mut u8, platform) }
    }

    /// Releases the lock [`program_lock`](Self::program_lock) took.
    pub fn program_unlock(&self, addr: u64) -> Result<(), Errno> {
        if !self.has_lock_word(addr) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: as in `program_lock`.
        unsafe { slab::unlock_word(addr as *mut u8) };
        Ok(())
    }

    /// Whether `addr` is a 4-byte aligned word in one of the values of a
    /// map whose values have a lock (which the verifier proves is the lock
    /// itself; a checked program may lock another word of its own value).
    pub fn has_lock_word(&self, addr: u64) -> bool {
        self.attr.spin_lock().is_some() && addr % 4 == 0 && self.contains_value(addr, 4, false)
    }

    /// The address of byte `offset` of the first value, for
    /// `BPF_PSEUDO_MAP_VALUE` (global data): arrays only, as on Linux.
    pub fn value_addr(&self, offset: u32) -> Result<u64, Errno> {
        match &self.kind {
            Kind::Array(m) if !self.attr.map_type.is_percpu() && offset < self.attr.value_size => {
                Ok(m.first_value() + offset as u64)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Visits every element for `bpf_for_each_map_elem` (array and hash
    /// types): calls `f(key, value address)` until it returns false; returns
    /// the number of elements visited.
    pub fn for_each(&self, cpu: u32, f: &mut dyn FnMut(&[u8], u64) -> bool) -> Result<u64, Errno> {
        match &self.kind {
            Kind::Array(m) => Ok(m.for_each(cpu, f)),
            Kind::Hash(m) => Ok(m.for_each(cpu, f)),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// Creation checks shared by all types, then the type's own.
fn validate(attr: &MapAttr) -> Result<(), Errno> {
    use flags::*;
    use MapType::*;
    let t = attr.map_type;
    if attr.max_entries == 0 && t != RingBuf {
        return Err(Errno::EINVAL);
    }
    if attr.flags & BPF_F_RDONLY != 0 && attr.flags & BPF_F_WRONLY != 0
        || attr.flags & BPF_F_RDONLY_PROG != 0 && attr.flags & BPF_F_WRONLY_PROG != 0
    {
        return Err(Errno::EINVAL);
    }
    let allowed = ACCESS
        | BPF_F_NUMA_NODE
        | match t {
            Array => BPF_F_MMAPABLE | BPF_F_INNER_MAP,
            PercpuArray => BPF_F_INNER_MAP,
            Hash | PercpuHash => BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED,
            LruHash | LruPercpuHash => BPF_F_NO_COMMON_LRU | BPF_F_ZERO_SEED,
            LpmTrie => BPF_F_NO_PREALLOC,
            ArrayOfMaps | HashOfMaps => BPF_F_NO_PREALLOC,
            BloomFilter => BPF_F_ZERO_SEED,
            ProgArray | PerfEventArray | Queue | Stack | RingBuf | DevMap | DevMapHash | CpuMap
            | XskMap => 0,
        };
    if attr.flags & !allowed != 0 {
        return Err(Errno::EINVAL);
    }
    if t.is_percpu() && attr.value_size > MAX_PERCPU_VALUE_SIZE || attr.value_size > MAX_VALUE_SIZE
    {
        return Err(Errno::E2BIG);
    }
    if attr.key_size > MAX_KEY_SIZE {
        return Err(Errno::E2BIG);
    }
    // (The record's layout is checked where it is made: `Record::new`.)
    if attr.spin_lock().is_some() && !matches!(t, Array | Hash | LruHash) {
        return Err(Errno::EINVAL);
    }
    // Objects (lists, trees, kptrs): in plain arrays (global data among
    // them) and hash maps, not per-CPU ones; never mapped into a process
    // (which could write their pointers). A reference count belongs to
    // objects, not values (as on Linux).
    let holds_here = matches!(t, Array | Hash | LruHash);
    if attr.record.holds_objects() && (!holds_here || attr.flags & BPF_F_MMAPABLE != 0) {
        return Err(Errno::EOPNOTSUPP);
    }
    if attr.record.refcount().is_some() {
        return Err(Errno::EINVAL);
    }
    // Timers: in plain arrays and hash maps, never mapped into a process
    // (which could write the timer's pointer), as on Linux.
    if attr.record.timer().is_some() && (!holds_here || attr.flags & BPF_F_MMAPABLE != 0) {
        return Err(Errno::EOPNOTSUPP);
    }
    if attr.inner.is_some() != matches!(t, ArrayOfMaps | HashOfMaps) {
        return Err(Errno::EINVAL);
    }
    match t {
        Array | PercpuArray | ProgArray | ArrayOfMaps => {
            let value_ok = match t {
                ProgArray | ArrayOfMaps => attr.value_size == 4,
                _ => attr.value_size > 0,
            };
            if attr.key_size != 4 || !value_ok {
                return Err(Errno::EINVAL);
            }
        }
        Hash | PercpuHash | LruHash | LruPercpuHash | HashOfMaps => {
            let value_ok = if t == HashOfMaps {
                attr.value_size == 4
            } else {
                attr.value_size > 0
            };
            if attr.key_size == 0 || !value_ok {
                return Err(Errno::EINVAL);
            }
            // Linux: more buckets than a u32 of bytes can hold.
            if attr.max_entries > (1 << 30) {
                return Err(Errno::E2BIG);
            }
        }
        LpmTrie => lpm::validate(attr)?,
        Queue | Stack => {
            if attr.key_size != 0 || attr.value_size == 0 {
                return Err(Errno::EINVAL);
            }
        }
        RingBuf => ringbuf::validate(attr)?,
        PerfEventArray => perf::validate(attr)?,
        BloomFilter => bloom::validate(attr)?,
        DevMap | DevMapHash | CpuMap | XskMap => {
            let value_ok = match t {
                XskMap => attr.value_size == 4,
                _ => matches!(attr.value_size, 4 | 8),
            };
            if attr.key_size != 4 || !value_ok {
                return Err(Errno::EINVAL);
            }
            if attr.max_entries > (1 << 30) {
                return Err(Errno::E2BIG);
            }
        }
    }
    Ok(())
}

/// What a userspace update of a redirect map's slot asks for.
enum RedirectUpdate {
    Store,
    Delete,
}

/// Checks a userspace update of a redirect map as Linux does: array-like
/// maps take keys below `max_entries` (`E2BIG`) and have every slot
/// (`EEXIST` for `BPF_NOEXIST`); a device slot names a device (index 0
/// empties a devmap slot), a CPU slot a queue size (0 empties it, at most
/// 16384). Programs attached to slots and AF_XDP sockets are not provided
/// (`EOPNOTSUPP`). Device indexes are not checked against the system's
/// devices: the runtime has none to check against yet.
fn check_redirect_update(
    attr: &MapAttr,
    key: &[u8],
    value: &[u8],
    mode: u64,
) -> Result<RedirectUpdate, Errno> {
    let word = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
    };
    let t = attr.map_type;
    if t != MapType::DevMapHash {
        if word(key, 0) >= attr.max_entries {
            return Err(Errno::E2BIG);
        }
        if mode == update::BPF_NOEXIST {
            return Err(Errno::EEXIST);
        }
    }
    let prog_fd = if attr.value_size == 8 {
        word(value, 4) as i32
    } else {
        0
    };
    let first = word(value, 0);
    match t {
        MapType::XskMap => Err(Errno::EOPNOTSUPP),
        _ if prog_fd > 0 => Err(Errno::EOPNOTSUPP),
        MapType::DevMap if first == 0 => Ok(RedirectUpdate::Delete),
        MapType::DevMapHash if first == 0 => Err(Errno::EINVAL),
        MapType::CpuMap if first == 0 => Ok(RedirectUpdate::Delete),
        MapType::CpuMap if first > 16384 => Err(Errno::EOVERFLOW),
        _ => Ok(RedirectUpdate::Store),
    }
}
