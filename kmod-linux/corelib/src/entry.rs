//! The C ABI the module calls: one device, open files, ioctls.

use core::alloc::Layout;
use core::ffi::c_long;
use core::ptr;

use ebpf_core::abi::IocLayout;
use ebpf_core::dispatch::{Device, Limits, OpenFile};

use crate::platform::PLATFORM;

/// Reported by the VERSION command.
const VERSION: &str = concat!("ebpf-kmod ", env!("CARGO_PKG_VERSION"), " (linux)");

/// `Box::new` without the abort on allocation failure.
fn try_box<T>(value: T) -> *mut T {
    let layout = Layout::new::<T>();
    // SAFETY: T is not zero-sized here (Device and OpenFile have fields).
    let p = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if !p.is_null() {
        // SAFETY: `p` is fresh memory for one T.
        unsafe { p.write(value) };
    }
    p
}

/// Frees what `try_box` made.
///
/// # Safety
/// `p` came from `try_box::<T>` and is not used afterwards.
unsafe fn free_box<T>(p: *mut T) -> T {
    // SAFETY: the caller passes a live box.
    let value = unsafe { p.read() };
    // SAFETY: allocated with this layout by try_box.
    unsafe { alloc::alloc::dealloc(p.cast(), Layout::new::<T>()) };
    value
}

/// Creates the device; null if out of memory.
#[no_mangle]
pub extern "C" fn ebpf_kcore_device_new() -> *mut Device {
    match Device::new(&PLATFORM, IocLayout::Linux, Limits::default(), VERSION) {
        Ok(dev) => try_box(dev),
        Err(_) => ptr::null_mut(),
    }
}

/// Frees the device and every object still in it (pins included).
///
/// # Safety
/// `dev` came from `ebpf_kcore_device_new`, and no file of it is open.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_device_free(dev: *mut Device) {
    if !dev.is_null() {
        // SAFETY: the caller passes the device and gives it up.
        drop(unsafe { free_box(dev) });
    }
}

/// Opens a file on `dev`: its handle table. Null if out of memory.
///
/// # Safety
/// `dev` is a live device.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_open(dev: *const Device) -> *mut OpenFile {
    // SAFETY: the caller passes a live device.
    let dev = unsafe { &*dev };
    match dev.open() {
        Ok(file) => try_box(file),
        Err(_) => ptr::null_mut(),
    }
}

/// Closes `file`: releases every handle it holds.
///
/// # Safety
/// `file` came from `ebpf_kcore_open(dev)` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_release(dev: *const Device, file: *mut OpenFile) {
    if file.is_null() {
        return;
    }
    // SAFETY: the caller passes a live device and gives up the file.
    let (dev, file) = unsafe { (&*dev, free_box(file)) };
    dev.close(file);
}

/// Serves one ioctl; 0 or a negative errno. `arg` is the user address of
/// the request's `struct ebpf_ioctl_arg`.
///
/// # Safety
/// `dev` and `file` are live and belong together.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_ioctl(
    dev: *const Device,
    file: *const OpenFile,
    cmd: u32,
    arg: u64,
) -> c_long {
    // SAFETY: the caller passes a live device and file.
    let (dev, file) = unsafe { (&*dev, &*file) };
    match dev.ioctl(file, cmd, arg) {
        Ok(()) => 0,
        Err(e) => -(e.0 as c_long),
    }
}
