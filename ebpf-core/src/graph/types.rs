//! The layouts the object graph needs: which fields of an object (or a map
//! value) are spin locks, list heads and nodes, tree roots and nodes,
//! kptrs and reference counts, what a list, tree or kptr holds, and the
//! device's table of object types.

use alloc::vec::Vec;

use crate::errno::Errno;

/// `struct bpf_spin_lock`, `struct bpf_list_head`, `struct bpf_list_node`:
/// their sizes.
pub const SPIN_LOCK_SIZE: u32 = 4;
/// Two words: the first and last node.
pub const LIST_HEAD_SIZE: u32 = 16;
/// Three words: next, previous, and the head that owns it.
pub const LIST_NODE_SIZE: u32 = 24;
/// `struct bpf_rb_root`: two words, the top node and the leftmost.
pub const RB_ROOT_SIZE: u32 = 16;
/// `struct bpf_rb_node`: four words, left, right, the owning root (where a
/// list node has its owner) and the parent with the colour.
pub const RB_NODE_SIZE: u32 = 32;
/// `struct T __kptr *`: the object's address, or 0.
pub const KPTR_SIZE: u32 = 8;
/// `struct bpf_refcount`: the object's owners, counted.
pub const REFCOUNT_SIZE: u32 = 4;
/// `struct bpf_timer`: the address of its cell, and a word Linux uses for
/// a lock.
pub const TIMER_SIZE: u32 = 16;
/// Fields one layout may have.
pub const MAX_FIELDS: usize = 10;
/// Object types one device keeps.
pub const MAX_TYPES: usize = 256;
/// How deep lists of objects holding lists may nest.
pub const MAX_NESTING: u32 = 4;
/// Largest object (what Linux's object allocator serves).
pub const MAX_OBJECT_SIZE: u32 = 4096 - super::pool::HEADER as u32;

/// What a field is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A `struct bpf_spin_lock`.
    SpinLock,
    /// A `struct bpf_list_head` holding objects of type `contains` through
    /// their node at `node_offset`.
    ListHead,
    /// A `struct bpf_list_node`.
    ListNode,
    /// A `struct bpf_rb_root` holding objects of type `contains` in the
    /// order a program's `less` gives, through their node at `node_offset`.
    RbRoot,
    /// A `struct bpf_rb_node`.
    RbNode,
    /// A `struct T __kptr *`: an object of type `contains`, or NULL.
    Kptr,
    /// A `struct bpf_refcount`: how many owners (lists, trees, kptrs and
    /// programs) the object has.
    Refcount,
    /// A `struct bpf_timer` (map values only).
    Timer,
}

impl FieldKind {
    /// Its size in bytes.
    pub const fn size(self) -> u32 {
        match self {
            FieldKind::SpinLock => SPIN_LOCK_SIZE,
            FieldKind::ListHead => LIST_HEAD_SIZE,
            FieldKind::ListNode => LIST_NODE_SIZE,
            FieldKind::RbRoot => RB_ROOT_SIZE,
            FieldKind::RbNode => RB_NODE_SIZE,
            FieldKind::Kptr => KPTR_SIZE,
            FieldKind::Refcount => REFCOUNT_SIZE,
            FieldKind::Timer => TIMER_SIZE,
        }
    }

    /// Its alignment in bytes.
    pub const fn align(self) -> u32 {
        match self {
            FieldKind::SpinLock | FieldKind::Refcount => 4,
            _ => 8,
        }
    }

    /// It holds objects in order: a list head or tree root.
    pub const fn is_root(self) -> bool {
        matches!(self, FieldKind::ListHead | FieldKind::RbRoot)
    }

    /// It holds objects of type `contains`: a list head, tree root or
    /// kptr.
    pub const fn holds_objects(self) -> bool {
        matches!(
            self,
            FieldKind::ListHead | FieldKind::RbRoot | FieldKind::Kptr
        )
    }

    /// The node kind the objects it holds have, for a root.
    pub const fn node(self) -> Option<FieldKind> {
        match self {
            FieldKind::ListHead => Some(FieldKind::ListNode),
            FieldKind::RbRoot => Some(FieldKind::RbNode),
            _ => None,
        }
    }

    /// Linux's name, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            FieldKind::SpinLock => "bpf_spin_lock",
            FieldKind::ListHead => "bpf_list_head",
            FieldKind::ListNode => "bpf_list_node",
            FieldKind::RbRoot => "bpf_rb_root",
            FieldKind::RbNode => "bpf_rb_node",
            FieldKind::Kptr => "kptr",
            FieldKind::Refcount => "bpf_refcount",
            FieldKind::Timer => "bpf_timer",
        }
    }
}

/// One special field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// What it is.
    pub kind: FieldKind,
    /// Its offset in the object or value.
    pub offset: u32,
    /// For a list head, tree root or kptr: the index, in the device's
    /// table, of the type of the objects it holds.
    pub contains: u32,
    /// For a list head: the offset of their node.
    pub node_offset: u32,
}

impl Field {
    /// A `struct bpf_spin_lock` at `offset`.
    pub const fn spin_lock(offset: u32) -> Field {
        Field {
            kind: FieldKind::SpinLock,
            offset,
            contains: 0,
            node_offset: 0,
        }
    }
}

/// The special fields of a layout, by offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    fields: [Option<Field>; MAX_FIELDS],
}

impl Default for Record {
    fn default() -> Self {
        Record::EMPTY
    }
}

impl Record {
    /// No field.
    pub const EMPTY: Record = Record {
        fields: [None; MAX_FIELDS],
    };

    /// Whether it holds lists or trees of objects.
    pub fn has_lists(&self) -> bool {
        self.iter().any(|f| f.kind.is_root())
    }

    /// Whether it holds objects: lists, trees or kptrs.
    pub fn holds_objects(&self) -> bool {
        self.iter().any(|f| f.kind.holds_objects())
    }

    /// Its fields.
    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().flatten()
    }

    /// Whether it has no field.
    pub fn is_empty(&self) -> bool {
        self.fields[0].is_none()
    }

    /// The field that starts at `offset`.
    pub fn at(&self, offset: u32) -> Option<&Field> {
        self.iter().find(|f| f.offset == offset)
    }

    /// The field overlapping bytes `[lo, hi)`, if any.
    pub fn overlapping(&self, lo: i64, hi: i64) -> Option<&Field> {
        self.iter().find(|f| {
            let (s, e) = (f.offset as i64, (f.offset + f.kind.size()) as i64);
            lo < e && s < hi
        })
    }

    /// The record of a value of `size` bytes holding a spin lock at
    /// `offset` and nothing else.
    pub fn spin_lock_at(offset: u32, size: u32) -> Result<Record, Errno> {
        Record::new(&[Field::spin_lock(offset)], size)
    }

    /// The record with `f` added, checked as [`new`](Self::new) checks.
    pub fn with(&self, f: Field, size: u32) -> Result<Record, Errno> {
        let mut fields = [f; MAX_FIELDS + 1];
        let mut n = 1;
        for (slot, have) in fields[1..].iter_mut().zip(self.iter()) {
            *slot = *have;
            n += 1;
        }
        Record::new(&fields[..n], size)
    }

    /// The record of its kptrs alone.
    pub fn kptrs(&self) -> Record {
        let mut r = Record::EMPTY;
        for (slot, f) in r
            .fields
            .iter_mut()
            .zip(self.iter().filter(|f| f.kind == FieldKind::Kptr))
        {
            *slot = Some(*f);
        }
        r
    }

    /// The record of its timer alone.
    pub fn timers(&self) -> Record {
        let mut r = Record::EMPTY;
        r.fields[0] = self.iter().find(|f| f.kind == FieldKind::Timer).copied();
        r
    }

    /// Its spin lock's offset.
    pub fn spin_lock(&self) -> Option<u32> {
        self.offset_of(FieldKind::SpinLock)
    }

    /// Its timer's offset.
    pub fn timer(&self) -> Option<u32> {
        self.offset_of(FieldKind::Timer)
    }

    /// Its reference count's offset.
    pub fn refcount(&self) -> Option<u32> {
        self.offset_of(FieldKind::Refcount)
    }

    fn offset_of(&self, kind: FieldKind) -> Option<u32> {
        self.iter().find(|f| f.kind == kind).map(|f| f.offset)
    }

    /// A record of `fields`, checked to fit a layout of `size` bytes, each
    /// aligned and apart, at most one spin lock and one reference count,
    /// at most one timer, a list head only with a spin lock: `EINVAL`
    /// otherwise, `E2BIG` for too many.
    pub fn new(fields: &[Field], size: u32) -> Result<Record, Errno> {
        if fields.len() > MAX_FIELDS {
            return Err(Errno::E2BIG);
        }
        let mut r = Record::default();
        for (i, f) in fields.iter().enumerate() {
            let align = f.kind.align();
            let end = f.offset.checked_add(f.kind.size()).ok_or(Errno::EINVAL)?;
            if f.offset % align != 0
                || end > size
                || r.overlapping(f.offset as i64, end as i64).is_some()
            {
                return Err(Errno::EINVAL);
            }
            r.fields[i] = Some(*f);
        }
        let count = |kind| r.iter().filter(|f| f.kind == kind).count();
        let locks = count(FieldKind::SpinLock);
        if locks > 1
            || count(FieldKind::Refcount) > 1
            || count(FieldKind::Timer) > 1
            || (r.has_lists() && locks == 0)
        {
            return Err(Errno::EINVAL);
        }
        // Sorted by offset: one layout, one record.
        r.fields[..fields.len()].sort_unstable_by_key(|f| f.map(|f| f.offset));
        Ok(r)
    }
}

/// An object type: what `bpf_obj_new` allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjType {
    /// Its name (C's struct name, NUL-padded), for messages.
    pub name: [u8; 16],
    /// Size in bytes.
    pub size: u32,
    /// Its special fields.
    pub record: Record,
}

impl ObjType {
    /// The name as text.
    pub fn name(&self) -> &str {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.name[..end]).unwrap_or("?")
    }
}

/// The device's object types, registered by map creation and program
/// loads (process context) and read by runs. Never shrinks: an object
/// outlives the program that made it.
pub struct TypeTable {
    types: Vec<ObjType>,
}

impl TypeTable {
    /// An empty table with room for [`MAX_TYPES`].
    pub fn new() -> Result<TypeTable, Errno> {
        let mut types = Vec::new();
        types
            .try_reserve_exact(MAX_TYPES)
            .map_err(|_| Errno::ENOMEM)?;
        Ok(TypeTable { types })
    }

    /// Type `i`.
    pub fn get(&self, i: u32) -> Option<&ObjType> {
        self.types.get(i as usize)
    }

    /// The index of `t`, registering it if new. Its lists, trees and
    /// kptrs must hold types registered before (no cycles), nested at most
    /// [`MAX_NESTING`] deep, each with a node at the offset the list says.
    pub fn register(&mut self, t: ObjType) -> Result<u32, Errno> {
        if t.size == 0 || t.size > MAX_OBJECT_SIZE {
            return Err(Errno::E2BIG);
        }
        // Linux allows timers in map values only.
        if t.record.timer().is_some() {
            return Err(Errno::EINVAL);
        }
        self.check_lists(&t.record)?;
        if let Some(i) = self.types.iter().position(|x| *x == t) {
            return Ok(i as u32);
        }
        if self.types.len() == self.types.capacity() {
            return Err(Errno::E2BIG);
        }
        self.types.push(t);
        Ok(self.types.len() as u32 - 1)
    }

    /// The lists, trees and kptrs of `record` hold known types (lists and
    /// trees through their nodes), not too deep.
    pub fn check_lists(&self, record: &Record) -> Result<(), Errno> {
        if self.depth(record, 0)? > MAX_NESTING {
            return Err(Errno::E2BIG);
        }
        Ok(())
    }

    fn depth(&self, record: &Record, level: u32) -> Result<u32, Errno> {
        if level > MAX_NESTING {
            return Err(Errno::E2BIG);
        }
        let mut deepest = level;
        for f in record.iter().filter(|f| f.kind.holds_objects()) {
            let held = self.get(f.contains).ok_or(Errno::EINVAL)?;
            if let Some(node) = f.kind.node() {
                match held.record.at(f.node_offset) {
                    Some(n) if n.kind == node => {}
                    _ => return Err(Errno::EINVAL),
                }
            }
            deepest = deepest.max(self.depth(&held.record, level + 1)?);
        }
        Ok(deepest)
    }
}
