//! [`UserPlatform`]: the core's [`Platform`] for userspace, used by the
//! embedded backend (the core's maps and programs in this process).
//!
//! "Kernel" memory is the process heap, CPUs are the machine's (a program
//! runs on the CPU `sched_getcpu` reports), grace periods come from the
//! core's two-phase reader counts, and "user" memory is this process's own.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fmt;
use std::io::Write;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

use ebpf_core::attach::Verdict;
use ebpf_core::platform::{
    AllocContext, Direction, GracePeriods, LockClass, LockKind, LogLevel, NetDevice, NetHook,
    Platform, RawLock, RawTimer, TimerClock, TimerFn,
};
use ebpf_core::runtime::reaper::Reaper;

use crate::ports::Ports;
use crate::timers::Timers;
use ebpf_core::Errno;

/// Trace lines kept for [`UserPlatform::take_trace`].
const TRACE_KEEP: usize = 4096;

/// The userspace platform. One per process: [`UserPlatform::get`].
pub struct UserPlatform {
    cpus: u32,
    grace: GracePeriods,
    writers: Mutex<()>,
    start: Instant,
    trace: Mutex<Vec<String>>,
    echo_trace: AtomicBool,
    jit: AtomicBool,
    /// Blind the constants of compiled code (`EBPF_JIT_HARDEN=1`).
    jit_harden: AtomicBool,
    caller: &'static dyn Caller,
    ports: Ports,
    /// Timers of `struct bpf_timer`s and the reaper, served by a thread.
    timers: &'static Timers,
}

/// A sleeping lock for userspace: a flag and a condition variable.
struct SleepingLock {
    held: Mutex<bool>,
    freed: Condvar,
}

impl UserPlatform {
    /// The process's platform.
    pub fn get() -> &'static UserPlatform {
        static PLATFORM: OnceLock<UserPlatform> = OnceLock::new();
        let platform = PLATFORM.get_or_init(|| Self::new(&OwnProcess));
        platform.timers.bind(platform);
        platform
    }

    /// A platform of its own whose requests come from `caller` (kept for
    /// the life of the process, as a kernel's platform is).
    pub fn with_caller(caller: &'static dyn Caller) -> &'static UserPlatform {
        let platform: &'static UserPlatform = Box::leak(Box::new(Self::new(caller)));
        platform.timers.bind(platform);
        platform
    }

    fn new(caller: &'static dyn Caller) -> Self {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        UserPlatform {
            cpus: u32::try_from(n).unwrap_or(1).max(1),
            grace: GracePeriods::new(),
            writers: Mutex::new(()),
            start: Instant::now(),
            trace: Mutex::new(Vec::new()),
            echo_trace: AtomicBool::new(false),
            jit: AtomicBool::new(std::env::var_os("EBPF_JIT").is_none_or(|v| v != "0")),
            jit_harden: AtomicBool::new(
                std::env::var_os("EBPF_JIT_HARDEN").is_some_and(|v| v != "0"),
            ),
            caller,
            ports: Ports::default(),
            timers: Box::leak(Box::new(Timers::new())),
        }
    }

    /// Declares a software port called `name` (at most 15 bytes, unique
    /// in this platform): an interface of the embedded backend, which XDP
    /// programs attach to by name or index (`Ebpf::link_create`) and which
    /// this process feeds with [`process`](Self::process). Returns its
    /// index.
    pub fn add_port(&self, name: &str) -> Result<u32, Errno> {
        self.ports.add(name)
    }

    /// Removes a port; its links are left detached (as when a kernel's
    /// interface goes away), once no frame is still in their programs.
    pub fn remove_port(&'static self, ifindex: u32) -> Result<(), Errno> {
        self.ports.remove(self, ifindex)
    }

    /// Passes `frame` (from its link-layer header), arriving on port
    /// `ifindex` (`Direction::Ingress`) or leaving by it (`Egress`),
    /// through the program attached there: `None` when there is none, else
    /// the verdict to apply (drop, pass, send back), with `frame` as the
    /// program left it. Safe from any number of threads at once, and
    /// against attaches and detaches.
    pub fn process(
        &'static self,
        ifindex: u32,
        direction: Direction,
        frame: &mut Vec<u8>,
    ) -> Option<Verdict> {
        self.ports.process(self, ifindex, direction, frame)
    }

    /// Compile verified programs to machine code (the default; the
    /// environment variable `EBPF_JIT=0` turns it off), or interpret them.
    /// Applies to programs loaded afterwards.
    pub fn set_jit(&self, on: bool) {
        self.jit.store(on, Ordering::Relaxed);
    }

    /// Blind the constants of programs compiled afterwards (as Linux's
    /// `net.core.bpf_jit_harden`; the environment variable
    /// `EBPF_JIT_HARDEN=1` turns it on from the start).
    pub fn set_jit_harden(&self, on: bool) {
        self.jit_harden.store(on, Ordering::Relaxed);
    }

    /// Also print `bpf_trace_printk` output to stderr as it comes.
    pub fn echo_trace(&self, on: bool) {
        self.echo_trace.store(on, Ordering::Relaxed);
    }

    /// Takes the `bpf_trace_printk` lines written so far (the newest
    /// [`TRACE_KEEP`]).
    pub fn take_trace(&self) -> Vec<String> {
        std::mem::take(&mut *self.trace.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn clock(id: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to fill.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// A range this process could own: not at null, not wrapping around the
/// address space. (In-process "user" memory is trusted beyond that: the
/// library hands the dispatcher its own live buffers.)
fn plausible(addr: u64, len: usize) -> bool {
    addr != 0 && addr.checked_add(len as u64).is_some()
}

impl Platform for UserPlatform {
    fn alloc(&self, size: usize, align: usize, _ctx: AllocContext) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(size.max(1), align).ok()?;
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc_zeroed(layout) })
    }

    unsafe fn free(&self, ptr: NonNull<u8>, size: usize, align: usize) {
        // SAFETY: per the trait's contract, allocated by `alloc` with this
        // size and alignment, which formed a valid layout then.
        unsafe {
            dealloc(
                ptr.as_ptr(),
                Layout::from_size_align_unchecked(size.max(1), align),
            )
        }
    }

    fn lock_create(&self, kind: LockKind, _class: LockClass) -> Option<RawLock> {
        let ptr = match kind {
            LockKind::Spin => NonNull::from(Box::leak(Box::new(AtomicBool::new(false)))).cast(),
            LockKind::Sleep => NonNull::from(Box::leak(Box::new(SleepingLock {
                held: Mutex::new(false),
                freed: Condvar::new(),
            })))
            .cast(),
        };
        Some(RawLock::from_ptr(ptr))
    }

    unsafe fn lock_destroy(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: created by Box::leak in lock_create with this kind.
        unsafe {
            match kind {
                LockKind::Spin => drop(Box::from_raw(lock.as_ptr().cast::<AtomicBool>().as_ptr())),
                LockKind::Sleep => {
                    drop(Box::from_raw(lock.as_ptr().cast::<SleepingLock>().as_ptr()))
                }
            }
        }
    }

    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind) {
        match kind {
            LockKind::Spin => {
                // SAFETY: a live AtomicBool from lock_create.
                let flag = unsafe { lock.as_ptr().cast::<AtomicBool>().as_ref() };
                let mut spins = 0u32;
                while flag
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    spins += 1;
                    if spins % 64 == 0 {
                        // Userspace threads can be preempted while holding
                        // the lock: let the holder run.
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
            LockKind::Sleep => {
                // SAFETY: a live SleepingLock from lock_create.
                let l = unsafe { lock.as_ptr().cast::<SleepingLock>().as_ref() };
                let mut held = l.held.lock().unwrap_or_else(|e| e.into_inner());
                while *held {
                    held = l.freed.wait(held).unwrap_or_else(|e| e.into_inner());
                }
                *held = true;
            }
        }
    }

    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind) {
        match kind {
            LockKind::Spin => {
                // SAFETY: as in lock_acquire.
                let flag = unsafe { lock.as_ptr().cast::<AtomicBool>().as_ref() };
                flag.store(false, Ordering::Release);
            }
            LockKind::Sleep => {
                // SAFETY: as in lock_acquire.
                let l = unsafe { lock.as_ptr().cast::<SleepingLock>().as_ref() };
                *l.held.lock().unwrap_or_else(|e| e.into_inner()) = false;
                l.freed.notify_one();
            }
        }
    }

    fn read_lock(&self) -> usize {
        self.grace.enter()
    }

    fn timer_create(
        &self,
        fire: TimerFn,
        arg: *const std::ffi::c_void,
        clock: TimerClock,
    ) -> Option<RawTimer> {
        self.timers.create(fire, arg, clock)
    }

    fn timer_start(&self, timer: &RawTimer, ns: u64, absolute: bool) {
        self.timers.start(timer, ns, absolute)
    }

    fn timer_stop(&self, timer: &RawTimer) -> bool {
        self.timers.stop(timer)
    }

    unsafe fn timer_destroy(&self, timer: RawTimer) {
        // SAFETY: per the trait's contract.
        unsafe { self.timers.destroy(timer) }
    }

    fn reaper(&self) -> Option<&Reaper> {
        Some(self.timers.reaper())
    }

    fn kick_reaper(&self) {
        self.timers.kick()
    }

    fn read_unlock(&self, token: usize) {
        self.grace.exit(token)
    }

    fn synchronize(&self) {
        let _one_writer = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        self.grace.synchronize(std::thread::yield_now);
    }

    /// The OS preempts userspace threads: nothing to do.
    fn resched(&self) {}

    fn interrupted(&self) -> bool {
        self.caller.interrupted()
    }

    fn cpu_id(&self) -> u32 {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        u32::try_from(cpu).unwrap_or(0) % self.cpus
    }

    fn possible_cpus(&self) -> u32 {
        self.cpus
    }

    fn monotonic_ns(&self) -> u64 {
        Self::clock(libc::CLOCK_MONOTONIC)
    }

    fn boot_ns(&self) -> u64 {
        Self::clock(libc::CLOCK_BOOTTIME)
    }

    fn coarse_ns(&self) -> u64 {
        Self::clock(libc::CLOCK_MONOTONIC_COARSE)
    }

    /// Linux's `CLOCK_TAI`; elsewhere the wall clock (FreeBSD's libc has
    /// no TAI clock; the offset is 0 until a time daemon sets it anyway).
    fn tai_ns(&self) -> u64 {
        #[cfg(target_os = "linux")]
        let clock = libc::CLOCK_TAI;
        #[cfg(not(target_os = "linux"))]
        let clock = libc::CLOCK_REALTIME;
        Self::clock(clock)
    }

    /// Ticks of 4 ms (HZ = 250, Debian's) since the platform started.
    fn jiffies(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 / 4
    }

    fn random_u32(&self) -> u32 {
        thread_local! {
            static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
                let mut seed = [0u8; 8];
                // SAFETY: the buffer is 8 writable bytes.
                unsafe { libc::getrandom(seed.as_mut_ptr().cast(), 8, 0) };
                u64::from_ne_bytes(seed) | 1
            });
        }
        STATE.with(|s| {
            // xorshift64*
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        })
    }

    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        if level != LogLevel::Trace {
            let _ = writeln!(std::io::stderr(), "ebpf: {level:?}: {message}");
            return;
        }
        let line = message.to_string();
        if self.echo_trace.load(Ordering::Relaxed) {
            let _ = writeln!(std::io::stderr(), "trace: {line}");
        }
        let mut trace = self.trace.lock().unwrap_or_else(|e| e.into_inner());
        if trace.len() == TRACE_KEEP {
            trace.remove(0);
        }
        trace.push(line);
    }

    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        self.caller.copy_from_user(dst, src)
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        self.caller.copy_to_user(dst, src)
    }

    fn jit_blinding(&self) -> bool {
        self.jit_harden.load(Ordering::Relaxed)
    }

    /// A thread holding a value's lock may be descheduled: let it run.
    fn spin_relax(&self) {
        std::thread::yield_now();
    }

    /// The embedded backend's network is its software ports, which hold
    /// no sockets: a lookup that finds none is the truth here.
    fn socket_lookups(&self) -> bool {
        true
    }

    fn exec_alloc(&self, len: usize) -> Option<NonNull<u8>> {
        if !self.jit.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice; no existing memory is affected.
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
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p.cast())
    }

    unsafe fn exec_seal(&self, ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: per the contract, the mapping `exec_alloc` made.
        unsafe { libc::mprotect(ptr.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_EXEC) == 0 }
    }

    fn net_device(&self, ifindex: u32, name: &[u8]) -> Result<NetDevice, Errno> {
        self.ports.device(ifindex, name)
    }

    fn net_attach(
        &self,
        device: &NetDevice,
        direction: Direction,
        target: NonNull<std::ffi::c_void>,
    ) -> Result<NetHook, Errno> {
        self.ports.attach(device, direction, target)
    }

    unsafe fn net_detach(&self, hook: NetHook) {
        self.ports.detach(hook, || self.synchronize())
    }

    fn net_hook_ifindex(&self, hook: &NetHook) -> u32 {
        self.ports.hook_ifindex(hook)
    }

    unsafe fn exec_free(&self, ptr: NonNull<u8>, len: usize) {
        // SAFETY: per the contract, the mapping `exec_alloc` made, unused
        // from now on.
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    }
}

/// The side of a request its caller owns: the "user" memory that request
/// pointers name, and the caller's signals. A kernel gets these from the
/// calling task; in-process they are [`OwnProcess`] unless a test or a
/// fuzzer puts its own (an arena, a signal on demand) in
/// [`UserPlatform::with_caller`].
pub trait Caller: Send + Sync {
    /// Copies `dst.len()` bytes from "user" address `src`.
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno>;

    /// Copies `src` to "user" address `dst`.
    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno>;

    /// Whether the caller has a signal pending (long requests then stop
    /// with `EINTR`).
    fn interrupted(&self) -> bool {
        false
    }
}

/// This process's own memory as user memory; never interrupted: embedded
/// requests run in the caller's thread, where a signal runs its handler
/// (or ends the process) without help from the request.
pub struct OwnProcess;

impl Caller for OwnProcess {
    /// The embedded backend's "user" pointers come from this process's own
    /// safe wrappers; null is refused.
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        if !dst.is_empty() && !plausible(src, dst.len()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: the library passes pointers to live buffers of at least
        // dst.len() bytes (the dispatcher checked sizes against them).
        unsafe { std::ptr::copy(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        if !src.is_empty() && !plausible(dst, src.len()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: as above, for writable buffers.
        unsafe { std::ptr::copy(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
}
