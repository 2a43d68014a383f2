//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`: `max_entries`
//! preallocated, zero-initialised values indexed by a u32 key. Elements
//! always exist: no delete, `BPF_NOEXIST` always fails.

use super::slab::LockSpec;
use super::slab::ValueSlab;
use super::update::BPF_NOEXIST;
use super::MapAttr;
use crate::errno::Errno;
use crate::graph::types::Record;
use crate::graph::Graph;
use crate::platform::PlatformRef;
use crate::shared::Shared;

/// An array's values as compiled code reaches them
/// ([`ArrayMap::inline_layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlineArray {
    /// Address of element 0's value.
    pub base: u64,
    /// Bytes between consecutive elements' values.
    pub stride: u32,
    /// Elements: indexes at or above are absent.
    pub max_entries: u32,
}

pub(crate) struct ArrayMap {
    values: ValueSlab,
    max_entries: u32,
    /// Values holding objects (lists, trees, kptrs): their layout, and
    /// the graph the objects belong to ([`set_graph`](Self::set_graph)).
    objects: Option<(Record, Shared<Graph>)>,
    /// The values' timer, if they have one: its record alone.
    timer: Option<Record>,
}

fn index(key: &[u8]) -> u32 {
    u32::from_ne_bytes([key[0], key[1], key[2], key[3]])
}

/// get_next_key for the array-like maps: the index after `key`, 0 when
/// `key` is missing or out of range, `ENOENT` after the last.
pub(crate) fn next_index(
    key: Option<&[u8]>,
    next: &mut [u8],
    max_entries: u32,
) -> Result<(), Errno> {
    let n = match key.map(index) {
        Some(i) if i < max_entries => {
            if i + 1 == max_entries {
                return Err(Errno::ENOENT);
            }
            i + 1
        }
        _ => 0,
    };
    next.copy_from_slice(&n.to_ne_bytes());
    Ok(())
}

impl ArrayMap {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let copies = if attr.map_type.is_percpu() {
            platform.possible_cpus() as usize
        } else {
            1
        };
        Ok(ArrayMap {
            values: ValueSlab::new(
                platform,
                attr.max_entries as usize,
                copies,
                attr.value_size as usize,
            )?,
            max_entries: attr.max_entries,
            objects: None,
            timer: attr.record.timer().map(|_| attr.record.timers()),
        })
    }

    /// Makes the values' lists, trees and kptrs (as `record` lays them
    /// out) hold objects of `graph`.
    pub(crate) fn set_graph(&mut self, record: Record, graph: Shared<Graph>) {
        self.objects = Some((record, graph));
    }

    /// Writes `src` into element `i` of an array whose values hold
    /// objects, as Linux's update does: every byte but the special fields'
    /// (lists, trees, kptrs and their lock stay), then the objects the
    /// value held are let go (its lists emptied under its lock, its kptrs
    /// cleared).
    fn update_with_objects(&self, i: usize, src: &[u8], record: &Record, graph: &Graph) {
        let value = self.values.ptr(i, 0);
        // SAFETY: the value lies in the slab, `src` is its size.
        unsafe { super::slab::copy_around(value, src, record) };
        // SAFETY: the value is laid out as `record`; its objects are the
        // graph's.
        unsafe { super::slab::drop_objects(value, record, graph, self.values.platform()) };
    }

    pub(crate) fn copies(&self) -> u32 {
        self.values.copies() as u32
    }

    /// Bytes `new` allocates for `attr` with `copies` values per element.
    pub(crate) fn footprint(attr: &MapAttr, copies: u64) -> Option<u64> {
        super::slab_bytes(attr.max_entries as u64, copies, attr.value_size)
    }

    fn slot(&self, key: &[u8]) -> Result<usize, Errno> {
        let i = index(key);
        if i >= self.max_entries {
            return Err(Errno::ENOENT);
        }
        Ok(i as usize)
    }

    /// The slot an update of `key` writes: every element of an array
    /// exists, so `BPF_NOEXIST` always fails (`BPF_EXIST` always holds), and
    /// an index past the end is `E2BIG`, as on Linux.
    fn update_slot(&self, key: &[u8], mode: u64) -> Result<usize, Errno> {
        let i = index(key);
        if i >= self.max_entries {
            return Err(Errno::E2BIG);
        }
        if mode == BPF_NOEXIST {
            return Err(Errno::EEXIST);
        }
        Ok(i as usize)
    }

    pub(crate) fn lookup(&self, key: &[u8], out: &mut [u8], lock: LockSpec) -> Result<(), Errno> {
        let i = self.slot(key)?;
        self.values.read_all(i, out, lock)?;
        // Userspace never sees the objects' pointers (Linux zeroes special
        // fields).
        if let Some((record, _)) = &self.objects {
            for f in record.iter() {
                out[f.offset as usize..(f.offset + f.kind.size()) as usize].fill(0);
            }
        }
        Ok(())
    }

    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: u64,
        lock: LockSpec,
    ) -> Result<(), Errno> {
        let i = self.update_slot(key, mode)?;
        if let Some((record, graph)) = &self.objects {
            self.update_with_objects(i, value, record, graph);
        } else {
            self.values.write_all(i, value, lock)?;
        }
        self.free_timer(i);
        Ok(())
    }

    /// Frees element `i`'s timer, as Linux's update does; whether it had
    /// one.
    fn free_timer(&self, i: usize) -> bool {
        match &self.timer {
            // SAFETY: the element's value, laid out with this timer.
            Some(record) => unsafe {
                super::slab::free_timer(self.values.ptr(i, 0), record, self.values.platform())
            },
            None => false,
        }
    }

    /// Frees every element's timer (the map's users are gone); whether
    /// there was one.
    pub(crate) fn free_timers(&self) -> bool {
        let mut any = false;
        for i in 0..self.max_entries as usize {
            any |= self.free_timer(i);
        }
        any
    }

    /// The key of the element whose value is at `value`: its index.
    pub(crate) fn key_of_value(&self, value: u64, out: &mut [u8]) -> Option<usize> {
        let i = self.values.element_at(value)? as u32;
        out.get_mut(..4)?.copy_from_slice(&i.to_ne_bytes());
        Some(4)
    }

    /// How compiled code finds a value without a call, for an array with
    /// one value per element: `base + index * stride` for an index below
    /// `max_entries` (Linux's `array_map_gen_lookup`).
    pub(crate) fn inline_layout(&self) -> Option<InlineArray> {
        (self.values.copies() == 1).then(|| InlineArray {
            base: self.values.base(),
            stride: self.values.stride() as u32,
            max_entries: self.max_entries,
        })
    }

    pub(crate) fn prog_lookup(&self, key: &[u8], cpu: u32) -> u64 {
        match self.slot(key) {
            Ok(i) => self.values.ptr(i, cpu as usize % self.values.copies()) as u64,
            Err(_) => 0,
        }
    }

    pub(crate) fn prog_update(
        &self,
        key: &[u8],
        value: &[u8],
        mode: u64,
        lock: LockSpec,
        cpu: u32,
    ) -> Result<(), Errno> {
        let i = self.update_slot(key, mode)?;
        if let Some((record, graph)) = &self.objects {
            self.update_with_objects(i, value, record, graph);
        } else {
            let copy = cpu as usize % self.values.copies();
            // SAFETY: the value lies in the slab; value has value_size
            // bytes.
            unsafe {
                super::slab::copy_value_in(
                    self.values.ptr(i, copy),
                    value,
                    lock,
                    self.values.platform(),
                )
            }?;
        }
        self.free_timer(i);
        Ok(())
    }

    pub(crate) fn contains(&self, addr: u64, len: u64) -> bool {
        self.values.contains(addr, len)
    }

    pub(crate) fn first_value(&self) -> u64 {
        self.values.ptr(0, 0) as u64
    }

    pub(crate) fn for_each(&self, cpu: u32, f: &mut dyn FnMut(&[u8], u64) -> bool) -> u64 {
        let copy = cpu as usize % self.values.copies();
        let mut visited = 0;
        for i in 0..self.max_entries {
            visited += 1;
            if !f(&i.to_ne_bytes(), self.values.ptr(i as usize, copy) as u64) {
                break;
            }
        }
        visited
    }
}

impl Drop for ArrayMap {
    fn drop(&mut self) {
        // The map goes: so do its timers (a callback still running ends
        // first: it reads the map) and the objects its values hold.
        if self.free_timers() {
            self.values.platform().synchronize();
        }
        if let Some((record, graph)) = &self.objects {
            for i in 0..self.max_entries as usize {
                // SAFETY: the map is ours alone now.
                unsafe { graph.free_fields(self.values.ptr(i, 0) as u64, record) };
            }
        }
    }
}
