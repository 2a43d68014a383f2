//! Typed views of maps, in the style of aya: [`HashMap`], [`Array`],
//! [`PerCpuArray`] and [`RingBuf`] over a map handle, with keys and values
//! as plain Rust types ([`Pod`]).

use std::marker::PhantomData;
use std::mem::size_of;

use ebpf_core::Errno;

use crate::client::{Ebpf, Error, Result};

/// A type that is plain bytes: any bit pattern is a valid value and it has
/// no padding that matters (integers, arrays of them, `#[repr(C)]` structs
/// of them).
///
/// # Safety
/// Implement only for types for which every bit pattern of
/// `size_of::<Self>()` bytes is a valid value.
pub unsafe trait Pod: Copy + 'static {}

macro_rules! pod {
    ($($t:ty),*) => { $(
        // SAFETY: every bit pattern is a valid integer.
        unsafe impl Pod for $t {}
    )* };
}
pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, usize, isize);
// SAFETY: arrays of plain bytes are plain bytes.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: T is Pod: its bytes may be read.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

fn from_bytes<T: Pod>(b: &[u8]) -> T {
    assert!(b.len() >= size_of::<T>());
    // SAFETY: enough bytes, any pattern is a valid T, unaligned read.
    unsafe { b.as_ptr().cast::<T>().read_unaligned() }
}

fn mismatch(what: String) -> Error {
    Error {
        op: "typed map view",
        errno: Errno::EINVAL,
        log: Some(what),
    }
}

/// Checks the map's type and its key and value sizes against `K` and `V`.
fn check(ebpf: &Ebpf, map: u32, types: &[u32], key: usize, value: usize) -> Result<()> {
    let info = ebpf.map_info(map)?;
    if !types.contains(&info.map_type) {
        return Err(mismatch(format!(
            "map type {} is not one of {types:?}",
            info.map_type
        )));
    }
    if info.key_size as usize != key || info.value_size as usize != value {
        return Err(mismatch(format!(
            "map has key {} / value {} bytes, the view {key} / {value}",
            info.key_size, info.value_size
        )));
    }
    Ok(())
}

/// A hash map (hash, LRU hash) with keys `K` and values `V`.
pub struct HashMap<'a, K: Pod, V: Pod> {
    ebpf: &'a Ebpf,
    map: u32,
    _types: PhantomData<(K, V)>,
}

impl<'a, K: Pod, V: Pod> HashMap<'a, K, V> {
    /// A view of map `map`; fails unless it is a hash map with these sizes.
    pub fn new(ebpf: &'a Ebpf, map: u32) -> Result<Self> {
        check(ebpf, map, &[1, 9], size_of::<K>(), size_of::<V>())?;
        Ok(HashMap {
            ebpf,
            map,
            _types: PhantomData,
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let mut v = vec![0u8; size_of::<V>()];
        match self.ebpf.map_lookup(self.map, bytes_of(key), &mut v, 0) {
            Ok(()) => Ok(Some(from_bytes(&v))),
            Err(e) if e.errno == Errno::ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces `key` (`flags`: 0 any, 1 BPF_NOEXIST, 2 BPF_EXIST).
    pub fn insert(&self, key: &K, value: &V, flags: u64) -> Result<()> {
        self.ebpf
            .map_update(self.map, bytes_of(key), bytes_of(value), flags)
    }

    /// Deletes `key`.
    pub fn remove(&self, key: &K) -> Result<()> {
        self.ebpf.map_delete(self.map, bytes_of(key))
    }

    /// Every element, fetched in batches.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let batch = self.ebpf.map_lookup_batch(self.map, after.as_deref(), 64)?;
            out.extend(
                batch
                    .elements
                    .iter()
                    .map(|(k, v)| (from_bytes(k), from_bytes(v))),
            );
            match batch.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }
}

/// An array map of `V`.
pub struct Array<'a, V: Pod> {
    ebpf: &'a Ebpf,
    map: u32,
    len: u32,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> Array<'a, V> {
    /// A view of array map `map` with values of `V`.
    pub fn new(ebpf: &'a Ebpf, map: u32) -> Result<Self> {
        check(ebpf, map, &[2], 4, size_of::<V>())?;
        let len = ebpf.map_info(map)?.max_entries;
        Ok(Array {
            ebpf,
            map,
            len,
            _types: PhantomData,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `index` (`E2BIG`-free: `ENOENT` past the end, as Linux).
    pub fn get(&self, index: u32) -> Result<V> {
        let mut v = vec![0u8; size_of::<V>()];
        self.ebpf
            .map_lookup(self.map, &index.to_ne_bytes(), &mut v, 0)?;
        Ok(from_bytes(&v))
    }

    /// Sets element `index`.
    pub fn set(&self, index: u32, value: &V) -> Result<()> {
        self.ebpf
            .map_update(self.map, &index.to_ne_bytes(), bytes_of(value), 0)
    }
}

/// A per-CPU array of `V`: each element holds one `V` per possible CPU.
pub struct PerCpuArray<'a, V: Pod> {
    ebpf: &'a Ebpf,
    map: u32,
    cpus: usize,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> PerCpuArray<'a, V> {
    /// A view of per-CPU array map `map` with values of `V`.
    pub fn new(ebpf: &'a Ebpf, map: u32) -> Result<Self> {
        check(ebpf, map, &[6], 4, size_of::<V>())?;
        let cpus = ebpf.possible_cpus()? as usize;
        Ok(PerCpuArray {
            ebpf,
            map,
            cpus,
            _types: PhantomData,
        })
    }

    fn slot() -> usize {
        size_of::<V>().div_ceil(8) * 8
    }

    /// Element `index`: one value per possible CPU.
    pub fn get(&self, index: u32) -> Result<Vec<V>> {
        let mut v = vec![0u8; Self::slot() * self.cpus];
        self.ebpf
            .map_lookup(self.map, &index.to_ne_bytes(), &mut v, 0)?;
        Ok(v.chunks(Self::slot()).map(from_bytes).collect())
    }

    /// Sets element `index` on every CPU (`values.len()` must be the number
    /// of possible CPUs).
    pub fn set(&self, index: u32, values: &[V]) -> Result<()> {
        if values.len() != self.cpus {
            return Err(mismatch(format!(
                "{} values for {} CPUs",
                values.len(),
                self.cpus
            )));
        }
        let mut v = vec![0u8; Self::slot() * self.cpus];
        for (chunk, value) in v.chunks_mut(Self::slot()).zip(values) {
            chunk[..size_of::<V>()].copy_from_slice(bytes_of(value));
        }
        self.ebpf.map_update(self.map, &index.to_ne_bytes(), &v, 0)
    }
}

/// A ring buffer map: records in the order they were committed.
pub struct RingBuf<'a> {
    ebpf: &'a Ebpf,
    map: u32,
    pending: std::collections::VecDeque<Vec<u8>>,
}

impl<'a> RingBuf<'a> {
    /// A view of ring buffer map `map`.
    pub fn new(ebpf: &'a Ebpf, map: u32) -> Result<Self> {
        let info = ebpf.map_info(map)?;
        if info.map_type != ebpf_core::MapType::RingBuf as u32 {
            return Err(mismatch(format!(
                "map type {} is not a ring buffer",
                info.map_type
            )));
        }
        Ok(RingBuf {
            ebpf,
            map,
            pending: Default::default(),
        })
    }

    /// The next committed record, if any (polls the device; there are no
    /// wakeups yet).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        if self.pending.is_empty() {
            self.pending.extend(self.ebpf.ringbuf_consume(self.map)?);
        }
        Ok(self.pending.pop_front())
    }

    /// The next record as a `T` (records shorter than `T` are an error).
    pub fn next_as<T: Pod>(&mut self) -> Result<Option<T>> {
        match self.next_record()? {
            Some(r) if r.len() >= size_of::<T>() => Ok(Some(from_bytes(&r))),
            Some(r) => Err(mismatch(format!(
                "record of {} bytes, want {}",
                r.len(),
                size_of::<T>()
            ))),
            None => Ok(None),
        }
    }
}
