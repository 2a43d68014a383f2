//! What the Rust-for-Linux module (`kmod-linux/ebpf_main.rs`, `platform.rs`)
//! provides to the core, as C functions. Sizes in bytes, times in ns.

use core::ffi::c_void;

/// Lock kinds as passed to `ebpf_os_lock_*`.
pub const LOCK_SPIN: u32 = 0;
/// A sleeping lock (mutex).
pub const LOCK_SLEEP: u32 = 1;

extern "C" {
    /// Zeroed memory; `atomic` selects a non-sleeping allocation. Null on
    /// failure. `align` is at most the page size.
    pub fn ebpf_os_alloc(size: usize, align: usize, atomic: bool) -> *mut u8;
    /// Frees what `ebpf_os_alloc` returned.
    pub fn ebpf_os_free(ptr: *mut u8);
    /// A new initialised lock of `kind`, in validator class `class` (below
    /// `LockClass::COUNT`) named `name` (static, NUL-terminated), or null.
    pub fn ebpf_os_lock_create(kind: u32, class: u32, name: *const u8) -> *mut c_void;
    /// Frees an unlocked lock.
    pub fn ebpf_os_lock_destroy(lock: *mut c_void, kind: u32);
    /// Takes the lock.
    pub fn ebpf_os_lock_acquire(lock: *mut c_void, kind: u32);
    /// Releases the lock.
    pub fn ebpf_os_lock_release(lock: *mut c_void, kind: u32);
    /// Enters a read-side section (RCU, preemption off).
    pub fn ebpf_os_read_lock();
    /// Leaves it.
    pub fn ebpf_os_read_unlock();
    /// Waits for every read-side section that began before the call.
    pub fn ebpf_os_synchronize();
    /// `cond_resched()` (process context).
    pub fn ebpf_os_resched();
    /// `signal_pending(current)`.
    pub fn ebpf_os_interrupted() -> bool;
    /// This CPU (only with preemption off).
    pub fn ebpf_os_cpu_id() -> u32;
    /// Number of possible CPU ids.
    pub fn ebpf_os_possible_cpus() -> u32;
    /// NUMA node of this CPU.
    pub fn ebpf_os_numa_node() -> u32;
    /// CLOCK_MONOTONIC.
    pub fn ebpf_os_monotonic_ns() -> u64;
    /// CLOCK_BOOTTIME.
    pub fn ebpf_os_boot_ns() -> u64;
    /// Coarse monotonic time.
    pub fn ebpf_os_coarse_ns() -> u64;
    /// The jiffies counter.
    pub fn ebpf_os_jiffies() -> u64;
    /// A random number.
    pub fn ebpf_os_random_u32() -> u32;
    /// Logs one line (0 error, 1 warning, 2 info, 3 trace).
    pub fn ebpf_os_log(level: u32, text: *const u8, len: usize);
    /// Copies `len` bytes from user address `src`; 0 or a negative errno.
    pub fn ebpf_os_copy_from_user(dst: *mut u8, src: u64, len: usize) -> i32;
    /// Copies `len` bytes to user address `dst`; 0 or a negative errno.
    pub fn ebpf_os_copy_to_user(dst: u64, src: *const u8, len: usize) -> i32;
    /// Reports a bug in the core and does not return.
    pub fn ebpf_os_panic(text: *const u8, len: usize) -> !;
}
