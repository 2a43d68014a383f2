//! The device as a kernel hosts it: made when the module loads, one
//! [`OpenFile`] per open file of `/dev/ebpf`, freed when the module
//! unloads and no file is open. Each kernel's glue (and the embedded
//! backend) keeps one [`Service`] and calls it from its device methods;
//! what is left to the glue is registering the device node, checking
//! privilege and moving the ioctl argument.

use alloc::alloc::{alloc, dealloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::{Device, Limits, OpenFile, Privileges};
use crate::abi::IoctlArg;
use crate::errno::Errno;
use crate::platform::PlatformRef;

/// Who hosts the device; named in the VERSION reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The Linux module.
    Linux,
    /// The FreeBSD kld.
    FreeBsd,
    /// The embedded backend, in a user process.
    Embedded,
}

impl Host {
    /// What the VERSION command reports.
    pub const fn version(self) -> &'static str {
        match self {
            Host::Linux => concat!("ebpf-kmod ", env!("CARGO_PKG_VERSION"), " (linux)"),
            Host::FreeBsd => concat!("ebpf-kmod ", env!("CARGO_PKG_VERSION"), " (freebsd)"),
            Host::Embedded => concat!("ebpf-kmod ", env!("CARGO_PKG_VERSION"), " (embedded)"),
        }
    }
}

/// `Box::new` that reports allocation failure instead of aborting.
fn try_box<T>(value: T) -> Result<NonNull<T>, Errno> {
    // SAFETY: Device and OpenFile, the only T here, are not zero-sized.
    let p = NonNull::new(unsafe { alloc(Layout::new::<T>()) }.cast::<T>()).ok_or(Errno::ENOMEM)?;
    // SAFETY: fresh memory for one T.
    unsafe { p.as_ptr().write(value) };
    Ok(p)
}

/// Takes back what [`try_box`] made.
///
/// # Safety
/// `p` came from `try_box::<T>` and is not used afterwards.
unsafe fn take_box<T>(p: NonNull<T>) -> T {
    // SAFETY: a live T, given up by the caller.
    let value = unsafe { p.as_ptr().read() };
    // SAFETY: allocated with this layout by try_box.
    unsafe { dealloc(p.as_ptr().cast(), Layout::new::<T>()) };
    value
}

/// One hosted device and the count of its open files.
pub struct Service {
    device: AtomicPtr<Device>,
    open_files: AtomicUsize,
}

impl Default for Service {
    fn default() -> Self {
        Self::new()
    }
}

impl Service {
    /// No device yet (a `static` in a kernel module).
    pub const fn new() -> Self {
        Service {
            device: AtomicPtr::new(ptr::null_mut()),
            open_files: AtomicUsize::new(0),
        }
    }

    /// Creates the device (module load). `EBUSY` if there is one.
    pub fn start(&self, platform: PlatformRef, limits: Limits, host: Host) -> Result<(), Errno> {
        let device = try_box(Device::new(platform, limits, host.version())?)?;
        if self
            .device
            .compare_exchange(
                ptr::null_mut(),
                device.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: never published.
            drop(unsafe { take_box(device) });
            return Err(Errno::EBUSY);
        }
        Ok(())
    }

    /// Whether a file is open (then the module must stay).
    pub fn busy(&self) -> bool {
        self.open_files.load(Ordering::Acquire) != 0
    }

    /// Frees the device and everything in it, pins included (module
    /// unload, after the device node is gone so that no open can start).
    /// `EBUSY` while a file is open.
    pub fn stop(&self) -> Result<(), Errno> {
        if self.busy() {
            return Err(Errno::EBUSY);
        }
        if let Some(device) = NonNull::new(self.device.swap(ptr::null_mut(), Ordering::AcqRel)) {
            // SAFETY: unpublished, and no file is open to use it.
            drop(unsafe { take_box(device) });
        }
        Ok(())
    }

    fn device(&self) -> Result<&Device, Errno> {
        let p = self.device.load(Ordering::Acquire);
        // SAFETY: a published device lives until `stop`, which refuses
        // while a file is open, and callers reach here only from device
        // methods, which the kernel stops calling before unload.
        unsafe { p.as_ref() }.ok_or(Errno::ENXIO)
    }

    /// Opens a file: its handle table, to keep in the kernel's per-file
    /// pointer, for an opener with `privileges`. `ENXIO` without a device,
    /// `ENOMEM` without memory.
    pub fn open(&self, privileges: Privileges) -> Result<NonNull<OpenFile>, Errno> {
        let file = try_box(self.device()?.open(privileges)?)?;
        self.open_files.fetch_add(1, Ordering::AcqRel);
        Ok(file)
    }

    /// Closes a file: releases every handle it holds that is not pinned.
    ///
    /// # Safety
    /// `file` came from [`open`](Self::open) and is not used afterwards.
    pub unsafe fn release(&self, file: NonNull<OpenFile>) {
        // SAFETY: the caller gives the file up.
        let file = unsafe { take_box(file) };
        if let Ok(device) = self.device() {
            device.close(file);
        }
        self.open_files.fetch_sub(1, Ordering::AcqRel);
    }

    /// Serves one ioctl whose argument is at user address `arg`.
    ///
    /// # Safety
    /// `file` came from [`open`](Self::open) and is not released yet.
    pub unsafe fn ioctl(
        &self,
        file: NonNull<OpenFile>,
        request: u32,
        arg: u64,
    ) -> Result<(), Errno> {
        // SAFETY: a live file, per the contract.
        self.device()?.ioctl(unsafe { file.as_ref() }, request, arg)
    }

    /// Serves one ioctl whose argument the kernel already copied in.
    ///
    /// # Safety
    /// As for [`ioctl`](Self::ioctl).
    pub unsafe fn ioctl_arg(
        &self,
        file: NonNull<OpenFile>,
        request: u32,
        ioc: &IoctlArg,
    ) -> Result<(), Errno> {
        // SAFETY: a live file, per the contract.
        self.device()?
            .ioctl_arg(unsafe { file.as_ref() }, request, ioc)
    }

    /// The device, while started.
    pub fn get(&self) -> Option<&Device> {
        self.device().ok()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // An embedded service goes with its files already released.
        let _ = self.stop();
    }
}
