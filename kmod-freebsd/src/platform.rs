//! [`FreeBsdPlatform`]: the core's Platform on FreeBSD's KPI.
//!
//! Spin locks are `MTX_SPIN` mutexes (usable with the critical section a
//! program runs in), sleeping locks are `sx` locks, memory is malloc(9)
//! from `M_DEVBUF`, a program runs in a critical section (pinned to its
//! CPU), and grace periods come from the core's portable reader counts,
//! waited out with `pause`.

use core::fmt;
use core::ptr::NonNull;

use ebpf_core::helpers::format::FixedBuf;
use ebpf_core::platform::{
    AllocContext, Direction, GracePeriods, LockClass, LockKind, LogLevel, NetDevice, NetHook,
    Platform, RawLock,
};
use ebpf_core::Errno;

use crate::heap;
use crate::kpi::{self, Lock};
use crate::net;

/// FreeBSD, as the kld sees it.
pub struct FreeBsdPlatform {
    grace: GracePeriods,
}

/// The one instance.
pub static PLATFORM: FreeBsdPlatform = FreeBsdPlatform {
    grace: GracePeriods::new(),
};

/// The kernel environment variable that turns constant blinding on.
pub const JIT_HARDEN: &core::ffi::CStr = c"kern.ebpf.jit_harden";

/// One log line; longer text is cut.
pub type LineBuf = FixedBuf<256>;

fn errno(bsd: core::ffi::c_int) -> Result<(), Errno> {
    match bsd {
        0 => Ok(()),
        e => Err(Errno::from_freebsd(e)),
    }
}

impl Platform for FreeBsdPlatform {
    fn alloc(&self, size: usize, align: usize, ctx: AllocContext) -> Option<NonNull<u8>> {
        heap::alloc(size, align, ctx == AllocContext::Atomic)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, _size: usize, _align: usize) {
        // SAFETY: the caller passes memory from `alloc`.
        unsafe { heap::free(ptr) }
    }

    fn lock_create(&self, kind: LockKind, class: LockClass) -> Option<RawLock> {
        let p = heap::alloc(core::mem::size_of::<Lock>(), 8, false)?;
        let lock = p.as_ptr().cast::<Lock>();
        // The class name is the witness(4) name, so lock order is checked
        // per role.
        let name = class.name().as_ptr();
        // SAFETY: fresh zeroed memory for one lock, a static name.
        unsafe {
            match kind {
                LockKind::Spin => kpi::mtx_init_spin(lock, name),
                LockKind::Sleep => kpi::sx_init(lock, name),
            }
        }
        Some(RawLock::from_ptr(p))
    }

    unsafe fn lock_destroy(&self, lock: &RawLock, kind: LockKind) {
        let l = lock.as_ptr().as_ptr().cast::<Lock>();
        // SAFETY: an unowned lock of this kind from lock_create.
        unsafe {
            match kind {
                LockKind::Spin => kpi::mtx_destroy(l),
                LockKind::Sleep => kpi::sx_destroy(l),
            }
            heap::free(lock.as_ptr());
        }
    }

    unsafe fn lock_acquire(&self, lock: &RawLock, kind: LockKind) {
        let l = lock.as_ptr().as_ptr().cast::<Lock>();
        // SAFETY: a live lock of this kind (the core's contract).
        unsafe {
            match kind {
                LockKind::Spin => kpi::mtx_lock_spin(l),
                LockKind::Sleep => kpi::sx_xlock(l),
            }
        }
    }

    unsafe fn lock_release(&self, lock: &RawLock, kind: LockKind) {
        let l = lock.as_ptr().as_ptr().cast::<Lock>();
        // SAFETY: held by the caller.
        unsafe {
            match kind {
                LockKind::Spin => kpi::mtx_unlock_spin(l),
                LockKind::Sleep => kpi::sx_xunlock(l),
            }
        }
    }

    fn read_lock(&self) -> usize {
        kpi::critical_enter();
        self.grace.enter()
    }

    fn read_unlock(&self, token: usize) {
        self.grace.exit(token);
        kpi::critical_exit();
    }

    fn synchronize(&self) {
        self.grace.synchronize(kpi::pause_1ms);
    }

    fn resched(&self) {
        kpi::maybe_yield()
    }

    fn interrupted(&self) -> bool {
        kpi::signal_pending()
    }

    fn cpu_id(&self) -> u32 {
        kpi::curcpu()
    }

    fn possible_cpus(&self) -> u32 {
        kpi::possible_cpus()
    }

    fn monotonic_ns(&self) -> u64 {
        kpi::uptime_ns()
    }

    fn coarse_ns(&self) -> u64 {
        kpi::coarse_uptime_ns()
    }

    /// The wall clock: FreeBSD keeps its TAI offset to itself, and it is 0
    /// on Linux too until a time daemon sets it.
    fn tai_ns(&self) -> u64 {
        kpi::wall_ns()
    }

    fn jiffies(&self) -> u64 {
        kpi::ticks()
    }

    fn random_u32(&self) -> u32 {
        kpi::random()
    }

    /// `kern.ebpf.jit_harden` in the kernel environment (loader.conf, or
    /// `kenv kern.ebpf.jit_harden=1` at run time): non-zero blinds the
    /// constants of programs compiled from then on, as Linux's
    /// `net.core.bpf_jit_harden`. Read when a program is compiled, in the
    /// loading process's context.
    fn jit_blinding(&self) -> bool {
        kpi::kenv_int(JIT_HARDEN).is_some_and(|v| v != 0)
    }

    fn log(&self, _level: LogLevel, message: fmt::Arguments<'_>) {
        let mut line = LineBuf::default();
        let _ = fmt::write(&mut line, message);
        kpi::log(line.as_bytes());
    }

    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        errno(kpi::copyin(src, dst))
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        errno(kpi::copyout(src, dst))
    }

    /// malloc(9) with `M_EXEC`: the kernel maps it readable, writable and
    /// executable at once (FreeBSD offers no way to drop the write right
    /// of a malloc'd block), so sealing has nothing to change.
    fn exec_alloc(&self, len: usize) -> Option<NonNull<u8>> {
        NonNull::new(kpi::malloc(len, kpi::M_WAITOK | kpi::M_ZERO | kpi::M_EXEC))
    }

    unsafe fn exec_seal(&self, _ptr: NonNull<u8>, _len: usize) -> bool {
        true
    }

    unsafe fn exec_free(&self, ptr: NonNull<u8>, _len: usize) {
        // SAFETY: per the contract, a block from `exec_alloc` (malloc),
        // unused from now on.
        unsafe { kpi::free(ptr.as_ptr()) }
    }

    fn net_device(&self, ifindex: u32, name: &[u8]) -> Result<NetDevice, Errno> {
        net::device(ifindex, name)
    }

    /// A pfil(9) hook on the vnet's Ethernet head (see [`net`]).
    fn net_attach(
        &self,
        device: &NetDevice,
        direction: Direction,
        target: NonNull<core::ffi::c_void>,
    ) -> Result<NetHook, Errno> {
        net::attach(device, direction, target)
    }

    unsafe fn net_detach(&self, hook: NetHook) {
        // SAFETY: per the contract, a hook from net_attach, used once.
        unsafe { net::detach(hook) }
    }

    fn net_hook_ifindex(&self, hook: &NetHook) -> u32 {
        net::hook_ifindex(hook)
    }
}
