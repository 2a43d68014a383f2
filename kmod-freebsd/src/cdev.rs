//! `/dev/ebpf` on FreeBSD: the cdevsw, its methods and the module event
//! handler. Per-open state is devfs cdevpriv data, released by its
//! destructor when the last reference to the open file goes.

use core::ffi::{c_int, c_ulong, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use ebpf_core::abi::IoctlArg;
use ebpf_core::dispatch::{Host, Limits, OpenFile, Privileges, Service};
use ebpf_core::Errno;

use crate::kpi::{self, Cdev, Cdevsw, Thread};
use crate::platform::PLATFORM;

/// The character device switch. The kernel writes into it (D_INIT, method
/// fix-ups, its device list), so it lives in writable data.
pub static mut CDEVSW: Cdevsw = Cdevsw {
    d_version: kpi::D_VERSION,
    d_flags: 0,
    d_name: c"ebpf".as_ptr(),
    d_open: Some(ebpf_open),
    d_fdopen: ptr::null(),
    d_close: Some(ebpf_close),
    d_read: ptr::null(),
    d_write: ptr::null(),
    d_ioctl: Some(ebpf_ioctl),
    d_poll: ptr::null(),
    d_mmap: ptr::null(),
    d_strategy: ptr::null(),
    d_dump: ptr::null(),
    d_kqfilter: ptr::null(),
    d_purge: ptr::null(),
    d_mmap_single: ptr::null(),
    d_spare0: [0; 3],
    d_spare1: [ptr::null(); 3],
    d_devs: ptr::null(),
    d_spare2: 0,
    gianttrick: ptr::null(),
};

/// The device and its open files.
static SERVICE: Service = Service::new();
static CDEV: AtomicPtr<Cdev> = AtomicPtr::new(ptr::null_mut());

fn freebsd(r: Result<(), Errno>) -> c_int {
    r.map_or_else(Errno::to_freebsd, |()| 0)
}

fn load() -> c_int {
    crate::net::remember_vnet();
    if let Err(e) = SERVICE.start(&PLATFORM, Limits::default(), Host::FreeBsd) {
        return e.to_freebsd();
    }
    // SAFETY: CDEVSW is only handed to the kernel here, once per load.
    match unsafe { kpi::make_dev(ptr::addr_of_mut!(CDEVSW), 0o600, c"ebpf") } {
        Ok(cdev) => {
            CDEV.store(cdev, Ordering::Release);
            0
        }
        Err(e) => {
            // No file can have been opened.
            let _ = SERVICE.stop();
            e
        }
    }
}

fn unload() -> c_int {
    if SERVICE.busy() {
        return Errno::EBUSY.to_freebsd();
    }
    let cdev = CDEV.swap(ptr::null_mut(), Ordering::AcqRel);
    if !cdev.is_null() {
        // SAFETY: made by load(); waits for threads inside our methods.
        unsafe { kpi::destroy_dev(cdev) };
    }
    // The node is gone and no file is open: frees every map, program and
    // pin.
    freebsd(SERVICE.stop())
}

/// The module event handler (`moduledata_t.evhand`).
///
/// # Safety
/// Called by the kernel's module code.
pub unsafe extern "C" fn ebpf_modevent(
    _module: *mut c_void,
    what: c_int,
    _arg: *mut c_void,
) -> c_int {
    match what {
        kpi::MOD_LOAD => load(),
        kpi::MOD_QUIESCE if SERVICE.busy() => Errno::EBUSY.to_freebsd(),
        kpi::MOD_QUIESCE => 0,
        kpi::MOD_UNLOAD => unload(),
        kpi::MOD_SHUTDOWN => 0,
        _ => Errno::EOPNOTSUPP.to_freebsd(),
    }
}

/// `d_open`: privileged callers only; gives the open file its handles.
///
/// # Safety
/// Called by devfs for this cdevsw with a valid thread.
unsafe extern "C" fn ebpf_open(
    _dev: *mut Cdev,
    _oflags: c_int,
    _devtype: c_int,
    td: *mut Thread,
) -> c_int {
    // SAFETY: `td` is the opening thread, from devfs.
    let denied = unsafe { kpi::priv_check(td) };
    if denied != 0 {
        return denied;
    }
    // PRIV_DRIVER is root's outside a jail: the opener may see kernel
    // addresses, as a Linux caller with CAP_PERFMON.
    let privileges = Privileges {
        see_addresses: true,
    };
    let file = match SERVICE.open(privileges) {
        Ok(f) => f.as_ptr().cast::<c_void>(),
        Err(e) => return e.to_freebsd(),
    };
    // SAFETY: in d_open; the file lives until the destructor frees it.
    let r = unsafe { kpi::set_cdevpriv(file, ebpf_file_dtor) };
    if r != 0 {
        // SAFETY: not published: the destructor will not run.
        unsafe { ebpf_file_dtor(file) };
    }
    r
}

/// Releases an open file's handles (devfs calls this at its last close).
///
/// # Safety
/// Called by devfs once per open file with the pointer `ebpf_open`
/// registered; nothing uses it afterwards.
unsafe extern "C" fn ebpf_file_dtor(p: *mut c_void) {
    if let Some(file) = NonNull::new(p.cast::<OpenFile>()) {
        // SAFETY: the OpenFile from ebpf_open, released once.
        unsafe { SERVICE.release(file) }
    }
}

/// `d_close`: nothing to do (the cdevpriv destructor releases the file).
///
/// # Safety
/// Called by devfs for this cdevsw.
unsafe extern "C" fn ebpf_close(
    _dev: *mut Cdev,
    _fflag: c_int,
    _devtype: c_int,
    _td: *mut Thread,
) -> c_int {
    0
}

/// `d_ioctl`: the kernel copied the `IoctlArg` in (`data`); the request it
/// points to is still user memory, which the dispatcher copies itself.
///
/// # Safety
/// Called by devfs for this cdevsw, `data` pointing at the kernel's copy of
/// the argument, in the context of a thread that opened the device.
unsafe extern "C" fn ebpf_ioctl(
    _dev: *mut Cdev,
    cmd: c_ulong,
    data: *mut u8,
    _fflag: c_int,
    _td: *mut Thread,
) -> c_int {
    let file = match kpi::get_cdevpriv() {
        Ok(p) => NonNull::new(p.cast::<OpenFile>()),
        Err(e) => return e,
    };
    let (Some(file), Ok(cmd), false) = (file, u32::try_from(cmd), data.is_null()) else {
        return Errno::EINVAL.to_freebsd();
    };
    // SAFETY: sys_ioctl copied the request's IoctlArg (its size is encoded
    // in `cmd`, checked by the dispatcher) into kernel memory at `data`.
    // The file is live while a method runs.
    freebsd(unsafe {
        let ioc = data.cast::<IoctlArg>().read_unaligned();
        SERVICE.ioctl_arg(file, cmd, &ioc)
    })
}
