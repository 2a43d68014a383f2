//! The object graph: objects programs allocate (`bpf_obj_new`), free
//! (`bpf_obj_drop`), keep in lists and trees (`bpf_list_head`,
//! `bpf_rb_root` in map values and in other objects) and in kptrs
//! (`struct T __kptr *`, `bpf_kptr_xchg`), shared by several owners when
//! their type has a `bpf_refcount` (`bpf_refcount_acquire`), with Linux's
//! semantics.
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
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::abi::{
    ObjField, ObjTypeDesc, FIELD_KPTR, FIELD_LIST_HEAD, FIELD_LIST_NODE, FIELD_RB_NODE,
    FIELD_RB_ROOT, FIELD_REFCOUNT, FIELD_SPIN_LOCK, FIELD_TIMER,
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

    /// A new zeroed object of type `i` (`bpf_obj_new`), its program the
    /// one owner, or NULL when the pool is empty.
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
        let header = Header {
            ty: i,
            class: class as u8,
            holds: u8::from(t.record.iter().any(|f| f.kind.holds_objects())),
            refcount: t.record.refcount().map_or(0, |rc| rc as u16 + 1),
        };
        let obj = block.as_ptr() as u64 + HEADER as u64;
        // SAFETY: a fresh block of at least HEADER + size bytes, 8-aligned.
        unsafe { header.write(obj) };
        if let Some(count) = header.count(obj) {
            // SAFETY: the count lies in the object, not shared yet.
            unsafe { refcount(count) }.store(1, Ordering::Relaxed);
        }
        obj
    }

    /// Ends one owner's hold on object `obj` (`bpf_obj_drop`, a list or
    /// kptr letting it go): frees it, and the objects it holds, when that
    /// was the last (the only one, for a type without `bpf_refcount`).
    ///
    /// # Safety
    /// `obj` came from [`alloc`](Self::alloc) of this graph and the caller
    /// owns it (a reference it no longer uses); freed, it is in no list.
    pub unsafe fn drop_object(&self, obj: u64) {
        // SAFETY: per the contract, the header is ours to read.
        let header = unsafe { Header::read(obj) };
        if let Some(count) = header.count(obj) {
            // SAFETY: the object is live while the caller owns it.
            if unsafe { refcount(count) }.fetch_sub(1, Ordering::AcqRel) != 1 {
                return;
            }
        }
        if header.holds != 0 {
            if let Some(t) = self.obj_type(header.ty) {
                // SAFETY: the last owner: the object is ours alone, and so
                // are its lists and kptrs.
                unsafe { self.free_fields(obj, &t.record) };
            }
        }
        let Some(b) = NonNull::new((obj - HEADER as u64) as *mut u8) else {
            return;
        };
        if header.refcount != 0 {
            // Runs may read a counted object through a kptr they loaded
            // before it went: its block waits for them.
            // SAFETY: the block came from the pool with this class.
            unsafe { self.pool.retire(b, header.class as usize) };
        } else {
            // SAFETY: as above.
            unsafe { self.pool.free(b, header.class as usize) };
        }
    }

    /// One more owner for object `obj` (`bpf_refcount_acquire`): `obj`,
    /// or NULL when its count already dropped to zero (or its type has no
    /// count).
    ///
    /// # Safety
    /// `obj` is a live object of this graph (owned, or reached under the
    /// lock of a list or tree that owns it).
    pub unsafe fn acquire(&self, obj: u64) -> u64 {
        // SAFETY: per the contract, the header is live.
        let Some(at) = unsafe { Header::read(obj) }.count(obj) else {
            return 0;
        };
        // SAFETY: as above.
        let count = unsafe { refcount(at) };
        let mut seen = count.load(Ordering::Relaxed);
        // Bounded: each failed exchange is another owner's change.
        for _ in 0..1024 {
            if seen == 0 || seen == u32::MAX {
                return 0;
            }
            match count.compare_exchange_weak(seen, seen + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return obj,
                Err(now) => seen = now,
            }
        }
        0
    }

    /// The object whose node (or any other byte) is at `addr`.
    pub fn object_of(&self, addr: u64) -> Option<u64> {
        let (block, _) = self.pool.block_of(addr as usize)?;
        Some(block.as_ptr() as u64 + HEADER as u64)
    }

    /// Ends the hold of a program on the object whose node it tried to put
    /// in a list or tree, and failed to (the node was in one already: the
    /// object has another owner, Linux's `__bpf_obj_drop_impl` on a failed
    /// add).
    ///
    /// # Safety
    /// `node` is a node of an object of this graph the caller owns.
    pub unsafe fn drop_by_node(&self, node: u64) {
        if let Some(obj) = self.object_of(node) {
            // SAFETY: per the contract.
            unsafe { self.drop_object(obj) };
        }
    }

    /// Empties the lists and trees of the memory at `base` laid out as
    /// `record` and clears its kptrs, dropping their objects. Nesting is
    /// bounded ([`types::MAX_NESTING`]).
    ///
    /// # Safety
    /// Nothing else uses those lists (their lock is held, or the memory is
    /// the caller's alone); its kptrs hold objects of this graph.
    pub unsafe fn free_fields(&self, base: u64, record: &Record) {
        for f in record.iter() {
            let at = base + u64::from(f.offset);
            match f.kind {
                // SAFETY: per the contract.
                k if k.is_root() => unsafe { self.drop_chain(take_all(k, at), f.node_offset) },
                FieldKind::Kptr => {
                    // SAFETY: a kptr of the memory, 8-aligned.
                    let obj = unsafe { kptr(at) }.swap(0, Ordering::AcqRel);
                    if obj != 0 {
                        // SAFETY: the kptr owned it.
                        unsafe { self.drop_object(obj) };
                    }
                }
                _ => {}
            }
        }
    }

    /// Drops the objects of a detached chain of nodes (`first`, then
    /// their next words), each held through its node at `node_offset`.
    ///
    /// # Safety
    /// No list head reaches the chain any more: it owns the objects.
    pub unsafe fn drop_chain(&self, first: u64, node_offset: u32) {
        let mut node = first;
        // Bounded by the objects the pool can hold (a list is never
        // longer), so that not even a corrupted list loops for ever.
        let mut budget = pool::MAX_OBJECTS;
        while node != 0 && budget > 0 {
            budget -= 1;
            // SAFETY: detached nodes of objects the list owned.
            let next = unsafe { list::unlink_next(node) };
            // SAFETY: the object holding the node, out of that list.
            unsafe { self.drop_object(node - u64::from(node_offset)) };
            node = next;
        }
    }

    /// Puts `new` (an object the caller owns, or 0) into the kptr at
    /// `field` and returns what it held, now the caller's
    /// (`bpf_kptr_xchg`).
    ///
    /// # Safety
    /// `field` is a live kptr holding objects of `new`'s type.
    pub unsafe fn kptr_xchg(field: u64, new: u64) -> u64 {
        // SAFETY: per the contract.
        unsafe { kptr(field) }.swap(new, Ordering::AcqRel)
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

    /// Blocks for objects of `size` bytes not in use (free, or awaiting a
    /// grace period), for tests and statistics.
    pub fn free_objects(&self, size: u32) -> usize {
        pool::class_of(size as usize).map_or(0, |c| self.pool.idle_blocks(c))
    }
}

/// The record of `fields` of a layout of `size` bytes, list heads, tree
/// roots and kptrs naming their type by BTF id among `ids` (BTF id,
/// index): `EINVAL` for an unknown kind or type, or a bad layout.
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
            FIELD_REFCOUNT => (FieldKind::Refcount, 0),
            FIELD_TIMER => (FieldKind::Timer, 0),
            FIELD_LIST_HEAD | FIELD_RB_ROOT | FIELD_KPTR => {
                let index = ids
                    .iter()
                    .find(|&&(b, _)| b == f.contains)
                    .map(|&(_, i)| i)
                    .ok_or(Errno::EINVAL)?;
                let kind = match f.kind {
                    FIELD_LIST_HEAD => FieldKind::ListHead,
                    FIELD_RB_ROOT => FieldKind::RbRoot,
                    _ => FieldKind::Kptr,
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

/// What the [`HEADER`] bytes before an object say: enough to drop it
/// without the type table unless it holds other objects.
#[derive(Clone, Copy)]
struct Header {
    /// Its type's index.
    ty: u32,
    /// Its block's size class.
    class: u8,
    /// Nonzero when it has lists, trees or kptrs to empty when freed.
    holds: u8,
    /// Its reference count's offset plus one; 0: none.
    refcount: u16,
}

impl Header {
    /// Writes the header of object `obj`.
    ///
    /// # Safety
    /// `obj` is the object of a block the caller owns.
    unsafe fn write(self, obj: u64) {
        let at = (obj - HEADER as u64) as *mut u8;
        // SAFETY: per the contract: the block's first 8 bytes, aligned.
        unsafe {
            (at as *mut u32).write(self.ty);
            at.add(4).write(self.class);
            at.add(5).write(self.holds);
            (at.add(6) as *mut u16).write(self.refcount);
        }
    }

    /// The header of live object `obj`.
    ///
    /// # Safety
    /// `obj` is a live object of the pool.
    unsafe fn read(obj: u64) -> Header {
        let at = (obj - HEADER as u64) as *const u8;
        // SAFETY: per the contract.
        unsafe {
            Header {
                ty: (at as *const u32).read(),
                class: at.add(4).read(),
                holds: at.add(5).read(),
                refcount: (at.add(6) as *const u16).read(),
            }
        }
    }

    /// The address of `obj`'s reference count, if its type has one.
    fn count(&self, obj: u64) -> Option<u64> {
        let offset = self.refcount.checked_sub(1)?;
        Some(obj + u64::from(offset))
    }
}

/// Detaches every node of the list or tree `kind` at `at`, as a chain of
/// nodes through their first words ([`list::unlink_next`] walks it).
///
/// # Safety
/// `at` is a live list head or tree root of that kind, under its lock or
/// the caller's alone.
pub unsafe fn take_all(kind: FieldKind, at: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe {
        if kind == FieldKind::RbRoot {
            rbtree::take_all(at)
        } else {
            list::take_all(at)
        }
    }
}

/// The reference count at `at`.
///
/// # Safety
/// `at` is the live, 4-aligned count of an object for the returned
/// reference's use.
unsafe fn refcount<'a>(at: u64) -> &'a AtomicU32 {
    // SAFETY: per the contract.
    unsafe { AtomicU32::from_ptr(at as *mut u32) }
}

/// The kptr at `at`.
///
/// # Safety
/// `at` is a live, 8-aligned kptr for the returned reference's use.
unsafe fn kptr<'a>(at: u64) -> &'a AtomicU64 {
    // SAFETY: per the contract.
    unsafe { AtomicU64::from_ptr(at as *mut u64) }
}
