//! Maps whose values are objects: `PROG_ARRAY` (programs, for tail calls),
//! `ARRAY_OF_MAPS` and `HASH_OF_MAPS` (inner maps).
//!
//! A slot owns one reference to its object. Programs read slots inside their
//! read-side section and take no reference; userspace, which alone may change
//! these maps (as on Linux), unpublishes the old object and waits a grace
//! period before dropping its reference, so a program never sees an object
//! freed under it, and no object is ever freed in program context.

use core::sync::atomic::{AtomicPtr, Ordering};

use alloc::vec::Vec;

use super::hash::HashTable;
use super::{Map, MapAttr, MapObject, MapType, ProgramHeader, ProgramRef};
use crate::errno::Errno;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SleepLock};
use crate::shared::Shared;

/// A raw object pointer as stored in a slot: a program or a map, as the
/// map's type says.
#[derive(Clone, Copy)]
enum ObjKind {
    Program,
    Map,
}

fn into_raw(obj: MapObject) -> *mut u8 {
    match obj {
        MapObject::Map(m) => Shared::into_raw(m) as *mut u8,
        MapObject::Program(p) => ProgramRef::into_raw(p) as *mut u8,
    }
}

/// Drops the reference a slot held.
///
/// # Safety
/// `ptr` came from `into_raw` of an object of `kind`, and its reference is
/// released once, after a grace period since it was unpublished.
unsafe fn release(kind: ObjKind, ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per the contract.
    unsafe {
        match kind {
            ObjKind::Map => drop(Shared::from_raw(ptr as *const Map)),
            ObjKind::Program => drop(ProgramRef::from_raw(ptr as *const ProgramHeader)),
        }
    }
}

/// The id userspace sees for an object.
///
/// # Safety
/// `ptr` is a live object of `kind`.
unsafe fn object_id(kind: ObjKind, ptr: *mut u8) -> u32 {
    // SAFETY: per the contract.
    unsafe {
        match kind {
            ObjKind::Map => (*(ptr as *const Map)).id(),
            ObjKind::Program => (*(ptr as *const ProgramHeader)).id(),
        }
    }
}

pub(crate) struct ObjectArray {
    platform: PlatformRef,
    kind: ObjKind,
    slots: PlatformBuf,
    max_entries: u32,
    writers: SleepLock<()>,
}

fn index(key: &[u8]) -> u32 {
    u32::from_ne_bytes([key[0], key[1], key[2], key[3]])
}

impl ObjectArray {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        let n = attr.max_entries as usize;
        Ok(ObjectArray {
            platform,
            kind: if attr.map_type == MapType::ProgArray {
                ObjKind::Program
            } else {
                ObjKind::Map
            },
            slots: PlatformBuf::new(platform, n * 8, AllocContext::MaySleep)?,
            max_entries: attr.max_entries,
            writers: SleepLock::new(platform, LockClass::MapObjects, ())?,
        })
    }

    /// Bytes `new` allocates for `attr`: one pointer per slot.
    pub(crate) fn footprint(attr: &MapAttr) -> u64 {
        attr.max_entries as u64 * 8
    }

    fn slot(&self, i: u32) -> &AtomicPtr<u8> {
        debug_assert!(i < self.max_entries);
        // SAFETY: max_entries aligned, zeroed (null) pointers, accessed only
        // atomically.
        unsafe { AtomicPtr::from_ptr((self.slots.as_ptr() as *mut *mut u8).add(i as usize)) }
    }

    pub(crate) fn update(&self, key: &[u8], obj: MapObject, flags: u64) -> Result<(), Errno> {
        let i = index(key);
        if i >= self.max_entries {
            return Err(Errno::E2BIG);
        }
        if flags != super::update::BPF_ANY {
            return Err(Errno::EINVAL);
        }
        let _w = self.writers.lock();
        let old = self.slot(i).swap(into_raw(obj), Ordering::AcqRel);
        if !old.is_null() {
            self.platform.synchronize();
            // SAFETY: unpublished above, a grace period ago.
            unsafe { release(self.kind, old) };
        }
        Ok(())
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        let i = index(key);
        if i >= self.max_entries {
            return Err(Errno::E2BIG);
        }
        let _w = self.writers.lock();
        let old = self.slot(i).swap(core::ptr::null_mut(), Ordering::AcqRel);
        if old.is_null() {
            return Err(Errno::ENOENT);
        }
        self.platform.synchronize();
        // SAFETY: unpublished above, a grace period ago.
        unsafe { release(self.kind, old) };
        Ok(())
    }

    pub(crate) fn lookup_id(&self, key: &[u8], out: &mut [u8]) -> Result<(), Errno> {
        if out.len() != 4 {
            return Err(Errno::EINVAL);
        }
        let i = index(key);
        if i >= self.max_entries {
            return Err(Errno::ENOENT);
        }
        // Writers are excluded, so the object stays alive while we read it.
        let _w = self.writers.lock();
        let p = self.slot(i).load(Ordering::Acquire);
        if p.is_null() {
            return Err(Errno::ENOENT);
        }
        // SAFETY: the slot holds a reference and writers are excluded.
        out.copy_from_slice(&unsafe { object_id(self.kind, p) }.to_ne_bytes());
        Ok(())
    }

    /// A program's view: the inner map's address, or 0.
    pub(crate) fn prog_lookup(&self, key: &[u8]) -> u64 {
        let i = index(key);
        if i >= self.max_entries {
            return 0;
        }
        self.slot(i).load(Ordering::Acquire) as u64
    }

    pub(crate) fn get_program(&self, i: u32) -> Option<*const ProgramHeader> {
        if i >= self.max_entries {
            return None;
        }
        let p = self.slot(i).load(Ordering::Acquire);
        (!p.is_null()).then_some(p as *const ProgramHeader)
    }

    pub(crate) fn clear(&self) {
        let _w = self.writers.lock();
        let n = self.max_entries as usize;
        let mut old: Vec<*mut u8> = Vec::new();
        if old.try_reserve_exact(n).is_err() {
            // No memory to batch: one grace period per occupied slot.
            for i in 0..self.max_entries {
                let p = self.slot(i).swap(core::ptr::null_mut(), Ordering::AcqRel);
                if !p.is_null() {
                    self.platform.synchronize();
                    // SAFETY: unpublished above, a grace period ago.
                    unsafe { release(self.kind, p) };
                }
            }
            return;
        }
        let mut any = false;
        for i in 0..self.max_entries {
            let p = self.slot(i).swap(core::ptr::null_mut(), Ordering::AcqRel);
            any |= !p.is_null();
            // Within the reserved capacity: no allocation.
            old.push(p);
        }
        if any {
            self.platform.synchronize();
        }
        for p in old {
            // SAFETY: unpublished above, a grace period ago.
            unsafe { release(self.kind, p) };
        }
    }
}

impl Drop for ObjectArray {
    fn drop(&mut self) {
        // No program can reach this map any more: it is being freed.
        for i in 0..self.max_entries {
            let p = self.slot(i).swap(core::ptr::null_mut(), Ordering::AcqRel);
            // SAFETY: the slot's own reference, released once.
            unsafe { release(self.kind, p) };
        }
    }
}

pub(crate) struct ObjectHash {
    platform: PlatformRef,
    key_size: usize,
    table: HashTable,
}

impl ObjectHash {
    pub(crate) fn new(platform: PlatformRef, attr: &MapAttr) -> Result<Self, Errno> {
        Ok(ObjectHash {
            platform,
            key_size: attr.key_size as usize,
            table: HashTable::new(platform, &Self::table_attr(attr))?,
        })
    }

    /// The attributes of the table of inner-map pointers behind `attr`.
    fn table_attr(attr: &MapAttr) -> MapAttr {
        let mut table = *attr;
        table.map_type = MapType::Hash;
        table.value_size = 8;
        table.flags = 0;
        table.inner = None;
        table.record = crate::graph::types::Record::EMPTY;
        table
    }

    /// Bytes `new` allocates for `attr`.
    pub(crate) fn footprint(attr: &MapAttr) -> Option<u64> {
        HashTable::footprint(&Self::table_attr(attr), 1)
    }

    pub(crate) fn update(&self, key: &[u8], inner: Shared<Map>, flags: u64) -> Result<(), Errno> {
        let raw = Shared::into_raw(inner) as u64;
        let mut old = 0u64;
        let result = self.table.update_with_old(
            key,
            &raw.to_ne_bytes(),
            flags,
            super::slab::LockSpec::PLAIN,
            &mut |p| {
                // SAFETY: the old element's first word, under the table lock.
                old = unsafe { (p as *const u64).read() };
            },
        );
        if let Err(e) = result {
            // SAFETY: not stored: take our reference back.
            unsafe { release(ObjKind::Map, raw as *mut u8) };
            return Err(e);
        }
        if old != 0 {
            self.platform.synchronize();
            // SAFETY: unpublished by the replacement, a grace period ago.
            unsafe { release(ObjKind::Map, old as *mut u8) };
        }
        Ok(())
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        let mut old = 0u64;
        self.table.delete(key, &mut |p| {
            // SAFETY: as in update.
            old = unsafe { (p as *const u64).read() };
        })?;
        self.platform.synchronize();
        // SAFETY: unpublished by the delete, a grace period ago.
        unsafe { release(ObjKind::Map, old as *mut u8) };
        Ok(())
    }

    pub(crate) fn lookup_id(&self, key: &[u8], out: &mut [u8]) -> Result<(), Errno> {
        if out.len() != 4 {
            return Err(Errno::EINVAL);
        }
        // Deletes wait a grace period before releasing: stay inside one.
        let _section = crate::platform::ReadGuard::new(self.platform);
        let p = self.table.find_word(key).ok_or(Errno::ENOENT)?;
        // SAFETY: published in the table; released only after a grace
        // period, and we are inside a read-side section.
        out.copy_from_slice(&unsafe { object_id(ObjKind::Map, p as *mut u8) }.to_ne_bytes());
        Ok(())
    }

    pub(crate) fn prog_lookup(&self, key: &[u8]) -> u64 {
        self.table.find_word(key).unwrap_or(0)
    }

    pub(crate) fn get_next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        self.table.get_next_key(key, next)
    }

    pub(crate) fn clear(&self) {
        let mut key = [0u8; super::MAX_KEY_SIZE as usize];
        let key = &mut key[..self.key_size];
        while self.table.get_next_key(None, key).is_ok() {
            let _ = self.delete(key);
        }
    }
}

impl Drop for ObjectHash {
    fn drop(&mut self) {
        self.table.drain_words(&mut |p| {
            // SAFETY: the element's own reference; the map is being freed,
            // so no program can reach it.
            unsafe { release(ObjKind::Map, p as *mut u8) };
        });
    }
}
