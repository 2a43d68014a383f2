//! The object graph: objects programs allocate (`bpf_obj_new`), free
//! (`bpf_obj_drop`) and keep in lists (`bpf_list_head` in map values and
//! in other objects), with Linux's semantics.
//!
//! - [`types`]: the layouts (special fields) and the device's table of
//!   object types;
//! - [`pool`]: where objects live, usable in program context;
//! - [`list`]: the lists, in place.
//!
//! One [`Graph`] per device; programs that allocate objects and maps whose
//! values hold lists keep a reference to it, so it outlives every object.
//! Programs reach it only after the verifier proved every pointer they
//! pass (the graph kfuncs are for verified programs only).

pub mod list;
pub mod pool;
pub mod rbtree;
pub mod types;

use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::abi::{
    ObjField, ObjTypeDesc, FIELD_LIST_HEAD, FIELD_LIST_NODE, FIELD_RB_NODE, FIELD_RB_ROOT,
    FIELD_SPIN_LOCK,
};
use crate::errno::Errno;
use crate::platform::{LockClass, PlatformRef, SpinLock};
use pool::{Pool, HEADER};
use types::{FieldKind, ObjType, Record, TypeTable};

/// What a program that allocates objects keeps of its device's graph:
/// the graph, and its object types as (BTF id, index in the graph).
pub struct ProgramObjects {
    /// The device's graph.
    pub graph: crate::shared::Shared<Graph>,
    /// (BTF id the program names a type by, the type's index).
    pub types: Vec<(u32, u32)>,
}

/// A device's objects.
pub struct Graph {
    types: SpinLock<TypeTable>,
    pool: Pool,
}

impl Graph {
    /// An empty graph.
    pub fn new(platform: PlatformRef) -> Result<Graph, Errno> {
        Ok(Graph {
            types: SpinLock::new(platform, LockClass::ObjectTypes, TypeTable::new()?)?,
            pool: Pool::new(platform)?,
        })
    }

    /// Registers an object type (process context); its index.
    pub fn register(&self, t: ObjType) -> Result<u32, Errno> {
        self.types.lock().register(t)
    }

    /// Checks that the lists of a map value's `record` hold known types.
    pub fn check_record(&self, record: &Record) -> Result<(), Errno> {
        self.types.lock().check_lists(record)
    }

    /// Type `i`.
    pub fn obj_type(&self, i: u32) -> Option<ObjType> {
        self.types.lock().get(i).copied()
    }

    /// Fills the pool for objects of type `i` (process context: a program
    /// that allocates them loads, or is about to run).
    pub fn top_up(&self, i: u32) -> Result<(), Errno> {
        let t = self.obj_type(i).ok_or(Errno::EINVAL)?;
        let class = pool::class_of(t.size as usize).ok_or(Errno::E2BIG)?;
        self.pool.top_up(class, pool::TOP_UP)
    }

    /// A new zeroed object of type `i` (`bpf_obj_new`), or NULL when the
    /// pool is empty.
    pub fn alloc(&self, i: u32) -> u64 {
        let Some(t) = self.obj_type(i) else {
            return 0;
        };
        let Some(class) = pool::class_of(t.size as usize) else {
            return 0;
        };
        let Some(block) = self.pool.alloc(class) else {
            return 0;
        };
        let b = block.as_ptr();
        // SAFETY: a fresh block of at least HEADER + size bytes, 8-aligned.
        unsafe {
            (b as *mut u32).write(i);
            b.add(4).write(class as u8);
        }
        b as u64 + HEADER as u64
    }

    /// Frees object `obj` (`bpf_obj_drop`), and the objects its lists hold.
    ///
    /// # Safety
    /// `obj` came from [`alloc`](Self::alloc) of this graph, is in no list,
    /// and nothing uses it afterwards.
    pub unsafe fn drop_object(&self, obj: u64) {
        let block = obj - HEADER as u64;
        // SAFETY: per the contract, the header is ours.
        let (i, class) = unsafe { ((block as *const u32).read(), *((block + 4) as *const u8)) };
        if let Some(t) = self.obj_type(i) {
            // SAFETY: the object is ours alone: so are its lists.
            unsafe { self.drain(obj, &t.record) };
        }
        if let Some(b) = NonNull::new(block as *mut u8) {
            // SAFETY: the block came from the pool with this class.
            unsafe { self.pool.free(b, class as usize) };
        }
    }

    /// Empties the lists of the memory at `base` laid out as `record`,
    /// freeing their objects. Nesting is bounded ([`types::MAX_NESTING`]).
    ///
    /// # Safety
    /// Nothing else uses those lists (their lock is held, or the memory is
    /// the caller's alone).
    pub unsafe fn drain(&self, base: u64, record: &Record) {
        for f in record.iter().filter(|f| f.kind.is_root()) {
            // SAFETY: per the contract.
            let mut node = unsafe { list::take_all(base + u64::from(f.offset)) };
            // Bounded by the objects the pool can hold (a list is never
            // longer), so that not even a corrupted list loops for ever.
            let mut budget = pool::MAX_OBJECTS;
            while node != 0 && budget > 0 {
                budget -= 1;
                // SAFETY: detached nodes of objects the list owned.
                let next = unsafe { list::unlink_next(node) };
                // SAFETY: the object holding the node, ours alone now.
                unsafe { self.drop_object(node - u64::from(f.node_offset)) };
                node = next;
            }
        }
    }

    /// Registers the object types a request describes, those a type's
    /// lists hold first; returns (BTF id, index) for each. `EINVAL` for a
    /// list of a type not described, a cycle, or a bad layout.
    pub fn register_descs(&self, descs: &[ObjTypeDesc]) -> Result<Vec<(u32, u32)>, Errno> {
        let mut ids: Vec<(u32, u32)> = Vec::new();
        ids.try_reserve_exact(descs.len())
            .map_err(|_| Errno::ENOMEM)?;
        let mut done = [false; 64];
        if descs.len() > done.len() {
            return Err(Errno::E2BIG);
        }
        // Each pass registers the types whose lists hold registered ones.
        for _ in 0..descs.len() {
            for (i, d) in descs.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let n = d.nr_fields as usize;
                if n > d.fields.len() || d.reserved != 0 {
                    return Err(Errno::EINVAL);
                }
                let Ok(record) = record_of(&d.fields[..n], d.size, &ids) else {
                    continue;
                };
                let index = self.register(ObjType {
                    name: d.name,
                    size: d.size,
                    record,
                })?;
                if ids.iter().any(|&(b, _)| b == d.btf_id) {
                    return Err(Errno::EINVAL);
                }
                ids.push((d.btf_id, index));
                done[i] = true;
            }
        }
        if done[..descs.len()].iter().any(|d| !d) {
            return Err(Errno::EINVAL);
        }
        Ok(ids)
    }

    /// Free blocks for objects of `size` bytes (for tests and statistics).
    pub fn free_objects(&self, size: u32) -> usize {
        pool::class_of(size as usize).map_or(0, |c| self.pool.free_blocks(c))
    }
}

/// The record of `fields` of a layout of `size` bytes, list heads naming
/// their type by BTF id among `ids` (BTF id, index): `EINVAL` for an
/// unknown kind or type, or a bad layout.
pub fn record_of(fields: &[ObjField], size: u32, ids: &[(u32, u32)]) -> Result<Record, Errno> {
    let mut out = [types::Field {
        kind: FieldKind::SpinLock,
        offset: 0,
        contains: 0,
        node_offset: 0,
    }; types::MAX_FIELDS];
    if fields.len() > out.len() {
        return Err(Errno::E2BIG);
    }
    for (o, f) in out.iter_mut().zip(fields) {
        let (kind, contains) = match f.kind {
            FIELD_SPIN_LOCK => (FieldKind::SpinLock, 0),
            FIELD_LIST_NODE => (FieldKind::ListNode, 0),
            FIELD_RB_NODE => (FieldKind::RbNode, 0),
            FIELD_LIST_HEAD | FIELD_RB_ROOT => {
                let index = ids
                    .iter()
                    .find(|&&(b, _)| b == f.contains)
                    .map(|&(_, i)| i)
                    .ok_or(Errno::EINVAL)?;
                let kind = if f.kind == FIELD_LIST_HEAD {
                    FieldKind::ListHead
                } else {
                    FieldKind::RbRoot
                };
                (kind, index)
            }
            _ => return Err(Errno::EINVAL),
        };
        *o = types::Field {
            kind,
            offset: f.offset,
            contains,
            node_offset: if kind.is_root() { f.node_offset } else { 0 },
        };
    }
    Record::new(&out[..fields.len()], size)
}
