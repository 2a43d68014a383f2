//! `/dev/ebpf` on FreeBSD: the cdevsw, its methods and the module event
//! handler. Per-open state is devfs cdevpriv data, released by its
//! destructor when the last reference to the open file goes.

use core::ffi::{c_int, c_ulong, c_void};
use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use ebpf_core::abi::{IocLayout, IoctlArg};
use ebpf_core::dispatch::{Device, Limits, OpenFile};
use ebpf_core::Errno;

use crate::kpi::{self, Cdev, Cdevsw, Thread};
use crate::platform::PLATFORM;

/// Reported by the VERSION command.
const VERSION: &str = concat!("ebpf-kmod ", env!("CARGO_PKG_VERSION"), " (freebsd)");

const EBUSY: c_int = 16;
const EINVAL: c_int = 22;
const ENOMEM: c_int = 12;
const ENXIO: c_int = 6;
const EOPNOTSUPP: c_int = 45;

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

static DEVICE: AtomicPtr<Device> = AtomicPtr::new(ptr::null_mut());
static CDEV: AtomicPtr<Cdev> = AtomicPtr::new(ptr::null_mut());
/// Open files (cdevpriv data not yet destroyed).
static OPEN_FILES: AtomicUsize = AtomicUsize::new(0);

/// `Box::new` on malloc(9) that reports allocation failure instead of
/// aborting.
fn try_box<T>(value: T) -> *mut T {
    match crate::heap::alloc(size_of::<T>(), align_of::<T>(), false) {
        Some(p) => {
            let p = p.as_ptr().cast::<T>();
            // SAFETY: fresh memory for one T.
            unsafe { p.write(value) };
            p
        }
        None => ptr::null_mut(),
    }
}

/// Takes back what `try_box` made.
///
/// # Safety
/// `p` came from `try_box::<T>` and is not used afterwards.
unsafe fn take_box<T>(p: *mut T) -> T {
    // SAFETY: as the caller promises.
    let value = unsafe { p.read() };
    if let Some(p) = ptr::NonNull::new(p.cast::<u8>()) {
        // SAFETY: from heap::alloc in try_box.
        unsafe { crate::heap::free(p) };
    }
    value
}

fn load() -> c_int {
    let device = match Device::new(&PLATFORM, IocLayout::FreeBsd, Limits::default(), VERSION) {
        Ok(d) => try_box(d),
        Err(_) => ptr::null_mut(),
    };
    if device.is_null() {
        return ENOMEM;
    }
    DEVICE.store(device, Ordering::Release);
    // SAFETY: CDEVSW is only handed to the kernel here, once per load.
    match unsafe { kpi::make_dev(ptr::addr_of_mut!(CDEVSW), 0o600, c"ebpf") } {
        Ok(cdev) => {
            CDEV.store(cdev, Ordering::Release);
            0
        }
        Err(e) => {
            DEVICE.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: no file can have been opened.
            drop(unsafe { take_box(device) });
            e
        }
    }
}

fn unload() -> c_int {
    if OPEN_FILES.load(Ordering::Acquire) != 0 {
        return EBUSY;
    }
    let cdev = CDEV.swap(ptr::null_mut(), Ordering::AcqRel);
    if !cdev.is_null() {
        // SAFETY: made by load(); waits for threads inside our methods.
        unsafe { kpi::destroy_dev(cdev) };
    }
    let device = DEVICE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !device.is_null() {
        // SAFETY: the device node is gone and no file is open: frees
        // every map, program and pin.
        drop(unsafe { take_box(device) });
    }
    0
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
        kpi::MOD_QUIESCE => {
            if OPEN_FILES.load(Ordering::Acquire) != 0 {
                EBUSY
            } else {
                0
            }
        }
        kpi::MOD_UNLOAD => unload(),
        kpi::MOD_SHUTDOWN => 0,
        _ => EOPNOTSUPP,
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
    let device = DEVICE.load(Ordering::Acquire);
    if device.is_null() {
        return ENXIO;
    }
    // SAFETY: the device lives while the node exists.
    let device = unsafe { &*device };
    let file = match device.open() {
        Ok(f) => try_box(f),
        Err(_) => ptr::null_mut(),
    };
    if file.is_null() {
        return ENOMEM;
    }
    OPEN_FILES.fetch_add(1, Ordering::AcqRel);
    // SAFETY: in d_open; the file lives until the destructor frees it.
    let r = unsafe { kpi::set_cdevpriv(file.cast(), ebpf_file_dtor) };
    if r != 0 {
        // SAFETY: not published: the destructor will not run.
        unsafe { ebpf_file_dtor(file.cast()) };
    }
    r
}

/// Releases an open file's handles (devfs calls this at its last close).
///
/// # Safety
/// Called by devfs once per open file with the pointer `ebpf_open`
/// registered; nothing uses it afterwards.
unsafe extern "C" fn ebpf_file_dtor(p: *mut c_void) {
    let device = DEVICE.load(Ordering::Acquire);
    // SAFETY: `p` is the OpenFile from ebpf_open, released once; the
    // device outlives open files (unload refuses while one is open).
    unsafe {
        let file = take_box(p.cast::<OpenFile>());
        if let Some(device) = device.as_ref() {
            device.close(file);
        }
    }
    OPEN_FILES.fetch_sub(1, Ordering::AcqRel);
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
        Ok(p) => p.cast::<OpenFile>(),
        Err(e) => return e,
    };
    let (Ok(cmd), false) = (u32::try_from(cmd), data.is_null()) else {
        return EINVAL;
    };
    let device = DEVICE.load(Ordering::Acquire);
    // SAFETY: sys_ioctl copied the request's IoctlArg (its size is encoded
    // in `cmd`, checked by the dispatcher) into kernel memory at `data`.
    // The file and the device are live while a method runs.
    let result = unsafe {
        let ioc = data.cast::<IoctlArg>().read_unaligned();
        (*device).ioctl_arg(&*file, cmd, &ioc)
    };
    match result {
        Ok(()) => 0,
        Err(e) => Errno::to_freebsd(e),
    }
}
