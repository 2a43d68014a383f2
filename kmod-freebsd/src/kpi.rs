//! The FreeBSD 14 KPI this kld uses, declared by hand (no FreeBSD headers
//! here), with the layouts asserted at compile time. Everything the rest of
//! the kld calls goes through the wrappers at the bottom, which call the
//! kernel, or, under `cfg(test)`, the mock in `mock.rs`.

use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use core::mem::{offset_of, size_of};

/// `struct cdev` (opaque).
#[repr(C)]
pub struct Cdev {
    _private: [u8; 0],
}

/// `struct thread` (opaque).
#[repr(C)]
pub struct Thread {
    _private: [u8; 0],
}

/// `struct ucred` (opaque).
#[repr(C)]
pub struct Ucred {
    _private: [u8; 0],
}

/// `struct malloc_type` (opaque: the kernel's `M_DEVBUF` is used, so the
/// kld does not depend on the struct's version).
#[repr(C)]
pub struct MallocType {
    pub(crate) _private: [u8; 0],
}

/// `d_open_t` / `d_close_t`.
pub type DOpen = unsafe extern "C" fn(*mut Cdev, c_int, c_int, *mut Thread) -> c_int;
/// `d_ioctl_t`.
pub type DIoctl = unsafe extern "C" fn(*mut Cdev, c_ulong, *mut u8, c_int, *mut Thread) -> c_int;
/// `d_priv_dtor_t`.
pub type DPrivDtor = unsafe extern "C" fn(*mut c_void);
/// A module event handler.
pub type ModEventHandler = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void) -> c_int;

/// `struct cdevsw` (sys/sys/conf.h, D_VERSION_04).
#[repr(C)]
pub struct Cdevsw {
    pub d_version: c_int,
    pub d_flags: c_uint,
    pub d_name: *const c_char,
    pub d_open: Option<DOpen>,
    pub d_fdopen: *const c_void,
    pub d_close: Option<DOpen>,
    pub d_read: *const c_void,
    pub d_write: *const c_void,
    pub d_ioctl: Option<DIoctl>,
    pub d_poll: *const c_void,
    pub d_mmap: *const c_void,
    pub d_strategy: *const c_void,
    pub d_dump: *const c_void,
    pub d_kqfilter: *const c_void,
    pub d_purge: *const c_void,
    pub d_mmap_single: *const c_void,
    pub d_spare0: [i32; 3],
    pub d_spare1: [*const c_void; 3],
    pub d_devs: *const c_void,
    pub d_spare2: c_int,
    pub gianttrick: *const c_void,
}

/// `D_VERSION` (D_VERSION_04).
pub const D_VERSION: c_int = 0x5c48_c353;

/// `struct make_dev_args`.
#[repr(C)]
pub struct MakeDevArgs {
    pub mda_size: usize,
    pub mda_flags: c_int,
    pub mda_devsw: *mut Cdevsw,
    pub mda_cr: *mut Ucred,
    pub mda_uid: u32,
    pub mda_gid: u32,
    pub mda_mode: c_int,
    pub mda_unit: c_int,
    pub mda_si_drv1: *mut c_void,
    pub mda_si_drv2: *mut c_void,
}

/// `MAKEDEV_WAITOK`.
pub const MAKEDEV_WAITOK: c_int = 0x08;
/// `MAKEDEV_CHECKNAME`.
pub const MAKEDEV_CHECKNAME: c_int = 0x20;
/// `UID_ROOT`, `GID_WHEEL`.
pub const UID_ROOT: u32 = 0;
/// `GID_WHEEL`.
pub const GID_WHEEL: u32 = 0;

/// `moduledata_t`.
#[repr(C)]
pub struct ModuleData {
    pub name: *const c_char,
    pub evhand: Option<ModEventHandler>,
    pub priv_: *mut c_void,
}

/// `struct mod_metadata`.
#[repr(C)]
pub struct ModMetadata {
    pub md_version: c_int,
    pub md_type: c_int,
    pub md_data: *const c_void,
    pub md_cval: *const c_char,
}

/// `struct mod_depend`.
#[repr(C)]
pub struct ModDepend {
    pub md_ver_minimum: c_int,
    pub md_ver_preferred: c_int,
    pub md_ver_maximum: c_int,
}

/// `struct mod_version`.
#[repr(C)]
pub struct ModVersion {
    pub mv_version: c_int,
}

/// `MDT_DEPEND`, `MDT_MODULE`, `MDT_VERSION`; `MDT_STRUCT_VERSION`.
pub const MDT_DEPEND: c_int = 1;
/// See [`MDT_DEPEND`].
pub const MDT_MODULE: c_int = 2;
/// See [`MDT_DEPEND`].
pub const MDT_VERSION: c_int = 3;
/// See [`MDT_DEPEND`].
pub const MDT_STRUCT_VERSION: c_int = 1;

/// `struct sysinit` (14.0 and later: with the STAILQ link).
#[repr(C)]
pub struct Sysinit {
    pub subsystem: u32,
    pub order: u32,
    pub next: *mut Sysinit,
    pub func: Option<unsafe extern "C" fn(*const c_void)>,
    pub udata: *const c_void,
}

/// `SI_SUB_DRIVERS`, `SI_ORDER_MIDDLE`.
pub const SI_SUB_DRIVERS: u32 = 0x310_0000;
/// See [`SI_SUB_DRIVERS`].
pub const SI_ORDER_MIDDLE: u32 = 0x100_0000;

/// Module events.
pub const MOD_LOAD: c_int = 0;
/// See [`MOD_LOAD`].
pub const MOD_UNLOAD: c_int = 1;
/// See [`MOD_LOAD`].
pub const MOD_SHUTDOWN: c_int = 2;
/// See [`MOD_LOAD`].
pub const MOD_QUIESCE: c_int = 3;

/// `struct mtx` / `struct sx`: a lock_object and the lock word.
#[repr(C)]
pub struct Lock {
    pub lo_name: *const c_char,
    pub lo_flags: c_uint,
    pub lo_data: c_uint,
    pub lo_witness: *mut c_void,
    pub lock_word: usize,
}

/// `MTX_SPIN`.
pub const MTX_SPIN: c_int = 0x0000_0001;
/// malloc(9) flags.
pub const M_NOWAIT: c_int = 0x0001;
/// See [`M_NOWAIT`].
pub const M_WAITOK: c_int = 0x0002;
/// See [`M_NOWAIT`].
pub const M_ZERO: c_int = 0x0100;
/// `M_EXEC`: executable memory (what a JIT needs).
pub const M_EXEC: c_int = 0x4000;
/// `PRIV_DRIVER` (sys/sys/priv.h).
pub const PRIV_DRIVER: c_int = 14;
/// `SBT_1MS`.
pub const SBT_1MS: i64 = (1i64 << 32) / 1000;

/// `struct timespec`.
#[repr(C)]
#[derive(Default)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: c_long,
}

/// `struct ifnet` (opaque: reached through the IfAPI functions).
#[repr(C)]
pub struct Ifnet {
    _private: [u8; 0],
}

/// `struct vnet` (opaque).
#[repr(C)]
pub struct Vnet {
    _private: [u8; 0],
}

/// `struct pkthdr` (sys/sys/mbuf.h; LP64: 56 bytes).
#[repr(C)]
pub struct PktHdr {
    pub rcvif: *mut Ifnet,
    pub tags: *mut c_void,
    pub len: i32,
    pub flowid: u32,
    pub csum_flags: u32,
    pub fibnum: u16,
    pub numa_domain: u8,
    pub rsstype: u8,
    pub rcv_tstmp: u64,
    pub ph_per: u64,
    pub ph_loc: u64,
}

/// `struct m_ext` (LP64: 48 bytes). `ext_cnt` is the union of the
/// embedded count (`ext_count`, its low half) and the pointer to a shared
/// one.
#[repr(C)]
pub struct MExt {
    pub ext_cnt: usize,
    pub ext_size: u32,
    /// `ext_type:8, ext_flags:24`.
    pub ext_type_flags: u32,
    pub ext_buf: *mut u8,
    pub ext_arg2: *mut c_void,
    pub ext_free: *mut c_void,
    pub ext_arg1: *mut c_void,
}

/// `struct mbuf` as far as the kld reads it: the header, the packet
/// header, the external storage header, and the rest of the `MSIZE`
/// bytes (where `m_pktdat` / `m_dat` data lives without `M_EXT`).
#[repr(C)]
pub struct Mbuf {
    pub m_next: *mut Mbuf,
    pub m_nextpkt: *mut Mbuf,
    pub m_data: *mut u8,
    pub m_len: i32,
    /// `m_type:8, m_flags:24`.
    pub m_type_flags: u32,
    pub m_pkthdr: PktHdr,
    pub m_ext: MExt,
    pub m_rest: [u8; MSIZE - 136],
}

/// `MSIZE`: the size of an mbuf.
pub const MSIZE: usize = 256;
/// Offset of `m_pktdat` (data of a packet header mbuf without `M_EXT`).
pub const M_PKTDAT: usize = 88;
/// Offset of `m_dat` (data of a plain mbuf).
pub const M_DAT: usize = 32;
/// mbuf flags (`m_flags`).
pub const M_EXT: u32 = 0x1;
/// See [`M_EXT`].
pub const M_PKTHDR: u32 = 0x2;
/// See [`M_EXT`].
pub const M_RDONLY: u32 = 0x8;
/// See [`M_EXT`].
pub const M_EXTPG: u32 = 0x100;
/// `EXT_FLAG_EMBREF`: the reference count is `ext_count` itself.
pub const EXT_FLAG_EMBREF: u32 = 0x1;
/// `IFF_DYING` (sys/net/if.h): the interface is being destroyed.
pub const IFF_DYING: c_int = 0x20_0000;

/// `pfil_return_t`.
pub const PFIL_PASS: c_int = 0;
/// See [`PFIL_PASS`].
pub const PFIL_DROPPED: c_int = 1;
/// See [`PFIL_PASS`].
pub const PFIL_CONSUMED: c_int = 2;
/// See [`PFIL_PASS`].
pub const PFIL_REALLOCED: c_int = 3;
/// `PFIL_VERSION` (14.x: the `pa_mbuf_chk` / `pa_mem_chk` pair).
pub const PFIL_VERSION: c_int = 2;
/// pfil(9) flags.
pub const PFIL_IN: c_int = 0x0001_0000;
/// See [`PFIL_IN`].
pub const PFIL_OUT: c_int = 0x0002_0000;
/// See [`PFIL_IN`].
pub const PFIL_HOOKPTR: c_int = 0x0020_0000;
/// `PFIL_TYPE_ETHERNET` (`enum pfil_types`: IP4, IP6, ETHERNET).
pub const PFIL_TYPE_ETHERNET: c_int = 2;
/// The link-layer head every Ethernet interface of a vnet runs
/// (`PFIL_ETHER_NAME`: `ether_demux` in, `ether_output_frame` out).
pub const PFIL_ETHER_NAME: &core::ffi::CStr = c"ethernet";

/// `pfil_mbuf_chk_t`.
pub type PfilMbufChk =
    unsafe extern "C" fn(*mut *mut Mbuf, *mut Ifnet, c_int, *mut c_void, *mut c_void) -> c_int;

/// `struct pfil_hook_args` (PFIL_VERSION 2).
#[repr(C)]
pub struct PfilHookArgs {
    pub pa_version: c_int,
    pub pa_flags: c_int,
    pub pa_type: c_int,
    pub pa_mbuf_chk: Option<PfilMbufChk>,
    pub pa_mem_chk: *const c_void,
    pub pa_ruleset: *mut c_void,
    pub pa_modname: *const c_char,
    pub pa_rulname: *const c_char,
}

/// `struct pfil_link_args`, with the head given by name and the hook by
/// pointer (`PFIL_HOOKPTR`).
#[repr(C)]
pub struct PfilLinkArgs {
    pub pa_version: c_int,
    pub pa_flags: c_int,
    pub pa_headname: *const c_char,
    pub pa_hook: *mut c_void,
    pub pa_rulname: *const c_char,
}

/// Offset of `td_vnet` in `struct thread` on amd64 14.x: six pointer-sized
/// fields before `td_emuldata` (td_vnet, td_vnet_lpush, td_intr_frame,
/// td_rfppwait_p, td_ma, td_ma_cnt and its padding), whose offset 0x6b0
/// kern_thread.c asserts as part of the stable branch's KBI.
pub const TD_VNET: usize = 0x6b0 - 6 * 8;

/// Space for a `struct epoch_tracker` (32 bytes on amd64, more with
/// EPOCH_TRACE): generously sized so that any 14.x configuration fits.
#[repr(C, align(16))]
pub struct EpochTracker(pub [u8; 256]);

const _: () = {
    assert!(size_of::<Cdevsw>() == 184);
    assert!(offset_of!(Cdevsw, d_name) == 8);
    assert!(offset_of!(Cdevsw, d_open) == 16);
    assert!(offset_of!(Cdevsw, d_close) == 32);
    assert!(offset_of!(Cdevsw, d_ioctl) == 56);
    assert!(offset_of!(Cdevsw, d_spare0) == 120);
    assert!(offset_of!(Cdevsw, d_spare1) == 136);
    assert!(offset_of!(Cdevsw, d_devs) == 160);
    assert!(offset_of!(Cdevsw, d_spare2) == 168);
    assert!(offset_of!(Cdevsw, gianttrick) == 176);
    assert!(size_of::<MakeDevArgs>() == 64);
    assert!(offset_of!(MakeDevArgs, mda_devsw) == 16);
    assert!(offset_of!(MakeDevArgs, mda_uid) == 32);
    assert!(offset_of!(MakeDevArgs, mda_mode) == 40);
    assert!(offset_of!(MakeDevArgs, mda_si_drv1) == 48);
    assert!(size_of::<ModuleData>() == 24);
    assert!(size_of::<ModMetadata>() == 24);
    assert!(size_of::<ModDepend>() == 12);
    assert!(size_of::<ModVersion>() == 4);
    assert!(size_of::<Sysinit>() == 32);
    assert!(offset_of!(Sysinit, func) == 16);
    assert!(size_of::<Lock>() == 32);
    assert!(offset_of!(Lock, lock_word) == 24);
    assert!(size_of::<Timespec>() == 16);
    assert!(size_of::<PktHdr>() == 56);
    assert!(offset_of!(PktHdr, len) == 16);
    assert!(size_of::<MExt>() == 48);
    assert!(offset_of!(MExt, ext_buf) == 16);
    assert!(size_of::<Mbuf>() == MSIZE);
    assert!(offset_of!(Mbuf, m_data) == 16);
    assert!(offset_of!(Mbuf, m_len) == 24);
    assert!(offset_of!(Mbuf, m_pkthdr) == 32);
    assert!(offset_of!(Mbuf, m_ext) == M_PKTDAT);
    assert!(size_of::<PfilHookArgs>() == 56);
    assert!(offset_of!(PfilHookArgs, pa_mbuf_chk) == 16);
    assert!(offset_of!(PfilHookArgs, pa_ruleset) == 32);
    assert!(size_of::<PfilLinkArgs>() == 32);
    assert!(offset_of!(PfilLinkArgs, pa_hook) == 16);
};

#[cfg(not(test))]
mod sys {
    use super::*;

    extern "C" {
        pub static mut M_DEVBUF: [MallocType; 1];
        pub static mp_maxid: c_uint;
        pub static ticks: c_int;

        pub fn malloc(size: usize, ty: *mut MallocType, flags: c_int) -> *mut c_void;
        pub fn free(addr: *mut c_void, ty: *mut MallocType);
        pub fn copyin(uaddr: *const c_void, kaddr: *mut c_void, len: usize) -> c_int;
        pub fn copyout(kaddr: *const c_void, uaddr: *mut c_void, len: usize) -> c_int;
        pub fn printf(fmt: *const c_char, ...) -> c_int;
        pub fn panic(fmt: *const c_char, ...) -> !;
        pub fn make_dev_args_init_impl(args: *mut MakeDevArgs, size: usize);
        pub fn make_dev_s(
            args: *mut MakeDevArgs,
            cdev: *mut *mut Cdev,
            fmt: *const c_char,
            ...
        ) -> c_int;
        pub fn destroy_dev(cdev: *mut Cdev);
        pub fn devfs_set_cdevpriv(priv_: *mut c_void, dtor: DPrivDtor) -> c_int;
        pub fn devfs_get_cdevpriv(priv_: *mut *mut c_void) -> c_int;
        pub fn priv_check(td: *mut Thread, priv_: c_int) -> c_int;
        pub fn _mtx_init(c: *mut usize, name: *const c_char, ty: *const c_char, opts: c_int);
        pub fn _mtx_destroy(c: *mut usize);
        pub fn __mtx_lock_spin_flags(c: *mut usize, opts: c_int, file: *const c_char, line: c_int);
        pub fn __mtx_unlock_spin_flags(
            c: *mut usize,
            opts: c_int,
            file: *const c_char,
            line: c_int,
        );
        pub fn sx_init_flags(sx: *mut Lock, name: *const c_char, opts: c_int);
        pub fn sx_destroy(sx: *mut Lock);
        pub fn _sx_xlock(sx: *mut Lock, opts: c_int, file: *const c_char, line: c_int) -> c_int;
        pub fn _sx_xunlock(sx: *mut Lock, file: *const c_char, line: c_int);
        pub fn critical_enter_KBI();
        pub fn critical_exit_KBI();
        pub fn pause_sbt(wmesg: *const c_char, sbt: i64, pr: i64, flags: c_int) -> c_int;
        pub fn maybe_yield();
        pub fn sig_intr() -> c_int;
        pub fn nanouptime(ts: *mut Timespec);
        pub fn getnanouptime(ts: *mut Timespec);
        pub fn nanotime(ts: *mut Timespec);
        pub fn arc4random() -> u32;
        pub fn getenv_int(name: *const c_char, data: *mut c_int) -> c_int;

        pub static net_epoch_preempt: *mut c_void;
        pub fn _epoch_enter_preempt(
            epoch: *mut c_void,
            et: *mut EpochTracker,
            file: *const c_char,
            line: c_int,
        );
        pub fn _epoch_exit_preempt(
            epoch: *mut c_void,
            et: *mut EpochTracker,
            file: *const c_char,
            line: c_int,
        );
        pub fn epoch_wait_preempt(epoch: *mut c_void);
        pub fn ifunit_ref(name: *const c_char) -> *mut Ifnet;
        pub fn ifnet_byindex_ref(index: c_uint) -> *mut Ifnet;
        pub fn if_rele(ifp: *mut Ifnet);
        pub fn if_getindex(ifp: *mut Ifnet) -> c_int;
        pub fn if_getflags(ifp: *mut Ifnet) -> c_int;
        pub fn if_transmit(ifp: *mut Ifnet, m: *mut Mbuf) -> c_int;
        pub fn pfil_add_hook(args: *mut PfilHookArgs) -> *mut c_void;
        pub fn pfil_link(args: *mut PfilLinkArgs) -> c_int;
        pub fn pfil_remove_hook(hook: *mut c_void);
        pub fn m_freem(m: *mut Mbuf);
        pub fn m_defrag(m: *mut Mbuf, how: c_int) -> *mut Mbuf;
    }
}

#[cfg(test)]
use crate::mock as sys;

// The wrappers: one place for every call into the kernel.

/// `malloc(size, M_DEVBUF, flags)`.
pub fn malloc(size: usize, flags: c_int) -> *mut u8 {
    // SAFETY: M_DEVBUF is the kernel's; malloc has no other precondition.
    unsafe { sys::malloc(size, core::ptr::addr_of_mut!(sys::M_DEVBUF).cast(), flags).cast() }
}

/// `free(p, M_DEVBUF)`.
///
/// # Safety
/// `p` came from [`malloc`] and is not used afterwards.
pub unsafe fn free(p: *mut u8) {
    // SAFETY: as the caller promises.
    unsafe { sys::free(p.cast(), core::ptr::addr_of_mut!(sys::M_DEVBUF).cast()) }
}

/// `copyin`; a FreeBSD errno on failure.
pub fn copyin(user: u64, dst: &mut [u8]) -> c_int {
    // SAFETY: `dst` is valid for its length; copyin checks the user range.
    unsafe { sys::copyin(user as *const c_void, dst.as_mut_ptr().cast(), dst.len()) }
}

/// `copyout`; a FreeBSD errno on failure.
pub fn copyout(src: &[u8], user: u64) -> c_int {
    // SAFETY: `src` is valid for its length; copyout checks the user range.
    unsafe { sys::copyout(src.as_ptr().cast(), user as *mut c_void, src.len()) }
}

/// `printf("ebpf: %.*s\n", text)`.
pub fn log(text: &[u8]) {
    #[cfg(not(test))]
    // SAFETY: the format takes an int length and a pointer valid for it.
    unsafe {
        sys::printf(c"ebpf: %.*s\n".as_ptr(), text.len() as c_int, text.as_ptr())
    };
    #[cfg(test)]
    sys::log(text);
}

/// `panic("ebpf: %.*s", text)`.
pub fn panic(text: &[u8]) -> ! {
    #[cfg(not(test))]
    // SAFETY: as for `log`; panic does not return.
    unsafe {
        sys::panic(c"ebpf: %.*s".as_ptr(), text.len() as c_int, text.as_ptr())
    }
    #[cfg(test)]
    sys::panic(text)
}

/// `make_dev_args_init` + `make_dev_s(args, &cdev, "%s", name)`.
///
/// # Safety
/// `devsw` is writable and lives until `destroy_dev`.
pub unsafe fn make_dev(
    devsw: *mut Cdevsw,
    mode: c_int,
    name: &core::ffi::CStr,
) -> Result<*mut Cdev, c_int> {
    let mut args = core::mem::MaybeUninit::<MakeDevArgs>::zeroed();
    // SAFETY: `args` is memory for one make_dev_args.
    unsafe { sys::make_dev_args_init_impl(args.as_mut_ptr(), size_of::<MakeDevArgs>()) };
    // SAFETY: initialised above.
    let mut args = unsafe { args.assume_init() };
    args.mda_flags = MAKEDEV_WAITOK | MAKEDEV_CHECKNAME;
    args.mda_devsw = devsw;
    args.mda_uid = UID_ROOT;
    args.mda_gid = GID_WHEEL;
    args.mda_mode = mode;
    let mut cdev = core::ptr::null_mut();
    #[cfg(not(test))]
    // SAFETY: valid args and out pointer; "%s" with a C string.
    let r = unsafe { sys::make_dev_s(&mut args, &mut cdev, c"%s".as_ptr(), name.as_ptr()) };
    #[cfg(test)]
    // SAFETY: as above.
    let r = unsafe { sys::make_dev_s(&mut args, &mut cdev, name) };
    if r == 0 {
        Ok(cdev)
    } else {
        Err(r)
    }
}

/// `destroy_dev`: waits until no thread is inside a method.
///
/// # Safety
/// `cdev` came from [`make_dev`].
pub unsafe fn destroy_dev(cdev: *mut Cdev) {
    // SAFETY: as the caller promises.
    unsafe { sys::destroy_dev(cdev) }
}

/// `devfs_set_cdevpriv`.
///
/// # Safety
/// Called from d_open; `p` stays valid until `dtor` runs.
pub unsafe fn set_cdevpriv(p: *mut c_void, dtor: DPrivDtor) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { sys::devfs_set_cdevpriv(p, dtor) }
}

/// `devfs_get_cdevpriv`.
pub fn get_cdevpriv() -> Result<*mut c_void, c_int> {
    let mut p = core::ptr::null_mut();
    // SAFETY: called from a d_* method with a valid out pointer.
    match unsafe { sys::devfs_get_cdevpriv(&mut p) } {
        0 => Ok(p),
        e => Err(e),
    }
}

/// `priv_check(td, PRIV_DRIVER)`.
///
/// # Safety
/// `td` is the thread the kernel passed to the method.
pub unsafe fn priv_check(td: *mut Thread) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { sys::priv_check(td, PRIV_DRIVER) }
}

/// Initialises a spin mutex (`mtx_init(m, name, NULL, MTX_SPIN)`).
///
/// # Safety
/// `m` is memory for one mtx with a static `name`.
pub unsafe fn mtx_init_spin(m: *mut Lock, name: *const c_char) {
    // SAFETY: as the caller promises.
    unsafe {
        sys::_mtx_init(
            core::ptr::addr_of_mut!((*m).lock_word),
            name,
            core::ptr::null(),
            MTX_SPIN,
        )
    }
}

/// `mtx_destroy`.
///
/// # Safety
/// An initialised, unowned mtx.
pub unsafe fn mtx_destroy(m: *mut Lock) {
    // SAFETY: as the caller promises.
    unsafe { sys::_mtx_destroy(core::ptr::addr_of_mut!((*m).lock_word)) }
}

/// `mtx_lock_spin`.
///
/// # Safety
/// An initialised spin mtx.
pub unsafe fn mtx_lock_spin(m: *mut Lock) {
    // SAFETY: as the caller promises.
    unsafe {
        sys::__mtx_lock_spin_flags(
            core::ptr::addr_of_mut!((*m).lock_word),
            0,
            c"ebpf".as_ptr(),
            0,
        )
    }
}

/// `mtx_unlock_spin`.
///
/// # Safety
/// Held by the caller.
pub unsafe fn mtx_unlock_spin(m: *mut Lock) {
    // SAFETY: as the caller promises.
    unsafe {
        sys::__mtx_unlock_spin_flags(
            core::ptr::addr_of_mut!((*m).lock_word),
            0,
            c"ebpf".as_ptr(),
            0,
        )
    }
}

/// `sx_init(sx, name)`.
///
/// # Safety
/// `sx` is memory for one sx with a static `name`.
pub unsafe fn sx_init(sx: *mut Lock, name: *const c_char) {
    // SAFETY: as the caller promises.
    unsafe { sys::sx_init_flags(sx, name, 0) }
}

/// `sx_destroy`.
///
/// # Safety
/// An initialised, unowned sx.
pub unsafe fn sx_destroy(sx: *mut Lock) {
    // SAFETY: as the caller promises.
    unsafe { sys::sx_destroy(sx) }
}

/// `sx_xlock`.
///
/// # Safety
/// An initialised sx; the caller may sleep.
pub unsafe fn sx_xlock(sx: *mut Lock) {
    // SAFETY: as the caller promises. Without SX_INTERRUPTIBLE it cannot fail.
    let _ = unsafe { sys::_sx_xlock(sx, 0, c"ebpf".as_ptr(), 0) };
}

/// `sx_xunlock`.
///
/// # Safety
/// Held by the caller.
pub unsafe fn sx_xunlock(sx: *mut Lock) {
    // SAFETY: as the caller promises.
    unsafe { sys::_sx_xunlock(sx, c"ebpf".as_ptr(), 0) }
}

/// `critical_enter`.
pub fn critical_enter() {
    // SAFETY: plain call; paired with critical_exit by the caller.
    unsafe { sys::critical_enter_KBI() }
}

/// `critical_exit`.
pub fn critical_exit() {
    // SAFETY: pairs a critical_enter of this thread.
    unsafe { sys::critical_exit_KBI() }
}

/// Sleeps about a millisecond (`pause_sbt`).
pub fn pause_1ms() {
    // SAFETY: plain call from a sleepable context.
    unsafe { sys::pause_sbt(c"ebpfgp".as_ptr(), SBT_1MS, 0, 0) };
}

/// `maybe_yield()`: gives up the CPU if this thread has run its slice.
pub fn maybe_yield() {
    // SAFETY: plain call from a sleepable context.
    unsafe { sys::maybe_yield() }
}

/// `sig_intr() != 0`: a signal is pending for this thread (FreeBSD 13+).
pub fn signal_pending() -> bool {
    // SAFETY: plain call from a sleepable context.
    unsafe { sys::sig_intr() != 0 }
}

/// The current CPU (`curcpu`, `pc_cpuid` at %gs:0x3c).
pub fn curcpu() -> u32 {
    #[cfg(all(not(test), target_arch = "x86_64"))]
    {
        let id: u32;
        // SAFETY: %gs points at this CPU's pcpu in the kernel; reading
        // pc_cpuid has no side effects.
        unsafe {
            core::arch::asm!("mov {0:e}, dword ptr gs:[0x3c]", out(reg) id,
                options(nostack, readonly, preserves_flags))
        };
        id
    }
    #[cfg(test)]
    sys::curcpu()
}

/// `mp_maxid + 1`.
pub fn possible_cpus() -> u32 {
    // SAFETY: set at boot, read-only afterwards.
    #[allow(unused_unsafe)]
    unsafe {
        sys::mp_maxid + 1
    }
}

/// `ticks`.
pub fn ticks() -> u64 {
    // SAFETY: a word-sized kernel counter, read racily as the kernel does.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(sys::ticks)) as u32 as u64 }
}

/// `nanouptime`, in ns.
pub fn uptime_ns() -> u64 {
    let mut ts = Timespec::default();
    // SAFETY: valid out pointer.
    unsafe { sys::nanouptime(&mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `getnanouptime` (tick-granular), in ns.
pub fn coarse_uptime_ns() -> u64 {
    let mut ts = Timespec::default();
    // SAFETY: valid out pointer.
    unsafe { sys::getnanouptime(&mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `nanotime`: the wall clock, in ns since the epoch.
pub fn wall_ns() -> u64 {
    let mut ts = Timespec::default();
    // SAFETY: valid out pointer.
    unsafe { sys::nanotime(&mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `arc4random`.
pub fn random() -> u32 {
    // SAFETY: plain call.
    unsafe { sys::arc4random() }
}

/// `getenv_int`: the integer value of kernel environment variable `name`
/// (kenv(1), loader.conf), if it is set to one. Sleeps: process context
/// only.
pub fn kenv_int(name: &core::ffi::CStr) -> Option<c_int> {
    let mut v: c_int = 0;
    // SAFETY: a NUL-terminated name, a valid out pointer.
    (unsafe { sys::getenv_int(name.as_ptr(), &mut v) } != 0).then_some(v)
}

/// The vnet of the current thread (`curvnet`: `curthread->td_vnet`).
pub fn curvnet() -> *mut Vnet {
    #[cfg(all(not(test), target_arch = "x86_64"))]
    {
        let td: *const u8;
        // SAFETY: %gs:0 is pc_curthread in the kernel.
        unsafe {
            core::arch::asm!("mov {0}, qword ptr gs:[0]", out(reg) td,
                options(nostack, readonly, preserves_flags))
        };
        // SAFETY: td_vnet of the running thread (TD_VNET), which only this
        // thread writes.
        unsafe { td.add(TD_VNET).cast::<*mut Vnet>().read() }
    }
    #[cfg(test)]
    sys::curvnet_get()
}

/// `CURVNET_SET(vnet)`; returns the vnet to restore with
/// [`curvnet_restore`].
///
/// # Safety
/// `vnet` is a live vnet (or null on a kernel without VIMAGE), and the
/// caller restores the previous one before returning to the kernel.
pub unsafe fn curvnet_set(vnet: *mut Vnet) -> *mut Vnet {
    let saved = curvnet();
    #[cfg(all(not(test), target_arch = "x86_64"))]
    {
        let td: *mut u8;
        // SAFETY: as in `curvnet`.
        unsafe {
            core::arch::asm!("mov {0}, qword ptr gs:[0]", out(reg) td,
                options(nostack, readonly, preserves_flags))
        };
        // SAFETY: td_vnet of the running thread, as CURVNET_SET writes it.
        unsafe { td.add(TD_VNET).cast::<*mut Vnet>().write(vnet) };
    }
    #[cfg(test)]
    sys::curvnet_put(vnet);
    saved
}

/// `CURVNET_RESTORE()`.
///
/// # Safety
/// `saved` came from the matching [`curvnet_set`].
pub unsafe fn curvnet_restore(saved: *mut Vnet) {
    // SAFETY: the vnet that was selected before.
    let _ = unsafe { curvnet_set(saved) };
}

/// `ifunit_ref(name)`: a referenced interface of the current vnet.
pub fn ifunit_ref(name: &core::ffi::CStr) -> *mut Ifnet {
    // SAFETY: a NUL-terminated name; called with curvnet set.
    unsafe { sys::ifunit_ref(name.as_ptr()) }
}

/// `ifnet_byindex_ref(index)` inside the network epoch, as it requires.
pub fn ifnet_byindex_ref(index: u32) -> *mut Ifnet {
    let mut et = EpochTracker([0; 256]);
    // SAFETY: the tracker lives on this frame until the exit; file and
    // line are read only by EPOCH_TRACE kernels and ignored otherwise.
    unsafe {
        let epoch = core::ptr::read_volatile(core::ptr::addr_of!(sys::net_epoch_preempt));
        sys::_epoch_enter_preempt(epoch, &mut et, c"ebpf".as_ptr(), 0);
        let ifp = sys::ifnet_byindex_ref(index);
        sys::_epoch_exit_preempt(epoch, &mut et, c"ebpf".as_ptr(), 0);
        ifp
    }
}

/// Waits until every thread that was in the network epoch has left it
/// (`NET_EPOCH_WAIT()`): pfil(9) runs hooks inside it.
pub fn net_epoch_wait() {
    // SAFETY: a sleepable caller; the kernel's epoch.
    unsafe {
        sys::epoch_wait_preempt(core::ptr::read_volatile(core::ptr::addr_of!(
            sys::net_epoch_preempt
        )))
    }
}

/// `if_rele`.
///
/// # Safety
/// `ifp` holds a reference the caller owns.
pub unsafe fn if_rele(ifp: *mut Ifnet) {
    // SAFETY: as the caller promises.
    unsafe { sys::if_rele(ifp) }
}

/// `if_getindex`.
///
/// # Safety
/// `ifp` is referenced.
pub unsafe fn if_getindex(ifp: *mut Ifnet) -> u32 {
    // SAFETY: as the caller promises.
    unsafe { sys::if_getindex(ifp) as u32 }
}

/// Whether the interface is being destroyed (`IFF_DYING`).
///
/// # Safety
/// `ifp` is referenced.
pub unsafe fn if_dying(ifp: *mut Ifnet) -> bool {
    // SAFETY: as the caller promises.
    unsafe { sys::if_getflags(ifp) & IFF_DYING != 0 }
}

/// `if_transmit`: queues `m` on the interface, which takes it (freeing it
/// on error).
///
/// # Safety
/// `ifp` is live (in its pfil hook) and `m` is owned by the caller.
pub unsafe fn if_transmit(ifp: *mut Ifnet, m: *mut Mbuf) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { sys::if_transmit(ifp, m) }
}

/// `pfil_add_hook` of an Ethernet hook with `func` and `ruleset`, for
/// `flags` (`PFIL_IN` or `PFIL_OUT`).
///
/// # Safety
/// `rulname` and `ruleset` stay valid until [`pfil_remove_hook`];
/// curvnet is set.
pub unsafe fn pfil_add_hook(
    flags: c_int,
    func: PfilMbufChk,
    ruleset: *mut c_void,
    rulname: *const c_char,
) -> *mut c_void {
    let mut args = PfilHookArgs {
        pa_version: PFIL_VERSION,
        pa_flags: flags,
        pa_type: PFIL_TYPE_ETHERNET,
        pa_mbuf_chk: Some(func),
        pa_mem_chk: core::ptr::null(),
        pa_ruleset: ruleset,
        pa_modname: c"ebpf".as_ptr(),
        pa_rulname: rulname,
    };
    // SAFETY: valid arguments (M_WAITOK inside: a sleepable caller).
    unsafe { sys::pfil_add_hook(&mut args) }
}

/// `pfil_link` of `hook` to the vnet's Ethernet head for `flags`.
///
/// # Safety
/// `hook` came from [`pfil_add_hook`]; curvnet is set.
pub unsafe fn pfil_link_ethernet(hook: *mut c_void, flags: c_int) -> c_int {
    let mut args = PfilLinkArgs {
        pa_version: PFIL_VERSION,
        pa_flags: flags | PFIL_HOOKPTR,
        pa_headname: PFIL_ETHER_NAME.as_ptr(),
        pa_hook: hook,
        pa_rulname: core::ptr::null(),
    };
    // SAFETY: valid arguments.
    unsafe { sys::pfil_link(&mut args) }
}

/// `pfil_remove_hook`: unlinks the hook from every head and frees it
/// (threads already in it may still be running it until the network
/// epoch ends: see [`net_epoch_wait`]).
///
/// # Safety
/// `hook` came from [`pfil_add_hook`] and is not used afterwards; curvnet
/// is set.
pub unsafe fn pfil_remove_hook(hook: *mut c_void) {
    // SAFETY: as the caller promises.
    unsafe { sys::pfil_remove_hook(hook) }
}

/// `m_freem`.
///
/// # Safety
/// `m` is a chain the caller owns.
pub unsafe fn m_freem(m: *mut Mbuf) {
    // SAFETY: as the caller promises.
    unsafe { sys::m_freem(m) }
}

/// `m_defrag(m, M_NOWAIT)`: `m`'s data in fresh clusters, `m` freed; null
/// (with `m` untouched) when memory is short.
///
/// # Safety
/// `m` is a packet chain the caller owns.
pub unsafe fn m_defrag(m: *mut Mbuf) -> *mut Mbuf {
    // SAFETY: as the caller promises.
    unsafe { sys::m_defrag(m, M_NOWAIT) }
}
