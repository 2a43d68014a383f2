//! Backends: where requests go. The real device (`/dev/ebpf`) or the
//! embedded dispatcher (the same code, in this process).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use ebpf_core::abi::{Command, IoctlArg, Plain};
use ebpf_core::dispatch::{Device, Host, Limits, OpenFile, Privileges};
use ebpf_core::Errno;

use crate::UserPlatform;

/// The core's (Linux-numbered) errno for an errno of this OS.
pub fn os_errno(n: i32) -> Errno {
    if cfg!(target_os = "freebsd") {
        Errno::from_freebsd(n)
    } else {
        Errno(n)
    }
}

// The request numbers are what both kernels compute for
// `_IOWR('E', nr, struct ebpf_ioctl_arg)` (16 bytes): Linux's
// asm-generic/ioctl.h, (READ|WRITE) << 30 | size << 16 | type << 8 | nr,
// and FreeBSD's ioccom.h, IOC_INOUT | (len & IOCPARM_MASK) << 16 |
// group << 8 | num, which agree for a length this small.
const _: () = {
    assert!(Command::Version.request() == (3 << 30) | (16 << 16) | (0x45 << 8));
    assert!(
        Command::RingbufConsume.request()
            == 0x8000_0000 | 0x4000_0000 | (16 << 16) | (0x45 << 8) | 0x12
    );
};

/// The default device path.
pub const DEVICE_PATH: &str = "/dev/ebpf";

/// Something that serves requests.
pub trait Backend: Send + Sync {
    /// Sends `cmd` with the request struct `req` (updated in place).
    fn request(&self, cmd: Command, req: &mut [u8]) -> Result<(), Errno>;

    /// "device" or "embedded".
    fn kind(&self) -> &'static str;
}

/// Sends a typed request.
pub(crate) fn send<T: Plain>(b: &dyn Backend, cmd: Command, req: &mut T) -> Result<(), Errno> {
    b.request(cmd, req.as_bytes_mut())
}

fn arg_for(req: &mut [u8]) -> IoctlArg {
    IoctlArg {
        request: req.as_mut_ptr() as u64,
        size: req.len() as u32,
        reserved: 0,
    }
}

/// The kernel module's device.
pub struct DeviceBackend {
    file: File,
}

impl DeviceBackend {
    /// Opens the device at `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(DeviceBackend {
            file: OpenOptions::new().read(true).write(true).open(path)?,
        })
    }
}

impl Backend for DeviceBackend {
    fn request(&self, cmd: Command, req: &mut [u8]) -> Result<(), Errno> {
        let mut arg = arg_for(req);
        // SAFETY: the fd is open; the argument points to a live IoctlArg
        // whose request pointer and size describe `req`, which the kernel
        // reads and writes only within its size.
        let r = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                cmd.request() as _,
                &mut arg as *mut IoctlArg,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return Err(os_errno(e.raw_os_error().unwrap_or(libc::EIO)));
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "device"
    }
}

/// The embedded backend: a private device in this process.
pub struct EmbeddedBackend {
    device: Device,
    file: Option<OpenFile>,
}

impl EmbeddedBackend {
    /// A fresh embedded device with default limits.
    pub fn new() -> Result<Self, Errno> {
        Self::with_limits(Limits::default())
    }

    /// A fresh embedded device with `limits`. Its file may see addresses:
    /// the process's own addresses are no secret to it.
    pub fn with_limits(limits: Limits) -> Result<Self, Errno> {
        let privileges = Privileges {
            see_addresses: true,
        };
        Self::with_privileges(limits, privileges)
    }

    /// A fresh embedded device with `limits`, whose file has `privileges`
    /// (to see what a less privileged caller of a kernel device gets).
    pub fn with_privileges(limits: Limits, privileges: Privileges) -> Result<Self, Errno> {
        let device = Device::new(UserPlatform::get(), limits, Host::Embedded.version())?;
        let file = device.open(privileges)?;
        Ok(EmbeddedBackend {
            device,
            file: Some(file),
        })
    }
}

impl Backend for EmbeddedBackend {
    fn request(&self, cmd: Command, req: &mut [u8]) -> Result<(), Errno> {
        let arg = arg_for(req);
        let file = self.file.as_ref().ok_or(Errno::EBADF)?;
        self.device
            .ioctl(file, cmd.request(), &arg as *const IoctlArg as u64)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            self.device.close(f);
        }
    }
}
