//! Software ports: the embedded backend's interfaces. A process that moves
//! frames itself (a userspace switch, a packet capture or AF_XDP loop)
//! declares its ports, and programs attach to them through the same
//! `LinkCreate` request a kernel device serves; the process then passes
//! every frame through [`Ports::process`] and applies the verdict.
//!
//! The rules are a kernel hook's: a frame runs inside a read-side section,
//! and a detach returns only when no frame is still in the program.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Mutex;

use ebpf_core::attach::{run_hook, LiveFrame, Verdict};
use ebpf_core::platform::{Direction, NetDevice, NetHook, PlatformRef, ReadGuard};
use ebpf_core::prog_type::TEST_HEADROOM;
use ebpf_core::Errno;

/// Largest name of a port, as an interface name (`IFNAMSIZ` - 1).
const NAME_MAX: usize = 15;
/// Bytes a frame may grow by at its end.
const TAILROOM: usize = 256;

struct Port {
    ifindex: u32,
    name: String,
}

/// A registered hook: where it is and what it calls.
struct Hook {
    id: usize,
    ifindex: u32,
    direction: Direction,
    /// The core's target, as an address.
    target: usize,
    /// 0 once its port was removed.
    alive: bool,
}

#[derive(Default)]
struct Table {
    ports: Vec<Port>,
    hooks: Vec<Hook>,
    next_ifindex: u32,
    next_hook: usize,
}

/// The ports of one platform, and the hooks on them.
#[derive(Default)]
pub struct Ports {
    table: Mutex<Table>,
}

impl Ports {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Declares a port called `name` (at most 15 bytes, unique); returns
    /// its index, which links name as their interface.
    pub fn add(&self, name: &str) -> Result<u32, Errno> {
        if name.is_empty() || name.len() > NAME_MAX || name.contains('\0') {
            return Err(Errno::EINVAL);
        }
        let mut t = self.table();
        if t.ports.iter().any(|p| p.name == name) {
            return Err(Errno::EEXIST);
        }
        t.next_ifindex += 1;
        let ifindex = t.next_ifindex;
        t.ports.push(Port {
            ifindex,
            name: name.to_string(),
        });
        Ok(ifindex)
    }

    /// Removes a port: links on it are left detached, as when a kernel's
    /// interface goes away. A frame still in a program on the port
    /// finishes first.
    pub(crate) fn remove(&self, platform: PlatformRef, ifindex: u32) -> Result<(), Errno> {
        let mut t = self.table();
        let at = t
            .ports
            .iter()
            .position(|p| p.ifindex == ifindex)
            .ok_or(Errno::ENODEV)?;
        t.ports.remove(at);
        for h in t.hooks.iter_mut().filter(|h| h.ifindex == ifindex) {
            h.alive = false;
        }
        drop(t);
        platform.synchronize();
        Ok(())
    }

    /// Passes `frame`, arriving on (or leaving by) port `ifindex`, through
    /// the program attached there, if any: `None` without one; else its
    /// verdict, with `frame` as the program left it.
    pub(crate) fn process(
        &self,
        platform: PlatformRef,
        ifindex: u32,
        direction: Direction,
        frame: &mut Vec<u8>,
    ) -> Option<Verdict> {
        let section = ReadGuard::new(platform);
        let target = self
            .table()
            .hooks
            .iter()
            .find(|h| h.alive && h.ifindex == ifindex && h.direction == direction)
            .map(|h| h.target);
        let verdict = target.map(|target| {
            let mut room = vec![0u8; TEST_HEADROOM + frame.len() + TAILROOM];
            room[TEST_HEADROOM..TEST_HEADROOM + frame.len()].copy_from_slice(frame);
            let mut live = LiveFrame {
                room: &mut room,
                start: TEST_HEADROOM,
                len: frame.len(),
                ifindex,
                rx_queue: 0,
            };
            let target = NonNull::new(target as *mut c_void).expect("hooks hold targets");
            // SAFETY: the hook was alive in the table inside this
            // read-side section, and its target is freed only after a
            // grace period once it left the table (`detach`).
            let verdict = unsafe { run_hook(target, &mut live) };
            let (start, len) = (live.start, live.len);
            frame.clear();
            frame.extend_from_slice(&room[start..start + len]);
            verdict
        });
        drop(section);
        verdict
    }

    pub(crate) fn device(&self, ifindex: u32, name: &[u8]) -> Result<NetDevice, Errno> {
        let t = self.table();
        t.ports
            .iter()
            .find(|p| {
                if ifindex != 0 {
                    p.ifindex == ifindex
                } else {
                    p.name.as_bytes() == name
                }
            })
            .map(|p| NetDevice {
                ifindex: p.ifindex,
                key: u64::from(p.ifindex),
            })
            .ok_or(Errno::ENODEV)
    }

    pub(crate) fn attach(
        &self,
        device: &NetDevice,
        direction: Direction,
        target: NonNull<c_void>,
    ) -> Result<NetHook, Errno> {
        let mut t = self.table();
        if !t.ports.iter().any(|p| p.ifindex == device.ifindex) {
            return Err(Errno::ENODEV);
        }
        t.next_hook += 1;
        let id = t.next_hook;
        t.hooks.push(Hook {
            id,
            ifindex: device.ifindex,
            direction,
            target: target.as_ptr() as usize,
            alive: true,
        });
        Ok(NetHook(
            NonNull::new(id as *mut c_void).expect("ids start at 1"),
        ))
    }

    /// Removes a hook; `synchronize` waits for a grace period (after which
    /// no frame is in it).
    pub(crate) fn detach(&self, hook: NetHook, synchronize: impl FnOnce()) {
        let id = hook.0.as_ptr() as usize;
        self.table().hooks.retain(|h| h.id != id);
        synchronize();
    }

    pub(crate) fn hook_ifindex(&self, hook: &NetHook) -> u32 {
        let id = hook.0.as_ptr() as usize;
        self.table()
            .hooks
            .iter()
            .find(|h| h.id == id && h.alive)
            .map_or(0, |h| h.ifindex)
    }
}
