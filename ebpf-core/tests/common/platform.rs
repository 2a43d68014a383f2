//! A checking platform for the core's tests: real memory and locks, plus
//! the rules a kernel enforces, turned into panics: no sleeping lock or
//! sleeping allocation inside a read-side section or under a spin lock,
//! no free in program context, balanced locks, and counters so tests can
//! assert that nothing leaks. The current CPU is set per thread.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use ebpf_core::platform::{
    AllocContext, GracePeriods, LockClass, LockKind, LogLevel, Platform, RawLock,
};
use ebpf_core::Errno;

thread_local! {
    static CPU: Cell<u32> = const { Cell::new(0) };
    static SPINS_HELD: Cell<u32> = const { Cell::new(0) };
    static IN_SECTION: Cell<u32> = const { Cell::new(0) };
}

/// The test platform.
pub struct TestPlatform {
    pub cpus: u32,
    pub live_allocs: AtomicI64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: AtomicI64,
    pub live_locks: AtomicI64,
    pub synchronizes: AtomicU64,
    grace: GracePeriods,
    writers: Mutex<()>,
    clock: AtomicU64,
    random: AtomicU64,
    pub trace: Mutex<Vec<String>>,
}

impl TestPlatform {
    /// A platform with `cpus` possible CPUs, leaked to get `'static`.
    pub fn new(cpus: u32) -> &'static TestPlatform {
        Box::leak(Box::new(TestPlatform {
            cpus,
            live_allocs: AtomicI64::new(0),
            live_bytes: AtomicI64::new(0),
            live_locks: AtomicI64::new(0),
            synchronizes: AtomicU64::new(0),
            grace: GracePeriods::new(),
            writers: Mutex::new(()),
            clock: AtomicU64::new(1_000_000),
            random: AtomicU64::new(0x1234_5678_9abc_def1),
            trace: Mutex::new(Vec::new()),
        }))
    }

    /// Makes the calling thread run on `cpu`.
    pub fn set_cpu(cpu: u32) {
        CPU.with(|c| c.set(cpu));
    }

    /// Asserts that everything allocated was freed.
    pub fn assert_no_leaks(&self) {
        assert_eq!(
            self.live_allocs.load(Ordering::SeqCst),
            0,
            "leaked allocations"
        );
        assert_eq!(self.live_locks.load(Ordering::SeqCst), 0, "leaked locks");
    }

    fn atomic_context() -> bool {
        SPINS_HELD.with(|s| s.get()) > 0 || IN_SECTION.with(|s| s.get()) > 0
    }
}

impl Platform for TestPlatform {
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>> {
        if ctx == AllocContext::MaySleep {
            assert!(
                !Self::atomic_context(),
                "sleeping allocation in atomic context"
            );
        }
        let layout = Layout::from_size_align(size, align).ok()?;
        // SAFETY: size is non-zero (the core never asks for 0 bytes).
        let p = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        self.live_allocs.fetch_add(1, Ordering::SeqCst);
        self.live_bytes.fetch_add(size as i64, Ordering::SeqCst);
        Some(p)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, size: usize, align: usize) {
        assert!(IN_SECTION.with(|s| s.get()) == 0, "free in program context");
        self.live_allocs.fetch_sub(1, Ordering::SeqCst);
        self.live_bytes.fetch_sub(size as i64, Ordering::SeqCst);
        // SAFETY: per the trait's contract.
        unsafe { dealloc(ptr.as_ptr(), Layout::from_size_align_unchecked(size, align)) }
    }

    fn lock_create(&self, _kind: LockKind, _class: LockClass) -> Option<RawLock> {
        self.live_locks.fetch_add(1, Ordering::SeqCst);
        let b = Box::new(AtomicBool::new(false));
        Some(RawLock::from_ptr(NonNull::from(Box::leak(b)).cast()))
    }

    unsafe fn lock_destroy(&self, lock: &RawLock, _kind: LockKind) {
        self.live_locks.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: created by Box::leak in lock_create.
        let b = unsafe { Box::from_raw(lock.as_ptr().cast::<AtomicBool>().as_ptr()) };
        assert!(!b.load(Ordering::SeqCst), "lock destroyed while held");
    }

    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind) {
        if kind == LockKind::Sleep {
            assert!(
                !Self::atomic_context(),
                "sleeping lock taken in atomic context"
            );
        }
        // SAFETY: the lock is a live AtomicBool.
        let flag = unsafe { lock.as_ptr().cast::<AtomicBool>().as_ref() };
        while flag
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
        if kind == LockKind::Spin {
            SPINS_HELD.with(|s| s.set(s.get() + 1));
        }
    }

    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: as above.
        let flag = unsafe { lock.as_ptr().cast::<AtomicBool>().as_ref() };
        assert!(
            flag.swap(false, Ordering::Release),
            "released a lock not held"
        );
        if kind == LockKind::Spin {
            SPINS_HELD.with(|s| s.set(s.get() - 1));
        }
    }

    fn read_lock(&self) -> usize {
        IN_SECTION.with(|s| s.set(s.get() + 1));
        self.grace.enter()
    }

    fn read_unlock(&self, token: usize) {
        self.grace.exit(token);
        IN_SECTION.with(|s| s.set(s.get() - 1));
    }

    fn synchronize(&self) {
        assert!(!Self::atomic_context(), "synchronize in atomic context");
        self.synchronizes.fetch_add(1, Ordering::SeqCst);
        let _w = self.writers.lock().unwrap();
        self.grace.synchronize(std::thread::yield_now);
    }

    fn resched(&self) {
        assert!(!Self::atomic_context(), "resched in atomic context");
    }

    fn interrupted(&self) -> bool {
        assert!(!Self::atomic_context(), "signal check in atomic context");
        false
    }

    fn cpu_id(&self) -> u32 {
        CPU.with(|c| c.get()) % self.cpus
    }

    fn possible_cpus(&self) -> u32 {
        self.cpus
    }

    fn monotonic_ns(&self) -> u64 {
        self.clock.fetch_add(1000, Ordering::SeqCst)
    }

    /// The monotonic clock from an epoch of 2026-01-01.
    fn tai_ns(&self) -> u64 {
        1_767_225_600_000_000_000 + self.monotonic_ns()
    }

    fn jiffies(&self) -> u64 {
        self.clock.load(Ordering::SeqCst) / 4_000_000
    }

    fn random_u32(&self) -> u32 {
        let mut x = self.random.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.store(x, Ordering::Relaxed);
        (x >> 32) as u32
    }

    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        if level == LogLevel::Trace {
            self.trace.lock().unwrap().push(message.to_string());
        }
    }

    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        if src == 0 {
            return Err(Errno::EFAULT);
        }
        // SAFETY: tests pass pointers to their own live buffers.
        unsafe { std::ptr::copy(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        if dst == 0 {
            return Err(Errno::EFAULT);
        }
        // SAFETY: as above.
        unsafe { std::ptr::copy(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
}

/// A platform for compiled programs alone: executable memory from
/// `mmap`/`mprotect`, everything else the [`TestPlatform`]'s.
pub struct ExecPlatform(&'static TestPlatform, bool);

impl ExecPlatform {
    /// The process's one.
    pub fn get() -> &'static ExecPlatform {
        static ONE: std::sync::OnceLock<&'static ExecPlatform> = std::sync::OnceLock::new();
        ONE.get_or_init(|| Box::leak(Box::new(ExecPlatform(TestPlatform::new(1), false))))
    }

    /// One whose compiled code blinds constants.
    pub fn blinding() -> &'static ExecPlatform {
        static ONE: std::sync::OnceLock<&'static ExecPlatform> = std::sync::OnceLock::new();
        ONE.get_or_init(|| Box::leak(Box::new(ExecPlatform(TestPlatform::new(1), true))))
    }
}

impl Platform for ExecPlatform {
    fn jit_blinding(&self) -> bool {
        self.1
    }
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>> {
        self.0.alloc(size, align, ctx)
    }
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize, align: usize) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.free(ptr, size, align) }
    }
    fn lock_create(&self, kind: LockKind, class: LockClass) -> Option<RawLock> {
        self.0.lock_create(kind, class)
    }
    unsafe fn lock_destroy(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: forwarded.
        unsafe { self.0.lock_destroy(lock, kind) }
    }
    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: forwarded.
        unsafe { self.0.lock_acquire(lock, kind) }
    }
    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: forwarded.
        unsafe { self.0.lock_release(lock, kind) }
    }
    fn read_lock(&self) -> usize {
        self.0.read_lock()
    }
    fn read_unlock(&self, token: usize) {
        self.0.read_unlock(token)
    }
    fn synchronize(&self) {
        self.0.synchronize()
    }
    fn resched(&self) {}
    fn interrupted(&self) -> bool {
        false
    }
    fn cpu_id(&self) -> u32 {
        self.0.cpu_id()
    }
    fn possible_cpus(&self) -> u32 {
        self.0.possible_cpus()
    }
    fn monotonic_ns(&self) -> u64 {
        self.0.monotonic_ns()
    }
    fn tai_ns(&self) -> u64 {
        self.0.tai_ns()
    }
    fn jiffies(&self) -> u64 {
        self.0.jiffies()
    }
    fn random_u32(&self) -> u32 {
        self.0.random_u32()
    }
    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        self.0.log(level, message)
    }
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        self.0.copy_from_user(dst, src)
    }
    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        self.0.copy_to_user(dst, src)
    }
    fn exec_alloc(&self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a fresh anonymous private mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED)
            .then(|| NonNull::new(p.cast()))
            .flatten()
    }
    unsafe fn exec_seal(&self, ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the mapping `exec_alloc` made.
        unsafe { libc::mprotect(ptr.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_EXEC) == 0 }
    }
    unsafe fn exec_free(&self, ptr: NonNull<u8>, len: usize) {
        // SAFETY: the mapping `exec_alloc` made, unused from now on.
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    }
}
