//! The platform-neutral `/dev/ebpf` dispatcher: the exact code both
//! kernels run for every ioctl.
//!
//! The OS glue registers the device, checks privilege at open, creates an
//! [`OpenFile`] per open and calls [`Device::ioctl`] with the raw request
//! number and argument. Everything else happens here: the request is
//! decoded with the OS's ioctl layout, copied in through the platform's
//! `copy_from_user`, every field validated, limits enforced, the core
//! called, results copied out, and an errno returned.

mod objects;
mod requests;
mod service;

use alloc::vec::Vec;

use crate::abi::{self, Command, IoctlArg, Plain};
use crate::errno::Errno;
use crate::platform::{LockClass, PlatformRef, SleepLock};
use crate::quota::Quota;
use crate::shared::Shared;

use objects::Registry;
pub use objects::{Object, OpenFile, Privileges};
pub use service::{Host, Service};

/// Resource limits of one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maps alive at once, whatever keeps them alive (handles, pins,
    /// programs, map-in-map slots).
    pub max_maps: usize,
    /// Programs alive at once, likewise.
    pub max_progs: usize,
    /// Bytes of map storage alive in total, likewise.
    pub max_map_bytes: u64,
    /// Instructions of one program.
    pub max_insns: u32,
    /// Instructions one run may execute (a chain of tail calls is one run;
    /// helpers charge their work to it too).
    pub run_budget: u64,
    /// Handles one open file may hold.
    pub max_handles: usize,
    /// Pins.
    pub max_pins: usize,
    /// Bytes of packet or context one test run may pass.
    pub max_test_data: u32,
    /// Runs one test-run request may ask for.
    pub max_repeat: u32,
    /// Bytes of a log buffer the loader fills.
    pub max_log: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_maps: 1024,
            max_progs: 1024,
            max_map_bytes: 256 << 20,
            max_insns: 1_000_000,
            run_budget: crate::program::DEFAULT_BUDGET,
            max_handles: 1024,
            max_pins: 1024,
            max_test_data: 64 << 10,
            max_repeat: 10_000_000,
            max_log: 16 << 20,
        }
    }
}

/// Largest request struct accepted (growth room for future versions).
const MAX_REQUEST: u32 = 4096;

/// The device: every object and pin, shared by all open files.
pub struct Device {
    platform: PlatformRef,
    limits: Limits,
    registry: SleepLock<Registry>,
    quota: Shared<Quota>,
    version: &'static str,
    /// The objects programs allocate, made when first needed.
    graph: SleepLock<Option<Shared<crate::graph::Graph>>>,
}

impl Device {
    /// A device on `platform`. `version` is reported by the VERSION
    /// command.
    pub fn new(
        platform: PlatformRef,
        limits: Limits,
        version: &'static str,
    ) -> Result<Self, Errno> {
        Ok(Device {
            platform,
            limits,
            registry: SleepLock::new(platform, LockClass::Registry, Registry::default())?,
            quota: Shared::try_new(Quota::new(
                limits.max_maps as u64,
                limits.max_progs as u64,
                limits.max_map_bytes,
            ))?,
            version,
            graph: SleepLock::new(platform, LockClass::DeviceGraph, None)?,
        })
    }

    /// The device's object graph (process context).
    pub(crate) fn graph(&self) -> Result<Shared<crate::graph::Graph>, Errno> {
        let mut g = self.graph.lock();
        if let Some(g) = &*g {
            return Ok(g.clone());
        }
        let made = Shared::try_new(crate::graph::Graph::new(self.platform)?)?;
        *g = Some(made.clone());
        Ok(made)
    }

    /// The platform.
    pub fn platform(&self) -> PlatformRef {
        self.platform
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What is alive against them.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// A new open file (call at open), for an opener with `privileges`.
    pub fn open(&self, privileges: Privileges) -> Result<OpenFile, Errno> {
        OpenFile::new(self.platform, privileges)
    }

    /// Releases everything an open file holds that is not pinned (call at
    /// close; also done when the file is dropped with the device alive).
    pub fn close(&self, file: OpenFile) {
        let handles = file.take_all();
        let mut reg = self.registry.lock();
        for obj in handles.into_iter().flatten() {
            reg.unref(&obj, self.platform);
        }
    }

    /// Handles one ioctl: `request` is the raw request number, `arg` the
    /// user address of an [`IoctlArg`]. Returns 0 or an errno.
    pub fn ioctl(&self, file: &OpenFile, request: u32, arg: u64) -> Result<(), Errno> {
        Command::from_request(request).ok_or(Errno::ENOTTY)?;
        let mut ioc = IoctlArg::default();
        self.platform.copy_from_user(ioc.as_bytes_mut(), arg)?;
        self.ioctl_arg(file, request, &ioc)
    }

    /// Handles one ioctl whose [`IoctlArg`] the kernel has already copied
    /// in (FreeBSD's `d_ioctl` receives it in kernel memory). The request
    /// struct it points to is still user memory.
    pub fn ioctl_arg(&self, file: &OpenFile, request: u32, ioc: &IoctlArg) -> Result<(), Errno> {
        let cmd = Command::from_request(request).ok_or(Errno::ENOTTY)?;
        if ioc.reserved != 0 {
            return Err(Errno::EINVAL);
        }
        let call = Call {
            dev: self,
            file,
            addr: ioc.request,
            size: ioc.size,
        };
        match cmd {
            Command::Version => call.with(|_, r: &mut abi::VersionReq| requests::version(self, r)),
            Command::MapCreate => call.with(requests::map_create),
            Command::MapLookupElem
            | Command::MapUpdateElem
            | Command::MapDeleteElem
            | Command::MapGetNextKey
            | Command::MapLookupAndDeleteElem => {
                call.with(|c, r: &mut abi::MapElemReq| requests::map_elem(c, cmd, r))
            }
            Command::MapLookupBatch | Command::MapUpdateBatch | Command::MapDeleteBatch => {
                call.with(|c, r: &mut abi::MapBatchReq| requests::map_batch(c, cmd, r))
            }
            Command::ProgLoad => call.with(requests::prog_load),
            Command::ProgTestRun => call.with(requests::test_run),
            Command::ObjPin => call.with(requests::obj_pin),
            Command::ObjGet => call.with(requests::obj_get),
            Command::ObjClose => call.with(requests::obj_close),
            Command::ObjGetInfo => call.with(requests::get_info),
            Command::GetNextId => call.with(requests::get_next_id),
            Command::GetHandleById => call.with(requests::get_handle_by_id),
            Command::RingbufConsume => call.with(requests::ringbuf_consume),
            Command::LinkCreate => call.with(requests::link_create),
            Command::LinkDetach => call.with(requests::link_detach),
        }
    }
}

impl Drop for Device {
    /// Unpins everything, so that objects kept only by pins are freed,
    /// cycles through prog_array slots included (a program holds the maps
    /// of its object, which may be the prog_array holding it).
    fn drop(&mut self) {
        self.registry.lock().unpin_all(self.platform);
    }
}

/// One ioctl being served.
pub(crate) struct Call<'a> {
    pub(crate) dev: &'a Device,
    pub(crate) file: &'a OpenFile,
    addr: u64,
    size: u32,
}

impl Call<'_> {
    /// Copies the request struct in (shorter: missing fields are zero;
    /// longer: the unknown tail must be zero), runs `f`, and copies the
    /// struct back out, even when `f` fails (as bpf(2) reports partial
    /// results such as a batch's count or the log size).
    fn with<T: Plain>(
        &self,
        f: impl FnOnce(&Self, &mut T) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if self.size > MAX_REQUEST {
            return Err(Errno::E2BIG);
        }
        let known = size_of::<T>().min(self.size as usize);
        let mut req = T::default();
        self.dev
            .platform
            .copy_from_user(&mut req.as_bytes_mut()[..known], self.addr)?;
        if self.size as usize > size_of::<T>() {
            let mut tail = [0u8; 64];
            let mut at = size_of::<T>();
            while at < self.size as usize {
                let n = tail.len().min(self.size as usize - at);
                self.dev
                    .platform
                    .copy_from_user(&mut tail[..n], user_addr(self.addr, at as u64)?)?;
                if tail[..n].iter().any(|&b| b != 0) {
                    return Err(Errno::E2BIG);
                }
                at += n;
            }
        }
        let result = f(self, &mut req);
        let copied = self
            .dev
            .platform
            .copy_to_user(self.addr, &req.as_bytes()[..known]);
        result.and(copied)
    }

    /// Copies `len` bytes from user address `addr` into a new buffer.
    pub(crate) fn read_user(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = zeroed(len)?;
        if len > 0 {
            self.dev.platform.copy_from_user(&mut buf, addr)?;
        }
        Ok(buf)
    }

    /// A point between two steps of a long request: lets the scheduler run
    /// something else and stops the request with `EINTR` when the caller
    /// has a signal pending (as Linux's `bpf_test_timer` and batch
    /// operations do). Every loop a request runs whose length the caller
    /// chooses goes through here on every step.
    pub(crate) fn step(&self) -> Result<(), Errno> {
        let platform = self.dev.platform;
        platform.resched();
        if platform.interrupted() {
            return Err(Errno::EINTR);
        }
        Ok(())
    }

    /// Copies `data` to user address `addr`.
    pub(crate) fn write_user(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        self.dev.platform.copy_to_user(addr, data)
    }
}

/// User address `base + offset`; `EFAULT` where it would wrap (user
/// addresses come from requests and are never trusted).
pub(crate) fn user_addr(base: u64, offset: u64) -> Result<u64, Errno> {
    base.checked_add(offset).ok_or(Errno::EFAULT)
}

/// A zeroed buffer, allocated fallibly.
pub(crate) fn zeroed(len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}
