// SPDX-License-Identifier: GPL-2.0

//! `/dev/ebpf`: the misc device and its file operations.
//!
//! The 6.12 `kernel` crate has no misc-device abstraction, so this file
//! declares `misc_register`/`misc_deregister` and mirrors
//! `struct miscdevice` itself; it is the only place that touches them.
//! Open files cannot outlive the module: `fops.owner` makes every open file
//! hold a module reference, so `rmmod` is refused while one is open.

use core::ffi::c_void;
use core::ptr;

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;

extern "C" {
    fn misc_register(misc: *mut MiscDevice) -> c_int;
    fn misc_deregister(misc: *mut MiscDevice);

    // ebpf-core's entry points (its `c_os` module): the device, and one
    // opaque state per open file.
    fn ebpf_kcore_start() -> c_int;
    fn ebpf_kcore_stop() -> c_int;
    fn ebpf_kcore_open(file: *mut *mut c_void, privileges: u32) -> c_int;
    fn ebpf_kcore_release(file: *mut c_void);
    fn ebpf_kcore_ioctl(file: *mut c_void, cmd: u32, arg: u64) -> c_long;
}

/// Mirror of `struct miscdevice` (include/linux/miscdevice.h, 6.12).
#[repr(C)]
struct MiscDevice {
    minor: c_int,
    name: *const c_char,
    fops: *const bindings::file_operations,
    list: bindings::list_head,
    parent: *mut bindings::device,
    this_device: *mut bindings::device,
    groups: *mut *const bindings::attribute_group,
    nodename: *const c_char,
    mode: bindings::umode_t,
}

const MISC_DYNAMIC_MINOR: c_int = 255;

/// What stays registered: the misc device and its file operations, at a
/// fixed address.
struct Inner {
    misc: MiscDevice,
    fops: bindings::file_operations,
}

/// `/dev/ebpf`, registered until dropped.
pub(crate) struct Registration {
    inner: KBox<Inner>,
}

// SAFETY: the raw pointers inside are owned by the registration and only
// used from module init and exit.
unsafe impl Send for Registration {}
// SAFETY: as above; nothing is shared through `&Registration`.
unsafe impl Sync for Registration {}

impl Registration {
    /// Creates the core's device and registers `/dev/ebpf`.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: plain call, once, before the device node exists.
        let ret = unsafe { ebpf_kcore_start() };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: all-zero is a valid `file_operations` (every method
        // absent).
        let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
        fops.owner = module.as_ptr();
        fops.open = Some(ebpf_open);
        fops.release = Some(ebpf_release);
        fops.unlocked_ioctl = Some(ebpf_ioctl);
        // Requests carry user addresses as u64 and fixed-size structs, so
        // 32-bit callers need no translation.
        fops.compat_ioctl = Some(ebpf_ioctl);
        let inner = Inner {
            misc: MiscDevice {
                minor: MISC_DYNAMIC_MINOR,
                name: c"ebpf".as_ptr().cast(),
                fops: ptr::null(),
                // SAFETY: an all-zero list_head is what misc_register expects
                // to initialise.
                list: unsafe { core::mem::zeroed() },
                parent: ptr::null_mut(),
                this_device: ptr::null_mut(),
                groups: ptr::null_mut(),
                nodename: ptr::null(),
                mode: 0o600,
            },
            fops,
        };
        let mut inner = match KBox::new(inner, GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: no file can have opened it yet.
                unsafe { ebpf_kcore_stop() };
                return Err(e.into());
            }
        };
        inner.misc.fops = &inner.fops;
        // SAFETY: `inner` lives at a fixed heap address until `drop`
        // deregisters it.
        let ret = unsafe { misc_register(&mut inner.misc) };
        if ret != 0 {
            // SAFETY: registration failed, so no file was opened.
            unsafe { ebpf_kcore_stop() };
            return Err(Error::from_errno(ret));
        }
        Ok(Registration { inner })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`. Module exit runs only when no file
        // holds a module reference, so no file is open and none can be
        // opened after this.
        unsafe { misc_deregister(&mut self.inner.misc) };
        // SAFETY: no file is open (see above); this frees every map,
        // program and pin.
        unsafe { ebpf_kcore_stop() };
    }
}

/// `open`: CAP_BPF or CAP_SYS_ADMIN, as bpf(2) asks for most commands.
///
/// # Safety
/// Called by the VFS through the misc device's file operations, with a
/// valid `file` whose `private_data` holds the `struct miscdevice`.
unsafe extern "C" fn ebpf_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: plain calls on the current task's credentials.
    let allowed = unsafe {
        bindings::capable(bindings::CAP_BPF as c_int)
            || bindings::capable(bindings::CAP_SYS_ADMIN as c_int)
    };
    if !allowed {
        return EPERM.to_errno();
    }
    // Who may see kernel addresses, as Linux's `perfmon_capable()`.
    // SAFETY: as above.
    let see_addresses = unsafe {
        bindings::capable(bindings::CAP_PERFMON as c_int)
            || bindings::capable(bindings::CAP_SYS_ADMIN as c_int)
    };
    let mut state = ptr::null_mut();
    // SAFETY: the device lives while registered; `state` is a local.
    let ret = unsafe { ebpf_kcore_open(&mut state, u32::from(see_addresses)) };
    if ret == 0 {
        // SAFETY: the VFS passes a valid file; misc_open put the
        // miscdevice in private_data, which this file no longer needs.
        unsafe { (*file).private_data = state };
    }
    ret
}

/// `release`: frees everything the file holds that is not pinned.
///
/// # Safety
/// Called by the VFS once, at the last close of a `file` that
/// `ebpf_open` set up; nothing uses the file afterwards.
unsafe extern "C" fn ebpf_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: the VFS passes a valid file, opened by `ebpf_open`; the file
    // holds a module reference, so the device is alive; its state is not
    // used after this.
    unsafe { ebpf_kcore_release((*file).private_data) };
    0
}

/// `unlocked_ioctl`: every request goes to the core's dispatcher, which
/// copies the request in and out itself.
///
/// # Safety
/// Called by the VFS with a `file` that `ebpf_open` set up and that stays
/// open for the call; `arg` is an untrusted user address.
unsafe extern "C" fn ebpf_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: the VFS passes a valid file, opened by `ebpf_open`, which
    // keeps the device alive; the state is its own.
    unsafe { ebpf_kcore_ioctl((*file).private_data, cmd, arg as u64) }
}
