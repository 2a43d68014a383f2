//! The core hosted by a kernel whose glue speaks C (the Linux module):
//! the one crossing between the two.
//!
//! The kernel's glue provides the `ebpf_os_*` functions declared here
//! (memory, locks, read-side sections, clocks, user copies, logging) and
//! calls the `ebpf_kcore_*` entry points defined here (start, stop, open,
//! release, ioctl). Everything between is the core: [`C_OS`] is its
//! [`Platform`] over those functions, [`CHeap`] the allocator, and one
//! [`Service`] the device. Built only with the `c-os` feature, since the
//! symbols exist only in such a kernel.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_long, c_void};
use core::fmt;
use core::ptr::NonNull;

use crate::attach::{run_hook, LiveFrame, Verdict};
use crate::dispatch::{Host, Limits, OpenFile, Privileges, Service};
use crate::errno::Errno;
use crate::helpers::format::FixedBuf;
use crate::jit::kernel::KernelJit;
use crate::platform::{
    AllocContext, Direction, LockClass, LockKind, LogLevel, NetDevice, NetHook, Platform, RawLock,
    RawTimer, TimerClock, TimerFn,
};
use crate::runtime::reaper::Reaper;

extern "C" {
    /// Zeroed memory, `align` at most a page; `atomic` asks for an
    /// allocation that does not sleep. Null on failure.
    fn ebpf_os_alloc(size: usize, align: usize, atomic: bool) -> *mut u8;
    /// Frees what `ebpf_os_alloc` returned.
    fn ebpf_os_free(ptr: *mut u8);
    /// A new lock, sleeping (a mutex) or not (a spinlock), in the lock
    /// validator's class whose static key is the `key_size` bytes at `key`,
    /// named `name`. Null on failure (or a key too small for the kernel's).
    fn ebpf_os_lock_create(
        sleeping: bool,
        key: *mut c_void,
        key_size: usize,
        name: *const c_char,
    ) -> *mut c_void;
    /// Frees an unlocked lock.
    fn ebpf_os_lock_destroy(lock: *mut c_void, sleeping: bool);
    /// Takes the lock.
    fn ebpf_os_lock_acquire(lock: *mut c_void, sleeping: bool);
    /// Releases the lock.
    fn ebpf_os_lock_release(lock: *mut c_void, sleeping: bool);
    /// Enters a read-side section (RCU, preemption off).
    fn ebpf_os_read_lock();
    /// Leaves it.
    fn ebpf_os_read_unlock();
    /// Waits for every read-side section that began before the call.
    fn ebpf_os_synchronize();
    /// Gives the CPU away if needed (process context).
    fn ebpf_os_resched();
    /// Whether a signal is pending for the calling task.
    fn ebpf_os_interrupted() -> bool;
    /// This CPU (with preemption off).
    fn ebpf_os_cpu_id() -> u32;
    /// Number of possible CPU ids.
    fn ebpf_os_possible_cpus() -> u32;
    /// NUMA node of this CPU.
    fn ebpf_os_numa_node() -> u32;
    /// CLOCK_MONOTONIC in ns.
    fn ebpf_os_monotonic_ns() -> u64;
    /// CLOCK_BOOTTIME in ns.
    fn ebpf_os_boot_ns() -> u64;
    fn ebpf_os_tai_ns() -> u64;
    /// Coarse monotonic time in ns.
    fn ebpf_os_coarse_ns() -> u64;
    /// The jiffies counter.
    fn ebpf_os_jiffies() -> u64;
    /// A random number.
    fn ebpf_os_random_u32() -> u32;
    /// Logs one line (0 error, 1 warning, 2 info, 3 trace).
    fn ebpf_os_log(level: u32, text: *const u8, len: usize);
    /// Copies `len` bytes from user address `src`; 0 or a negative errno.
    fn ebpf_os_copy_from_user(dst: *mut u8, src: u64, len: usize) -> c_int;
    /// Copies `len` bytes to user address `dst`; 0 or a negative errno.
    fn ebpf_os_copy_to_user(dst: u64, src: *const u8, len: usize) -> c_int;
    /// Reports a bug in the core and does not return.
    fn ebpf_os_panic(text: *const u8, len: usize) -> !;
    /// Compiles `len` instructions with the kernel's JIT and `stack_depth`
    /// bytes of stack: the kernel's program, its code's address and size
    /// out; null when the kernel did not JIT-compile it.
    fn ebpf_os_jit_compile(
        insns: *const c_void,
        len: u32,
        stack_depth: u32,
        code: *mut u64,
        size: *mut u32,
    ) -> *mut c_void;
    /// Frees a program `ebpf_os_jit_compile` returned.
    fn ebpf_os_jit_free(prog: *mut c_void);
    /// `__bpf_call_base`.
    fn ebpf_os_jit_call_base() -> u64;
    /// Calls compiled code with `args[0..5]` in `r1`-`r5`; returns `r0`.
    fn ebpf_os_jit_call(code: u64, args: *const u64) -> u64;
    /// Sets this CPU's current run; returns the previous.
    fn ebpf_os_jit_swap(run: *mut c_void) -> *mut c_void;
    /// This CPU's current run.
    fn ebpf_os_jit_current() -> *mut c_void;

    // Packet hooks (kmod-linux/ebpf_net.c).
    /// The interface `ifindex` (or named `name` when 0) in the caller's
    /// network namespace; 0 or -ENODEV.
    fn ebpf_os_net_device(
        ifindex: u32,
        name: *const u8,
        len: usize,
        out_ifindex: *mut u32,
        out_key: *mut u64,
    ) -> c_int;
    /// Registers a netfilter hook on the device calling
    /// `ebpf_kcore_hook_run(target, ...)`; 0 or a negative errno.
    fn ebpf_os_net_attach(
        key: u64,
        ifindex: u32,
        egress: bool,
        target: *mut c_void,
        hook: *mut *mut c_void,
    ) -> c_int;
    /// Unregisters and frees a hook, after a grace period.
    fn ebpf_os_net_detach(hook: *mut c_void);
    /// The hook's interface index, 0 once the device went away.
    fn ebpf_os_net_hook_ifindex(hook: *mut c_void) -> u32;

    // Timers (hrtimers expiring in softirq) and the reaper's work item.
    /// A timer on clock `clock` (Linux's clock id) calling `fire(arg)`;
    /// allocated without sleeping. Null on failure.
    fn ebpf_os_timer_create(fire: TimerFn, arg: *const c_void, clock: u32) -> *mut c_void;
    /// Arms it (relative or absolute nanoseconds).
    fn ebpf_os_timer_start(timer: *mut c_void, ns: u64, absolute: bool);
    /// Disarms it without waiting: whether it was armed.
    fn ebpf_os_timer_stop(timer: *mut c_void) -> bool;
    /// Disarms it, waits for its running expiry, frees it (may sleep).
    fn ebpf_os_timer_destroy(timer: *mut c_void);
    /// Queues the work item that calls `ebpf_kcore_reap`.
    fn ebpf_os_kick_reaper();
    /// Waits until the work item is neither queued nor running.
    fn ebpf_os_reaper_drain();
}

/// What timers and programs let go of in atomic context, freed by the
/// work item `ebpf_os_kick_reaper` queues.
static REAPER: Reaper = Reaper::new();

/// Storage for one lock class's validator key (Linux's lockdep wants one
/// static key per class); larger than any kernel's `lock_class_key`.
#[repr(C, align(16))]
struct ClassKey(UnsafeCell<[u8; 64]>);

// SAFETY: only the kernel's lock validator touches a key, through its own
// synchronisation.
unsafe impl Sync for ClassKey {}

static CLASS_KEYS: [ClassKey; LockClass::COUNT] =
    [const { ClassKey(UnsafeCell::new([0; 64])) }; LockClass::COUNT];

/// The kernel, as its `ebpf_os_*` functions present it.
pub struct COs;

/// The one instance.
pub static C_OS: COs = COs;

fn sleeping(kind: LockKind) -> bool {
    kind == LockKind::Sleep
}

fn errno(r: c_int) -> Result<(), Errno> {
    if r == 0 {
        Ok(())
    } else {
        Err(Errno(r.saturating_neg()))
    }
}

/// One log line; longer text is cut.
type LineBuf = FixedBuf<256>;

impl Platform for COs {
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>> {
        if align > 4096 {
            return None;
        }
        // SAFETY: plain call.
        NonNull::new(unsafe { ebpf_os_alloc(size.max(1), align, ctx == AllocContext::Atomic) })
    }

    unsafe fn free(&self, ptr: NonNull<u8>, _size: usize, _align: usize) {
        // SAFETY: the caller passes memory from `alloc`.
        unsafe { ebpf_os_free(ptr.as_ptr()) }
    }

    fn lock_create(&self, kind: LockKind, class: LockClass) -> Option<RawLock> {
        let key = &CLASS_KEYS[class as usize];
        // SAFETY: the key is static storage of the size passed, used by the
        // kernel only; the name is a static C string.
        let p = unsafe {
            ebpf_os_lock_create(
                sleeping(kind),
                key.0.get().cast(),
                size_of::<ClassKey>(),
                class.name().as_ptr(),
            )
        };
        NonNull::new(p.cast::<u8>()).map(RawLock::from_ptr)
    }

    unsafe fn lock_destroy(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: the caller passes an unlocked lock of this kind.
        unsafe { ebpf_os_lock_destroy(lock.as_ptr().as_ptr().cast(), sleeping(kind)) }
    }

    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: the caller passes a live lock of this kind.
        unsafe { ebpf_os_lock_acquire(lock.as_ptr().as_ptr().cast(), sleeping(kind)) }
    }

    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind) {
        // SAFETY: the caller holds the lock.
        unsafe { ebpf_os_lock_release(lock.as_ptr().as_ptr().cast(), sleeping(kind)) }
    }

    fn read_lock(&self) -> usize {
        // SAFETY: plain call; paired by read_unlock.
        unsafe { ebpf_os_read_lock() };
        0
    }

    fn read_unlock(&self, _token: usize) {
        // SAFETY: pairs the read_lock the caller made.
        unsafe { ebpf_os_read_unlock() }
    }

    fn synchronize(&self) {
        // SAFETY: plain call (process context).
        unsafe { ebpf_os_synchronize() }
    }

    fn resched(&self) {
        // SAFETY: plain call (process context, no spin lock held).
        unsafe { ebpf_os_resched() }
    }

    fn interrupted(&self) -> bool {
        // SAFETY: plain call.
        unsafe { ebpf_os_interrupted() }
    }

    fn cpu_id(&self) -> u32 {
        // SAFETY: plain call; the core asks only inside read sections.
        unsafe { ebpf_os_cpu_id() }
    }

    fn possible_cpus(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { ebpf_os_possible_cpus() }
    }

    fn numa_node(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { ebpf_os_numa_node() }
    }

    fn monotonic_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_monotonic_ns() }
    }

    fn boot_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_boot_ns() }
    }

    fn coarse_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_coarse_ns() }
    }

    fn tai_ns(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_tai_ns() }
    }

    fn jiffies(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_jiffies() }
    }

    fn random_u32(&self) -> u32 {
        // SAFETY: plain call.
        unsafe { ebpf_os_random_u32() }
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
        unsafe { ebpf_os_log(level, text.as_ptr(), text.len()) }
    }

    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        // SAFETY: `dst` is valid for writes of its length; the kernel
        // checks the user range.
        errno(unsafe { ebpf_os_copy_from_user(dst.as_mut_ptr(), src, dst.len()) })
    }

    fn kernel_jit(&self) -> Option<&'static dyn KernelJit> {
        Some(&LINUX_JIT)
    }

    fn net_device(&self, ifindex: u32, name: &[u8]) -> Result<NetDevice, Errno> {
        let mut dev = NetDevice { ifindex: 0, key: 0 };
        // SAFETY: `name` is valid for its length; the outputs are ours.
        errno(unsafe {
            ebpf_os_net_device(
                ifindex,
                name.as_ptr(),
                name.len(),
                &mut dev.ifindex,
                &mut dev.key,
            )
        })?;
        Ok(dev)
    }

    fn net_attach(
        &self,
        device: &NetDevice,
        direction: Direction,
        target: NonNull<c_void>,
    ) -> Result<NetHook, Errno> {
        let mut hook = core::ptr::null_mut();
        // SAFETY: plain call; `hook` is ours. The target stays alive until
        // `net_detach` returns (the trait's contract).
        errno(unsafe {
            ebpf_os_net_attach(
                device.key,
                device.ifindex,
                direction == Direction::Egress,
                target.as_ptr(),
                &mut hook,
            )
        })?;
        NonNull::new(hook).map(NetHook).ok_or(Errno::ENOMEM)
    }

    unsafe fn net_detach(&self, hook: NetHook) {
        // SAFETY: the hook came from ebpf_os_net_attach, given up here.
        unsafe { ebpf_os_net_detach(hook.0.as_ptr()) }
    }

    fn net_hook_ifindex(&self, hook: &NetHook) -> u32 {
        // SAFETY: a live hook from ebpf_os_net_attach.
        unsafe { ebpf_os_net_hook_ifindex(hook.0.as_ptr()) }
    }

    // `arg` is never dereferenced here, only handed back to `fire`.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    fn timer_create(
        &self,
        fire: TimerFn,
        arg: *const c_void,
        clock: TimerClock,
    ) -> Option<RawTimer> {
        // SAFETY: plain call; the kernel calls `fire(arg)` on expiry.
        let t = unsafe { ebpf_os_timer_create(fire, arg, clock as u32) };
        NonNull::new(t.cast::<u8>()).map(RawTimer::from_ptr)
    }

    fn timer_start(&self, timer: &RawTimer, ns: u64, absolute: bool) {
        // SAFETY: a live timer from `timer_create`.
        unsafe { ebpf_os_timer_start(timer.as_ptr().as_ptr().cast(), ns, absolute) }
    }

    fn timer_stop(&self, timer: &RawTimer) -> bool {
        // SAFETY: a live timer from `timer_create`.
        unsafe { ebpf_os_timer_stop(timer.as_ptr().as_ptr().cast()) }
    }

    unsafe fn timer_destroy(&self, timer: RawTimer) {
        // SAFETY: per the trait's contract, a live timer not used again.
        unsafe { ebpf_os_timer_destroy(timer.as_ptr().as_ptr().cast()) }
    }

    fn reaper(&self) -> Option<&Reaper> {
        Some(&REAPER)
    }

    fn kick_reaper(&self) {
        // SAFETY: plain call (queue_work does not sleep).
        unsafe { ebpf_os_kick_reaper() }
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        // SAFETY: `src` is valid for reads of its length; the kernel
        // checks the user range.
        errno(unsafe { ebpf_os_copy_to_user(dst, src.as_ptr(), src.len()) })
    }
}

/// The global allocator over `ebpf_os_alloc` (sleeping allocations: the
/// core's `alloc` collections grow only outside program runs).
pub struct CHeap;

// SAFETY: `ebpf_os_alloc` returns memory aligned and sized as asked (up
// to a page of alignment, refused beyond), or null.
unsafe impl GlobalAlloc for CHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > 4096 {
            return core::ptr::null_mut();
        }
        // SAFETY: plain call.
        unsafe { ebpf_os_alloc(layout.size().max(1), layout.align(), false) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above.
        unsafe { ebpf_os_free(ptr) }
    }
}

/// Reports a panic of the core through `ebpf_os_panic` (the panic
/// handler of the library the kernel links).
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = LineBuf::default();
    let _ = fmt::write(&mut line, format_args!("{info}"));
    let text = line.as_bytes();
    // SAFETY: `text` is valid for its length; the call does not return.
    unsafe { ebpf_os_panic(text.as_ptr(), text.len()) }
}

/// The device.
static SERVICE: Service = Service::new();

fn ret(r: Result<(), Errno>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => -e.0,
    }
}

/// Creates the device (module init); 0 or a negative errno.
#[no_mangle]
pub extern "C" fn ebpf_kcore_start() -> c_int {
    ret(SERVICE.start(&C_OS, Limits::default(), Host::Linux))
}

/// Frees the device and everything in it (module exit, after the device
/// node is gone); `-EBUSY` while a file is open.
#[no_mangle]
pub extern "C" fn ebpf_kcore_stop() -> c_int {
    let stopped = SERVICE.stop();
    if stopped.is_ok() {
        // The device's maps freed their timers: free them, and make sure
        // no reaper work is left to run in the module's text.
        for _ in 0..2 {
            REAPER.reap(&C_OS);
            // SAFETY: plain call, process context.
            unsafe { ebpf_os_reaper_drain() };
        }
    }
    ret(stopped)
}

/// The reaper's work item (process context): frees what timers and
/// programs let go of ([`Reaper::reap`]).
#[no_mangle]
pub extern "C" fn ebpf_kcore_reap() {
    REAPER.reap(&C_OS);
}

/// Opens a file for an opener with the [`Privileges`] bits `privileges`;
/// stores its state in `*file`. 0 or a negative errno.
///
/// # Safety
/// `file` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_open(file: *mut *mut c_void, privileges: u32) -> c_int {
    match SERVICE.open(Privileges::from_bits(privileges)) {
        Ok(f) => {
            // SAFETY: per the contract.
            unsafe { file.write(f.as_ptr().cast()) };
            0
        }
        Err(e) => -e.0,
    }
}

/// Closes a file: releases every handle it holds that is not pinned.
///
/// # Safety
/// `file` came from `ebpf_kcore_open` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_release(file: *mut c_void) {
    if let Some(f) = NonNull::new(file.cast::<OpenFile>()) {
        // SAFETY: per the contract.
        unsafe { SERVICE.release(f) }
    }
}

/// Serves one ioctl; 0 or a negative errno. `arg` is the user address of
/// the request's `struct ebpf_ioctl_arg`.
///
/// # Safety
/// `file` came from `ebpf_kcore_open` and is not released yet.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_ioctl(file: *mut c_void, cmd: u32, arg: u64) -> c_long {
    let Some(f) = NonNull::new(file.cast::<OpenFile>()) else {
        return -(Errno::EBADF.0 as c_long);
    };
    // SAFETY: per the contract.
    match unsafe { SERVICE.ioctl(f, cmd, arg) } {
        Ok(()) => 0,
        Err(e) => -(e.0 as c_long),
    }
}

/// Runs the program of a packet hook on a frame (called by the netfilter
/// hook of kmod-linux/ebpf_net.c): the packet is the `*len` bytes at
/// offset `*start` of the `room_len` bytes at `room`, which the program
/// may rewrite and move the packet in; `*start` and `*len` are updated.
/// Returns the verdict (`enum xdp_action`).
///
/// # Safety
/// `target` was passed to `ebpf_os_net_attach` for a hook still
/// registered; `room` is valid for reads and writes of `room_len` bytes
/// that nothing else touches during the call; `start` and `len` are valid.
#[no_mangle]
pub unsafe extern "C" fn ebpf_kcore_hook_run(
    target: *mut c_void,
    room: *mut u8,
    room_len: usize,
    start: *mut u32,
    len: *mut u32,
    ifindex: u32,
    rx_queue: u32,
) -> u32 {
    let Some(target) = NonNull::new(target) else {
        return Verdict::Aborted as u32;
    };
    if room.is_null() || start.is_null() || len.is_null() {
        return Verdict::Aborted as u32;
    }
    // SAFETY: per the contract.
    let (room, at, n) = unsafe {
        (
            core::slice::from_raw_parts_mut(room, room_len),
            *start as usize,
            *len as usize,
        )
    };
    let mut frame = LiveFrame {
        room,
        start: at,
        len: n,
        ifindex,
        rx_queue,
    };
    // SAFETY: per the contract.
    let verdict = unsafe { run_hook(target, &mut frame) };
    // SAFETY: per the contract; the core keeps the packet inside the room.
    unsafe {
        *start = frame.start as u32;
        *len = frame.len as u32;
    }
    verdict as u32
}

/// Linux's JIT through `bpf_prog_alloc` / `bpf_prog_select_runtime`.
struct LinuxJit;

static LINUX_JIT: LinuxJit = LinuxJit;

impl KernelJit for LinuxJit {
    fn call_base(&self) -> u64 {
        // SAFETY: plain call.
        unsafe { ebpf_os_jit_call_base() }
    }

    fn helper_entry(&self) -> u64 {
        ebpf_kcore_jit_helper_entry as *const () as u64
    }

    fn compile(
        &self,
        insns: &[crate::Insn],
        stack_depth: u32,
    ) -> Option<(NonNull<c_void>, u64, u32)> {
        // The kernel's struct bpf_insn has the layout of our encoding.
        let mut bytes = alloc::vec::Vec::new();
        bytes.try_reserve_exact(insns.len() * 8).ok()?;
        crate::insn::encode_into(insns, &mut bytes);
        let (mut code, mut size) = (0u64, 0u32);
        // SAFETY: `bytes` holds `insns.len()` encoded instructions; the
        // outputs are valid for writes.
        let prog = unsafe {
            ebpf_os_jit_compile(
                bytes.as_ptr().cast(),
                u32::try_from(insns.len()).ok()?,
                stack_depth,
                &mut code,
                &mut size,
            )
        };
        Some((NonNull::new(prog)?, code, size))
    }

    unsafe fn free(&self, prog: NonNull<c_void>) {
        // SAFETY: per the trait's contract, a program from `compile`, no
        // longer run.
        unsafe { ebpf_os_jit_free(prog.as_ptr()) }
    }

    unsafe fn call(&self, code: u64, args: [u64; 5]) -> u64 {
        // SAFETY: per the trait's contract, live compiled code, called in a
        // read-side section with the run set.
        unsafe { ebpf_os_jit_call(code, args.as_ptr()) }
    }

    fn swap_current(&self, run: *mut c_void) -> *mut c_void {
        // SAFETY: plain call (preemption is off during runs).
        unsafe { ebpf_os_jit_swap(run) }
    }
}

/// Where compiled code's helper calls go: the helper id is in `rax` (eBPF
/// `r0`, set just before the call), the arguments in the C argument
/// registers; it becomes the sixth argument of [`jit_helper`]. It starts
/// with `endbr64`: its address is taken (indirect-branch tracking).
#[unsafe(naked)]
extern "C" fn ebpf_kcore_jit_helper_entry() {
    core::arch::naked_asm!("endbr64", "mov r9, rax", "jmp {helper}", helper = sym jit_helper);
}

extern "C" fn jit_helper(a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, id: u64) -> u64 {
    // SAFETY: only compiled code calls the entry, during a run it made
    // current on this CPU (KernelImage::run).
    unsafe { crate::jit::kernel::dispatch(ebpf_os_jit_current(), id, [a1, a2, a3, a4, a5]) }
}
