//! The contract between the core and an operating system.
//!
//! A port of ebpf-kmod to a new kernel implements [`Platform`] and nothing
//! else: memory, locks, a read-side critical section with grace periods
//! (RCU; on FreeBSD a critical section with the core's `GracePeriods`),
//! the CPU, time, randomness, a log, and user memory. The
//! core builds its maps, helpers and dispatcher on these alone.
//!
//! This module also holds the small safe wrappers the core uses over the raw
//! contract: [`PlatformBuf`] (zeroed platform memory) and [`SpinLock`] /
//! [`SleepLock`] (data guarded by a platform lock).

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::errno::Errno;

/// The context an allocation is made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocContext {
    /// Process context, no locks held: the allocator may sleep to reclaim
    /// memory (Linux `GFP_KERNEL`, which may fail: the core handles failure
    /// itself; FreeBSD `M_WAITOK`, which waits instead, so the device's
    /// limits bound every size the core asks for).
    MaySleep,
    /// A program is running or a spinlock is held: must not sleep (Linux
    /// `GFP_ATOMIC`/`GFP_NOWAIT`, FreeBSD `M_NOWAIT`).
    Atomic,
}

/// Which kind of lock to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// Held for a few instructions and usable while a program runs; no
    /// sleeping while held (Linux `spinlock_t`, FreeBSD `mtx` MTX_DEF or
    /// MTX_SPIN).
    Spin,
    /// May be held across sleeping operations, never taken from program
    /// context (Linux `struct mutex`, FreeBSD `sx`).
    Sleep,
}

/// What a lock protects. Locks of one class share a validator class
/// (Linux lockdep, FreeBSD witness(4)), so a kernel can check the order in
/// which locks of different roles are taken without mistaking two locks of
/// different roles for recursion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum LockClass {
    /// The device's registry of objects and pins (taken first).
    Registry = 0,
    /// An open file's handle table (taken under the registry).
    FileHandles = 1,
    /// A hash map's buckets and free list.
    HashBuckets = 2,
    /// An LPM trie's entries.
    LpmTrie = 3,
    /// A queue or stack.
    QueueState = 4,
    /// A ring buffer's producer position.
    RingbufProducer = 5,
    /// A ring buffer's consumer.
    RingbufConsumer = 6,
    /// Writers of a map whose values are maps or programs.
    MapObjects = 7,
    /// A link's attachment (taken under the registry).
    LinkState = 8,
    /// The object graph's free blocks of one size (taken in programs).
    ObjectPool = 9,
    /// The object graph's types (taken in programs, alone).
    ObjectTypes = 10,
    /// The object graph's chunks, while the pool grows (process context;
    /// a size's free blocks are taken under it).
    ObjectChunks = 11,
    /// The device's object graph, while it is made.
    DeviceGraph = 12,
}

impl LockClass {
    /// Number of classes.
    pub const COUNT: usize = 13;

    /// A name for validators' reports (static, as lockdep and witness keep
    /// the pointer).
    pub fn name(self) -> &'static core::ffi::CStr {
        match self {
            LockClass::Registry => c"ebpf_registry",
            LockClass::FileHandles => c"ebpf_file_handles",
            LockClass::HashBuckets => c"ebpf_hash_buckets",
            LockClass::LpmTrie => c"ebpf_lpm_trie",
            LockClass::QueueState => c"ebpf_queue",
            LockClass::RingbufProducer => c"ebpf_ringbuf_producer",
            LockClass::RingbufConsumer => c"ebpf_ringbuf_consumer",
            LockClass::MapObjects => c"ebpf_map_objects",
            LockClass::LinkState => c"ebpf_link_state",
            LockClass::ObjectPool => c"ebpf_object_pool",
            LockClass::ObjectTypes => c"ebpf_object_types",
            LockClass::ObjectChunks => c"ebpf_object_chunks",
            LockClass::DeviceGraph => c"ebpf_device_graph",
        }
    }
}

/// Severity of a log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warning,
    /// Normal operation.
    Info,
    /// Program output (`bpf_trace_printk`).
    Trace,
}

/// An opaque lock created by the platform.
#[derive(Debug)]
pub struct RawLock(NonNull<u8>);

// SAFETY: a RawLock is only a handle; the platform's lock is made to be
// used from any thread.
unsafe impl Send for RawLock {}
// SAFETY: as above.
unsafe impl Sync for RawLock {}

impl RawLock {
    /// Wraps the platform's pointer to its lock object.
    pub fn from_ptr(ptr: NonNull<u8>) -> Self {
        RawLock(ptr)
    }

    /// The platform's pointer to its lock object.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.0
    }
}

/// Everything the core needs from an operating system.
///
/// All methods may be called from any CPU at once. Unless a method says
/// otherwise it may be called from program context (preemption disabled,
/// inside [`read_lock`](Platform::read_lock)) and must not sleep there.
pub trait Platform: Sync {
    /// Allocates `size` zeroed bytes aligned to `align` (a power of two, at
    /// most 4096). Returns `None` when memory is short. With
    /// [`AllocContext::Atomic`] it must not sleep.
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>>;

    /// Frees memory from [`alloc`](Platform::alloc) with the same size and
    /// alignment. Called only outside program context.
    ///
    /// # Safety
    /// `ptr` came from `alloc(size, align, _)` on this platform and is not
    /// used afterwards.
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize, align: usize);

    /// Creates a lock of `class`; `None` when memory is short. Called
    /// outside program context.
    fn lock_create(&self, kind: LockKind, class: LockClass) -> Option<RawLock>;

    /// Destroys a lock that is not held.
    ///
    /// # Safety
    /// `lock` came from `lock_create(kind)` and is not used afterwards.
    unsafe fn lock_destroy(&self, lock: &RawLock, kind: LockKind);

    /// Acquires a lock. A [`LockKind::Sleep`] lock is never acquired in
    /// program context or under a spin lock.
    ///
    /// # Safety
    /// `lock` came from `lock_create(kind)`; the caller releases it on the
    /// same CPU/thread with [`lock_release`](Platform::lock_release).
    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind);

    /// Releases a lock the caller holds.
    ///
    /// # Safety
    /// The caller holds `lock`, acquired with the same `kind`.
    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind);

    /// Enters a read-side critical section and pins the caller to its CPU
    /// (Linux `rcu_read_lock` + `preempt_disable`; FreeBSD `critical_enter`
    /// with the core's [`GracePeriods`]). Programs run inside one.
    /// Returns a token for [`read_unlock`](Platform::read_unlock).
    fn read_lock(&self) -> usize;

    /// Leaves the section [`read_lock`](Platform::read_lock) entered.
    fn read_unlock(&self, token: usize);

    /// Waits until every read-side section that began before the call has
    /// ended (Linux `synchronize_rcu`; FreeBSD waits on [`GracePeriods`]). Called
    /// only outside program context; may sleep.
    fn synchronize(&self);

    /// Lets other work run if the scheduler wants the CPU (Linux
    /// `cond_resched`, FreeBSD `maybe_yield`). Long requests call it
    /// between steps, so that no request keeps a CPU for long; called only
    /// outside program context and without spin locks held.
    fn resched(&self);

    /// Whether the calling thread has a signal pending (Linux
    /// `signal_pending`, FreeBSD `sig_intr`): long requests then stop with
    /// `EINTR`. Called where [`resched`](Platform::resched) is.
    fn interrupted(&self) -> bool;

    /// The current CPU, below [`possible_cpus`](Platform::possible_cpus).
    /// Stable while inside a read-side section.
    fn cpu_id(&self) -> u32;

    /// The number of possible CPUs (Linux `num_possible_cpus`, FreeBSD
    /// `mp_maxid + 1`); per-CPU maps hold this many values.
    fn possible_cpus(&self) -> u32;

    /// The NUMA node of the current CPU.
    fn numa_node(&self) -> u32 {
        0
    }

    /// Monotonic time in nanoseconds, not counting suspend
    /// (`bpf_ktime_get_ns`).
    fn monotonic_ns(&self) -> u64;

    /// Monotonic time in nanoseconds including suspend
    /// (`bpf_ktime_get_boot_ns`).
    fn boot_ns(&self) -> u64 {
        self.monotonic_ns()
    }

    /// Coarse monotonic time (`bpf_ktime_get_coarse_ns`): cheaper, at tick
    /// resolution.
    fn coarse_ns(&self) -> u64 {
        self.monotonic_ns()
    }

    /// International Atomic Time in nanoseconds since the epoch
    /// (`bpf_ktime_get_tai_ns`, Linux's `CLOCK_TAI`: the wall clock plus
    /// the TAI offset a time daemon sets, 0 until one does).
    fn tai_ns(&self) -> u64;

    /// Waits a moment while spinning on a program's `bpf_spin_lock` held
    /// elsewhere. Kernels spin (the holder runs with preemption off); a
    /// userspace platform, whose holder may be descheduled, lets it run.
    fn spin_relax(&self) {
        core::hint::spin_loop();
    }

    /// Whether programs may look sockets up (`bpf_sk_lookup_tcp` and the
    /// helpers taking the socket found). Only a platform whose programs'
    /// network holds no socket hidden from the runtime says yes: there a
    /// lookup that finds nothing is the truth. A kernel whose sockets the
    /// runtime does not see says no, and such programs are refused at
    /// load rather than told that no socket matches.
    fn socket_lookups(&self) -> bool {
        false
    }

    /// Whether compiled code blinds the programs' constants (Linux's
    /// `net.core.bpf_jit_harden`): each immediate is stored XORed with a
    /// random key and the key XORed back at run time, so that a program
    /// cannot place chosen bytes in executable memory.
    fn jit_blinding(&self) -> bool {
        false
    }

    /// The tick counter (`bpf_jiffies64`).
    fn jiffies(&self) -> u64;

    /// A pseudo-random number (`bpf_get_prandom_u32`).
    fn random_u32(&self) -> u32;

    /// Writes a message to the OS log (`bpf_trace_printk` output goes here
    /// at [`LogLevel::Trace`]).
    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>);

    /// Copies `dst.len()` bytes from user address `src`. Called only from
    /// the dispatcher, outside program context; may sleep (page faults).
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno>;

    /// Copies `src` to user address `dst`. As for
    /// [`copy_from_user`](Platform::copy_from_user).
    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno>;

    /// Memory for compiled programs: `len` bytes, readable and writable but
    /// not executable, until [`exec_seal`](Platform::exec_seal). `None`
    /// when the platform runs no compiled code (the default: programs are
    /// interpreted) or memory is short. Called outside program context.
    fn exec_alloc(&self, _len: usize) -> Option<NonNull<u8>> {
        None
    }

    /// Makes memory from [`exec_alloc`](Platform::exec_alloc) read-only and
    /// executable (never writable and executable at once where the OS
    /// allows). Returns whether it could.
    ///
    /// # Safety
    /// `ptr` and `len` are an allocation from `exec_alloc`, not sealed yet.
    unsafe fn exec_seal(&self, _ptr: NonNull<u8>, _len: usize) -> bool {
        false
    }

    /// Frees memory from [`exec_alloc`](Platform::exec_alloc). Called only
    /// when no run can still be executing it (a grace period after the
    /// program was unpublished).
    ///
    /// # Safety
    /// `ptr` and `len` are an allocation from `exec_alloc`, not used
    /// afterwards.
    unsafe fn exec_free(&self, _ptr: NonNull<u8>, _len: usize) {}

    /// The kernel's own JIT, for a platform that gives no executable memory
    /// but compiles eBPF itself (Linux); `None` by default.
    fn kernel_jit(&self) -> Option<&'static dyn crate::jit::kernel::KernelJit> {
        None
    }

    /// The interface with index `ifindex`, or when that is 0 the one named
    /// `name` (at most 15 bytes, no NUL), as the caller of the current
    /// request sees interfaces (its network namespace on Linux, its vnet
    /// on FreeBSD). `ENODEV` when there is none; the default: no
    /// interfaces. Called in process context.
    fn net_device(&self, _ifindex: u32, _name: &[u8]) -> Result<NetDevice, Errno> {
        Err(Errno::ENODEV)
    }

    /// Hooks the traffic of `device` in `direction`: from now on every
    /// frame it receives (or sends) goes through
    /// [`crate::attach::run_hook`] with `target`, on the CPU the frame is
    /// processed on, and the hook applies the verdict. `EOPNOTSUPP` when
    /// the platform has no such hook (the default). Called in process
    /// context; may sleep.
    fn net_attach(
        &self,
        _device: &NetDevice,
        _direction: Direction,
        _target: NonNull<core::ffi::c_void>,
    ) -> Result<NetHook, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// Removes a hook: when this returns, no frame is in it or will enter
    /// it, so its target may be freed. Called in process context; may
    /// sleep.
    ///
    /// # Safety
    /// `hook` came from [`net_attach`](Platform::net_attach) and is not
    /// used afterwards.
    unsafe fn net_detach(&self, _hook: NetHook) {}

    /// A one-shot timer on `clock` that, each time it expires, calls
    /// `fire(arg)` once
    /// in the platform's timer context (Linux: softirq; FreeBSD: a
    /// callout; userspace: a timer thread): never concurrently with itself,
    /// outside any read-side section. `None` when memory is short or the
    /// platform has no timers (the default). Called in any context: it
    /// must not sleep.
    fn timer_create(
        &self,
        _fire: TimerFn,
        _arg: *const core::ffi::c_void,
        _clock: TimerClock,
    ) -> Option<RawTimer> {
        None
    }

    /// Arms `timer` to expire `ns` nanoseconds from now, or, when
    /// `absolute`, when its clock reads `ns`; re-arms it if armed. Called
    /// in any context.
    fn timer_start(&self, _timer: &RawTimer, _ns: u64, _absolute: bool) {}

    /// Disarms `timer` without waiting: `true` when it was armed (and now
    /// will not expire), `false` when it was not armed or is expiring
    /// right now (its `fire` may be running). Called in any context.
    fn timer_stop(&self, _timer: &RawTimer) -> bool {
        false
    }

    /// Disarms `timer`, waits until no `fire` of it is running, and frees
    /// it. Called in process context (may sleep).
    ///
    /// # Safety
    /// `timer` came from [`timer_create`](Platform::timer_create), is not
    /// used afterwards, and nothing arms it again.
    unsafe fn timer_destroy(&self, _timer: RawTimer) {}

    /// The queue of what programs and timers let go of in atomic context,
    /// freed in process context after a grace period
    /// ([`crate::runtime::reaper`]); `None` (the default) for a platform
    /// without timers.
    fn reaper(&self) -> Option<&crate::runtime::reaper::Reaper> {
        None
    }

    /// Asks for [`Reaper::reap`](crate::runtime::reaper::Reaper::reap) to
    /// run soon in process context (Linux: a work item; FreeBSD: a task;
    /// userspace: a thread). Called in any context: must not sleep.
    fn kick_reaper(&self) {}

    /// The index of the interface `hook` is on, or 0 when the interface
    /// has gone (the platform then removed the hook itself; its target is
    /// no longer called).
    fn net_hook_ifindex(&self, _hook: &NetHook) -> u32 {
        0
    }
}

/// What a platform timer calls when it expires.
pub type TimerFn = unsafe extern "C" fn(arg: *const core::ffi::c_void);

/// The clock an absolute timer deadline is read on (Linux's
/// `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, `CLOCK_REALTIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TimerClock {
    /// Time since boot, stopped while suspended (`CLOCK_MONOTONIC`, 1).
    Monotonic = 1,
    /// Time since boot, counting suspend (`CLOCK_BOOTTIME`, 7).
    Boot = 7,
    /// Wall-clock time (`CLOCK_REALTIME`, 0).
    Real = 0,
}

/// An opaque one-shot timer created by the platform.
#[derive(Debug)]
pub struct RawTimer(NonNull<u8>);

// SAFETY: a handle; the platform's timer is made to be used from any CPU.
unsafe impl Send for RawTimer {}
// SAFETY: as above.
unsafe impl Sync for RawTimer {}

impl RawTimer {
    /// Wraps the platform's pointer to its timer object.
    pub fn from_ptr(ptr: NonNull<u8>) -> Self {
        RawTimer(ptr)
    }

    /// The platform's pointer to its timer object.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.0
    }
}

/// The direction of traffic a hook sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Direction {
    /// Frames the interface receives, before the network stack sees them.
    Ingress = 0,
    /// Frames sent through the interface, before they are queued to it.
    Egress = 1,
}

/// An interface, as [`Platform::net_device`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetDevice {
    /// Its index.
    pub ifindex: u32,
    /// What tells it apart from every other live interface, in every
    /// namespace (an address of the OS's device structure).
    pub key: u64,
}

/// A hook the platform registered ([`Platform::net_attach`]).
#[derive(Debug)]
pub struct NetHook(pub NonNull<core::ffi::c_void>);

// SAFETY: the handle is an opaque token the platform gives and takes back;
// the core never dereferences it.
unsafe impl Send for NetHook {}
// SAFETY: as above.
unsafe impl Sync for NetHook {}

/// Machine code in executable memory of the platform, freed on drop.
pub struct ExecMemory {
    ptr: NonNull<u8>,
    len: usize,
    platform: PlatformRef,
}

// SAFETY: sealed code is read-only; sharing its address between threads is
// what running a program on several CPUs means.
unsafe impl Send for ExecMemory {}
// SAFETY: as above.
unsafe impl Sync for ExecMemory {}

impl ExecMemory {
    /// Executable memory holding `code`: allocated writable, filled, then
    /// sealed read-execute.
    pub fn with_code(platform: PlatformRef, code: &[u8]) -> Result<Self, Errno> {
        let len = code.len().max(1);
        let ptr = platform.exec_alloc(len).ok_or(Errno::ENOMEM)?;
        let memory = ExecMemory { ptr, len, platform };
        // SAFETY: the allocation is `len` >= `code.len()` writable bytes,
        // fresh, so nothing else refers to it.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), ptr.as_ptr(), code.len()) };
        // SAFETY: an allocation from `exec_alloc`, sealed once.
        if unsafe { platform.exec_seal(ptr, len) } {
            Ok(memory)
        } else {
            Err(Errno::EPERM)
        }
    }

    /// The first byte of the code.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: it holds at least one byte).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        // SAFETY: allocated by `with_code` with this length; dropped once.
        unsafe { self.platform.exec_free(self.ptr, self.len) }
    }
}

/// The platform as the core holds it: one per module, living as long as it.
pub type PlatformRef = &'static dyn Platform;

/// A zeroed, fixed-size buffer of platform memory.
pub struct PlatformBuf {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
    platform: PlatformRef,
}

// SAFETY: the buffer is plain memory owned by this value; concurrent access
// to its contents goes through raw pointers whose users synchronise.
unsafe impl Send for PlatformBuf {}
// SAFETY: as above.
unsafe impl Sync for PlatformBuf {}

/// Alignment of every [`PlatformBuf`]: enough for any BPF access (8) and
/// for atomics, and a cache line to keep per-CPU data apart.
pub const BUF_ALIGN: usize = 64;

impl PlatformBuf {
    /// Allocates `len` zeroed bytes (at least one, so the pointer is real).
    pub fn new(platform: PlatformRef, len: usize, ctx: AllocContext) -> Result<Self, Errno> {
        let size = len.max(1);
        let ptr = platform.alloc(size, BUF_ALIGN, ctx).ok_or(Errno::ENOMEM)?;
        Ok(PlatformBuf {
            ptr,
            len: size,
            align: BUF_ALIGN,
            platform,
        })
    }

    /// The platform the buffer belongs to.
    pub fn platform(&self) -> PlatformRef {
        self.platform
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty (never: it holds at least one byte).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `len` bytes at `addr` lie inside the buffer.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        let rel = addr.wrapping_sub(self.ptr.as_ptr() as u64);
        rel < self.len as u64 && len <= self.len as u64 - rel
    }
}

impl Drop for PlatformBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this size and alignment; dropped once.
        unsafe { self.platform.free(self.ptr, self.len, self.align) }
    }
}

/// Data guarded by a platform lock of kind `K`.
pub struct Locked<T, const SPIN: bool> {
    lock: RawLock,
    platform: PlatformRef,
    data: UnsafeCell<T>,
}

/// Data guarded by a spin lock: usable from program context.
pub type SpinLock<T> = Locked<T, true>;
/// Data guarded by a sleepable lock: never taken from program context.
pub type SleepLock<T> = Locked<T, false>;

// SAFETY: the lock serialises all access to `data`.
unsafe impl<T: Send, const SPIN: bool> Send for Locked<T, SPIN> {}
// SAFETY: as above; `&Locked` gives access to `T` only under the lock.
unsafe impl<T: Send, const SPIN: bool> Sync for Locked<T, SPIN> {}

impl<T, const SPIN: bool> Locked<T, SPIN> {
    const KIND: LockKind = if SPIN {
        LockKind::Spin
    } else {
        LockKind::Sleep
    };

    /// Guards `data` with a new platform lock of `class`.
    pub fn new(platform: PlatformRef, class: LockClass, data: T) -> Result<Self, Errno> {
        let lock = platform
            .lock_create(Self::KIND, class)
            .ok_or(Errno::ENOMEM)?;
        Ok(Locked {
            lock,
            platform,
            data: UnsafeCell::new(data),
        })
    }

    /// Acquires the lock.
    pub fn lock(&self) -> LockGuard<'_, T, SPIN> {
        // SAFETY: the lock came from `lock_create(KIND)`; the guard releases it.
        unsafe { self.platform.lock_acquire(&self.lock, Self::KIND) };
        LockGuard { owner: self }
    }

    /// The data, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T, const SPIN: bool> Drop for Locked<T, SPIN> {
    fn drop(&mut self) {
        // SAFETY: created in `new`; nobody holds it (we are exclusive).
        unsafe { self.platform.lock_destroy(&self.lock, Self::KIND) }
    }
}

/// Access to locked data; releases the lock when dropped.
pub struct LockGuard<'a, T, const SPIN: bool> {
    owner: &'a Locked<T, SPIN>,
}

impl<T, const SPIN: bool> Deref for LockGuard<'_, T, SPIN> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held for the guard's lifetime.
        unsafe { &*self.owner.data.get() }
    }
}

impl<T, const SPIN: bool> DerefMut for LockGuard<'_, T, SPIN> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held for the guard's lifetime, exclusively.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T, const SPIN: bool> Drop for LockGuard<'_, T, SPIN> {
    fn drop(&mut self) {
        let owner = self.owner;
        // SAFETY: acquired in `lock` with the same kind.
        unsafe {
            owner
                .platform
                .lock_release(&owner.lock, Locked::<T, SPIN>::KIND)
        }
    }
}

/// A read-side critical section; ends when dropped.
pub struct ReadGuard {
    platform: PlatformRef,
    token: usize,
}

impl ReadGuard {
    /// Enters a read-side section on `platform`.
    pub fn new(platform: PlatformRef) -> Self {
        ReadGuard {
            platform,
            token: platform.read_lock(),
        }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.platform.read_unlock(self.token);
    }
}

/// A grace-period mechanism for platforms without one (userspace): readers
/// count themselves in one of two phases; a writer flips the phase and
/// waits for the old phase to drain. Readers never wait.
pub struct GracePeriods {
    phase: core::sync::atomic::AtomicUsize,
    readers: [core::sync::atomic::AtomicUsize; 2],
}

impl Default for GracePeriods {
    fn default() -> Self {
        Self::new()
    }
}

impl GracePeriods {
    /// No readers, phase 0.
    pub const fn new() -> Self {
        use core::sync::atomic::AtomicUsize;
        GracePeriods {
            phase: AtomicUsize::new(0),
            readers: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// Enters a read-side section; returns the token for [`exit`](Self::exit).
    pub fn enter(&self) -> usize {
        use core::sync::atomic::Ordering::SeqCst;
        loop {
            let phase = self.phase.load(SeqCst) & 1;
            self.readers[phase].fetch_add(1, SeqCst);
            if self.phase.load(SeqCst) & 1 == phase {
                return phase;
            }
            // A writer flipped the phase meanwhile: count in the new one.
            self.readers[phase].fetch_sub(1, SeqCst);
        }
    }

    /// Leaves the section entered with `token`.
    pub fn exit(&self, token: usize) {
        self.readers[token & 1].fetch_sub(1, core::sync::atomic::Ordering::SeqCst);
    }

    /// Flips the phase and waits (calling `wait` between polls) until the
    /// readers of the old phase are gone. Writers must be serialised by the
    /// caller.
    pub fn synchronize(&self, mut wait: impl FnMut()) {
        use core::sync::atomic::Ordering::SeqCst;
        let old = self.phase.fetch_add(1, SeqCst) & 1;
        while self.readers[old].load(SeqCst) != 0 {
            wait();
        }
    }
}
