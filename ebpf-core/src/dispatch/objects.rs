//! Objects, their registry (ids, names, pins, user counts) and the handle
//! table of each open file.

use alloc::vec::Vec;

use crate::abi::{ObjKind, OBJ_NAME_LEN, PIN_NAME_LEN};
use crate::attach::Link;
use crate::errno::Errno;
use crate::maps::Map;
use crate::platform::{LockClass, PlatformRef, SleepLock};
use crate::runtime::LoadedProgram;
use crate::shared::Shared;

/// A map, a program or a link.
#[derive(Clone)]
pub enum Object {
    /// A map.
    Map(Shared<Map>),
    /// A program.
    Prog(Shared<LoadedProgram>),
    /// A program attached to traffic.
    Link(Shared<Link>),
}

impl Object {
    /// Its kind.
    pub fn kind(&self) -> ObjKind {
        match self {
            Object::Map(_) => ObjKind::Map,
            Object::Prog(_) => ObjKind::Prog,
            Object::Link(_) => ObjKind::Link,
        }
    }

    fn same(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Map(a), Object::Map(b)) => Shared::ptr_eq(a, b),
            (Object::Prog(a), Object::Prog(b)) => Shared::ptr_eq(a, b),
            (Object::Link(a), Object::Link(b)) => Shared::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Its id.
    pub fn id(&self) -> u32 {
        match self {
            Object::Map(m) => m.id(),
            Object::Prog(p) => p.id(),
            Object::Link(l) => l.id(),
        }
    }
}

/// What the registry knows of an object besides the object.
pub(crate) struct Entry {
    pub(crate) object: Object,
    pub(crate) name: [u8; OBJ_NAME_LEN],
    /// Handles and pins referring to it.
    users: usize,
    pub(crate) load_time_ns: u64,
}

/// Every live object, by id, and the pins.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: u32,
    pub(crate) entries: Vec<Entry>,
    pins: Vec<([u8; PIN_NAME_LEN], Object)>,
}

impl Registry {
    pub(crate) fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Registers a new object with one user (the handle about to be made).
    pub(crate) fn add(
        &mut self,
        object: Object,
        name: [u8; OBJ_NAME_LEN],
        now: u64,
    ) -> Result<(), Errno> {
        self.entries.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.entries.push(Entry {
            object,
            name,
            users: 1,
            load_time_ns: now,
        });
        Ok(())
    }

    pub(crate) fn entry(&self, obj: &Object) -> Option<&Entry> {
        self.entries.iter().find(|e| e.object.same(obj))
    }

    pub(crate) fn by_id(&self, kind: ObjKind, id: u32) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.object.kind() == kind && e.object.id() == id)
    }

    /// The smallest id of `kind` above `id`.
    pub(crate) fn next_after(&self, kind: ObjKind, id: u32) -> Option<u32> {
        self.entries
            .iter()
            .filter(|e| e.object.kind() == kind && e.object.id() > id)
            .map(|e| e.object.id())
            .min()
    }

    pub(crate) fn add_user(&mut self, obj: &Object) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.object.same(obj)) {
            e.users += 1;
        }
    }

    /// Drops one user; the last one removes the object from the registry
    /// (programs may still hold maps), for a map, does what Linux does
    /// when its last user reference goes (a prog_array emptied, timers
    /// freed: [`Map::release_user_refs`]), and for a link, detaches it.
    pub(crate) fn unref(&mut self, obj: &Object, _platform: PlatformRef) {
        let Some(i) = self.entries.iter().position(|e| e.object.same(obj)) else {
            return;
        };
        let e = &mut self.entries[i];
        e.users -= 1;
        if e.users > 0 {
            return;
        }
        let e = self.entries.swap_remove(i);
        match &e.object {
            Object::Map(m) => m.release_user_refs(),
            Object::Link(link) => self.detach(link, _platform),
            _ => {}
        }
    }

    /// Detaches `link` and drops the use of its program it held.
    pub(crate) fn detach(&mut self, link: &Link, platform: PlatformRef) {
        if let Some(program) = link.detach() {
            self.unref(&Object::Prog(program), platform);
        }
    }

    /// The live link on `device` in `direction`, if any.
    pub(crate) fn link_on(
        &self,
        device: &crate::platform::NetDevice,
        direction: crate::platform::Direction,
    ) -> Option<Shared<Link>> {
        self.entries.iter().find_map(|e| match &e.object {
            Object::Link(l)
                if l.device() == *device && l.direction() == direction && l.is_live() =>
            {
                Some(l.clone())
            }
            _ => None,
        })
    }

    pub(crate) fn pin(
        &mut self,
        name: [u8; PIN_NAME_LEN],
        obj: &Object,
        max: usize,
    ) -> Result<(), Errno> {
        if self.pins.iter().any(|(n, _)| *n == name) {
            return Err(Errno::EEXIST);
        }
        if self.pins.len() >= max {
            return Err(Errno::ENOSPC);
        }
        self.pins.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.pins.push((name, obj.clone()));
        self.add_user(obj);
        Ok(())
    }

    pub(crate) fn pinned(&self, name: &[u8; PIN_NAME_LEN]) -> Option<Object> {
        self.pins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
    }

    /// Removes every pin as an unpin would (a prog_array whose last user
    /// goes is emptied, which breaks reference cycles through its slots).
    /// Called when the device goes away, after every file was closed.
    pub(crate) fn unpin_all(&mut self, platform: PlatformRef) {
        while let Some((_, obj)) = self.pins.pop() {
            self.unref(&obj, platform);
        }
    }

    /// Removes a pin (unpinning is closing the pin's name).
    pub(crate) fn unpin(
        &mut self,
        name: &[u8; PIN_NAME_LEN],
        platform: PlatformRef,
    ) -> Result<(), Errno> {
        let i = self
            .pins
            .iter()
            .position(|(n, _)| n == name)
            .ok_or(Errno::ENOENT)?;
        let (_, obj) = self.pins.swap_remove(i);
        self.unref(&obj, platform);
        Ok(())
    }
}

/// What the opener of a file may do beyond using the device, decided by
/// the OS glue from the opener's credentials when the file is opened (a
/// file handed to another process keeps them, as with any device).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    /// May see kernel addresses: its programs may return pointers, store
    /// them in maps, compare them and turn them into numbers, as Linux
    /// allows callers with `CAP_PERFMON` (Linux: `CAP_PERFMON` or
    /// `CAP_SYS_ADMIN`; FreeBSD: whoever may open the device, which takes
    /// `PRIV_DRIVER`, root's outside a jail; the embedded backend: always,
    /// the addresses are the process's own).
    pub see_addresses: bool,
}

impl Privileges {
    /// Bit of [`from_bits`](Self::from_bits) for `see_addresses`.
    pub const SEE_ADDRESSES: u32 = 1;

    /// From the bits the C entry point receives (unknown bits ignored).
    pub const fn from_bits(bits: u32) -> Self {
        Privileges {
            see_addresses: bits & Self::SEE_ADDRESSES != 0,
        }
    }
}

/// The handles of one open file: small integers from 1, like fds.
pub struct OpenFile {
    handles: SleepLock<Vec<Option<Object>>>,
    privileges: Privileges,
}

impl OpenFile {
    pub(crate) fn new(platform: PlatformRef, privileges: Privileges) -> Result<Self, Errno> {
        Ok(OpenFile {
            handles: SleepLock::new(platform, LockClass::FileHandles, Vec::new())?,
            privileges,
        })
    }

    /// What its opener may do.
    pub fn privileges(&self) -> Privileges {
        self.privileges
    }

    /// Stores `obj`; returns its handle.
    pub(crate) fn insert(&self, obj: Object, max: usize) -> Result<u32, Errno> {
        let mut h = self.handles.lock();
        if let Some(i) = h.iter().position(Option::is_none) {
            h[i] = Some(obj);
            return Ok(i as u32 + 1);
        }
        if h.len() >= max {
            return Err(Errno::ENOSPC);
        }
        h.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        h.push(Some(obj));
        Ok(h.len() as u32)
    }

    /// The object behind `handle` (`EBADF` if none).
    pub fn get(&self, handle: u32) -> Result<Object, Errno> {
        let h = self.handles.lock();
        handle
            .checked_sub(1)
            .and_then(|i| h.get(i as usize))
            .and_then(|o| o.clone())
            .ok_or(Errno::EBADF)
    }

    /// Removes `handle`.
    pub(crate) fn remove(&self, handle: u32) -> Result<Object, Errno> {
        let mut h = self.handles.lock();
        handle
            .checked_sub(1)
            .and_then(|i| h.get_mut(i as usize))
            .and_then(Option::take)
            .ok_or(Errno::EBADF)
    }

    /// Empties the table (without allocating: closing cannot fail).
    pub(crate) fn take_all(&self) -> Vec<Option<Object>> {
        core::mem::take(&mut *self.handles.lock())
    }
}
