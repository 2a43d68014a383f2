// SPDX-License-Identifier: GPL-2.0

//! The kernel services ebpf-core runs on: the `ebpf_os_*` functions that
//! ebpf-core's `c_os` module declares. Services the kernel offers only as
//! inline functions or macros (RCU read side, preemption, the CPU id,
//! clocks) are in `ebpf_helpers.c`.

use core::alloc::Layout;
use core::ffi::c_void;
use core::ptr::{self, NonNull};

use kernel::alloc::allocator::KVmalloc;
use kernel::alloc::{flags, Allocator};
use kernel::bindings;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// Zeroed memory from kvmalloc (kmalloc only, without sleeping, when
/// `atomic`). Null on failure.
#[no_mangle]
extern "C" fn ebpf_os_alloc(size: usize, align: usize, atomic: bool) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(size.max(1), align) else {
        return ptr::null_mut();
    };
    let gfp = if atomic {
        flags::GFP_NOWAIT | flags::__GFP_NOWARN
    } else {
        flags::GFP_KERNEL
    };
    match KVmalloc::alloc(layout, gfp | flags::__GFP_ZERO) {
        Ok(p) => p.cast::<u8>().as_ptr(),
        Err(_) => ptr::null_mut(),
    }
}

/// Frees what `ebpf_os_alloc` returned.
#[no_mangle]
extern "C" fn ebpf_os_free(ptr: *mut u8) {
    // SAFETY: `ptr` came from kvmalloc (or is null, which kvfree ignores).
    unsafe { bindings::kvfree(ptr.cast::<c_void>()) }
}

/// A spinlock or mutex in its own allocation, in the lockdep class whose
/// static key the core keeps at `key` (`key_size` bytes), named `name`.
#[no_mangle]
extern "C" fn ebpf_os_lock_create(
    sleeping: bool,
    key: *mut c_void,
    key_size: usize,
    name: *const u8,
) -> *mut c_void {
    if key.is_null() || key_size < size_of::<bindings::lock_class_key>() {
        return ptr::null_mut();
    }
    let key = key.cast::<bindings::lock_class_key>();
    if sleeping {
        let Ok(lock) = KBox::<bindings::mutex>::new_uninit(GFP_KERNEL) else {
            return ptr::null_mut();
        };
        let p = KBox::into_raw(lock).cast::<bindings::mutex>();
        // SAFETY: `p` is memory for one mutex; the key is static storage
        // of the module large enough for a lock_class_key; the name is
        // static.
        unsafe { bindings::__mutex_init(p, name.cast(), key) };
        p.cast()
    } else {
        let Ok(lock) = KBox::<bindings::spinlock_t>::new_uninit(GFP_KERNEL) else {
            return ptr::null_mut();
        };
        let p = KBox::into_raw(lock).cast::<bindings::spinlock_t>();
        // SAFETY: as above, for one spinlock_t.
        unsafe { bindings::__spin_lock_init(p, name.cast(), key) };
        p.cast()
    }
}

/// Frees an unlocked lock.
#[no_mangle]
extern "C" fn ebpf_os_lock_destroy(lock: *mut c_void, sleeping: bool) {
    if lock.is_null() {
        return;
    }
    // SAFETY: made by `ebpf_os_lock_create` with this kind, unlocked.
    unsafe {
        if sleeping {
            drop(KBox::from_raw(lock.cast::<bindings::mutex>()))
        } else {
            drop(KBox::from_raw(lock.cast::<bindings::spinlock_t>()))
        }
    }
}

extern "C" {
    // ebpf_helpers.c: spin_lock_bh/spin_unlock_bh are inline.
    fn ebpf_os_spin_lock_bh(lock: *mut c_void);
    fn ebpf_os_spin_unlock_bh(lock: *mut c_void);
}

/// Takes a lock made by `ebpf_os_lock_create`. Spinlocks are taken with
/// softirqs off: programs run in the packet hooks' softirqs too, and take
/// the same map locks as requests in process context.
#[no_mangle]
extern "C" fn ebpf_os_lock_acquire(lock: *mut c_void, sleeping: bool) {
    // SAFETY: a live lock of this kind (the core's contract).
    unsafe {
        if sleeping {
            bindings::mutex_lock(lock.cast())
        } else {
            ebpf_os_spin_lock_bh(lock)
        }
    }
}

/// Releases a lock the caller holds.
#[no_mangle]
extern "C" fn ebpf_os_lock_release(lock: *mut c_void, sleeping: bool) {
    // SAFETY: held by the caller (the core's contract).
    unsafe {
        if sleeping {
            bindings::mutex_unlock(lock.cast())
        } else {
            ebpf_os_spin_unlock_bh(lock)
        }
    }
}

/// Waits for an RCU grace period.
#[no_mangle]
extern "C" fn ebpf_os_synchronize() {
    // SAFETY: called from process context by the core.
    unsafe { bindings::synchronize_rcu() }
}

/// Possible CPU ids: `nr_cpu_ids`.
#[no_mangle]
extern "C" fn ebpf_os_possible_cpus() -> u32 {
    // SAFETY: set at boot, read-only afterwards.
    unsafe { bindings::nr_cpu_ids }
}

/// A random number.
#[no_mangle]
extern "C" fn ebpf_os_random_u32() -> u32 {
    // SAFETY: plain call.
    unsafe { bindings::get_random_u32() }
}

/// One line of the core's log.
#[no_mangle]
extern "C" fn ebpf_os_log(level: u32, text: *const u8, len: usize) {
    // SAFETY: the core passes a valid buffer.
    let bytes = unsafe { core::slice::from_raw_parts(text, len) };
    let text = core::str::from_utf8(bytes).unwrap_or("(not UTF-8)");
    match level {
        0 => pr_err!("{}\n", text),
        1 => pr_warn!("{}\n", text),
        2 => pr_info!("{}\n", text),
        _ => pr_info!("trace: {}\n", text),
    }
}

/// Copies from user memory; `-EFAULT` if any byte is not readable.
#[no_mangle]
extern "C" fn ebpf_os_copy_from_user(dst: *mut u8, src: u64, len: usize) -> i32 {
    let Some(dst) = NonNull::new(dst) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the core passes a buffer valid for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(dst.as_ptr(), len) };
    match UserSlice::new(src as usize, len).reader().read_slice(out) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Copies to user memory; `-EFAULT` if any byte is not writable.
#[no_mangle]
extern "C" fn ebpf_os_copy_to_user(dst: u64, src: *const u8, len: usize) -> i32 {
    if src.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the core passes a buffer valid for `len` bytes.
    let data = unsafe { core::slice::from_raw_parts(src, len) };
    match UserSlice::new(dst as usize, len).writer().write_slice(data) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A bug in the core: report it and stop as Rust code in the kernel does.
#[no_mangle]
extern "C" fn ebpf_os_panic(text: *const u8, len: usize) -> ! {
    // SAFETY: the core passes a valid buffer.
    let bytes = unsafe { core::slice::from_raw_parts(text, len) };
    panic!("ebpf core: {}", core::str::from_utf8(bytes).unwrap_or("?"));
}
