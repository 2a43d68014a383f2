//! [`LinuxPlatform`]: the core's Platform over the module's `ebpf_os_*`.

use core::fmt;
use core::ptr::NonNull;

use ebpf_core::platform::{AllocContext, LockClass, LockKind, LogLevel, Platform, RawLock};
use ebpf_core::helpers::format::FixedBuf;
use ebpf_core::Errno;

use crate::os;

/// The Linux kernel, as the module presents it.
pub struct LinuxPlatform;

/// The one instance.
pub static PLATFORM: LinuxPlatform = LinuxPlatform;

fn kind(k: LockKind) -> u32 {
    match k {
        LockKind::Spin => os::LOCK_SPIN,
        LockKind::Sleep => os::LOCK_SLEEP,
    }
}

/// One log line; longer text is cut.
pub type LineBuf = FixedBuf<256>;

fn errno(r: i32) -> Result<(), Errno> {
    if r == 0 {
        Ok(())
    } else {
        Err(Errno(r.saturating_neg()))
    }
}

impl Platform for LinuxPlatform {
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>> {
        if align > 4096 {
            return None;
        }
        // SAFETY: plain call.
        let p = unsafe { os::ebpf_os_alloc(size.max(1), align, ctx == AllocContext::Atomic) };
        NonNull::new(p)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, _size: usize, _align: usize) {
        // SAFETY: the caller passes memory from `alloc`.
        unsafe { os::ebpf_os_free(ptr.as_ptr()) }
    }

    fn lock_create(&self, k: LockKind, class: LockClass) -> Option<RawLock> {
        let name = class.name().as_ptr().cast::<u8>();
        // SAFETY: `name` is a static C string.
        let p = unsafe { os::ebpf_os_lock_create(kind(k), class as u32, name) };
        NonNull::new(p.cast::<u8>()).map(RawLock::from_ptr)
    }

    unsafe fn lock_destroy(&self, lock: &RawLock, k: LockKind) {
        // SAFETY: the caller passes an unlocked lock of this kind.
        unsafe { os::ebpf_os_lock_destroy(lock.as_ptr().as_ptr().cast(), kind(k)) }
    }

    unsafe fn lock_acquire(&self, lock: &RawLock, k: LockKind) {
        // SAFETY: the caller passes a live lock of this kind.
        unsafe { os::ebpf_os_lock_acquire(lock.as_ptr().as_ptr().cast(), kind(k)) }
    }

    unsafe fn lock_release(&self, lock: &RawLock, k: LockKind) {
        // SAFETY: the caller holds the lock.
        unsafe { os::ebpf_os_lock_release(lock.as_ptr().as_ptr().cast(), kind(k)) }
    }

    fn read_lock(&self) -> usize {
        // SAFETY: plain call; paired by read_unlock.
        unsafe { os::ebpf_os_read_lock() };
        0
    }

    fn read_unlock(&self, _token: usize) {
        // SAFETY: pairs the read_lock the caller made.
        unsafe { os::ebpf_os_read_unlock() }
    }

    fn synchronize(&self) {
        // SAFETY: plain call (process context).
        unsafe { os::ebpf_os_synchronize() }
    }

    fn resched(&self) {
        // SAFETY: plain call (process context, no spin lock held).
        unsafe { os::ebpf_os_resched() }
    }

    fn interrupted(&self) -> bool {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_interrupted() }
    }

    fn cpu_id(&self) -> u32 {
        // SAFETY: plain call; the core asks only inside read sections.
        unsafe { os::ebpf_os_cpu_id() }
    }

    fn possible_cpus(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_possible_cpus() }
    }

    fn numa_node(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_numa_node() }
    }

    fn monotonic_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_monotonic_ns() }
    }

    fn boot_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_boot_ns() }
    }

    fn coarse_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_coarse_ns() }
    }

    fn jiffies(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_jiffies() }
    }

    fn random_u32(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { os::ebpf_os_random_u32() }
    }

    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        let mut line = LineBuf::default();
        let _ = fmt::write(&mut line, message);
        let level = match level {
            LogLevel::Error => 0,
            LogLevel::Warning => 1,
            LogLevel::Info => 2,
            LogLevel::Trace => 3,
        };
        let text = line.as_bytes();
        // SAFETY: `text` is valid for its length.
        unsafe { os::ebpf_os_log(level, text.as_ptr(), text.len()) }
    }

    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        // SAFETY: `dst` is valid for writes of its length; the module
        // checks the user range.
        errno(unsafe { os::ebpf_os_copy_from_user(dst.as_mut_ptr(), src, dst.len()) })
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        // SAFETY: `src` is valid for reads of its length; the module checks
        // the user range.
        errno(unsafe { os::ebpf_os_copy_to_user(dst, src.as_ptr(), src.len()) })
    }
}

// kmod-linux/platform.rs keeps one lockdep key per class.
const _: () = assert!(
    LockClass::COUNT == 8,
    "update CLASSES in kmod-linux/platform.rs"
);
