//! A mock of the FreeBSD KPI for host tests: the kld's code runs unchanged
//! against it, and it checks what the kernel would (and more): every
//! allocation freed, locks balanced and released by their owner, no
//! sleeping lock or sleeping allocation inside a critical section or under
//! a spin mutex, user copies only within registered user memory.

#![allow(non_upper_case_globals, non_snake_case, missing_docs)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::Mutex;

use crate::kpi::{Cdev, DPrivDtor, Lock, MakeDevArgs, MallocType, Thread, Timespec};

pub static mut M_DEVBUF: [MallocType; 1] = [MallocType { _private: [] }];
pub static mp_maxid: c_uint = 3;
pub static ticks: c_int = 1234;

/// What the mock saw.
#[derive(Default)]
pub struct State {
    /// Live malloc blocks: address -> size.
    pub blocks: HashMap<usize, usize>,
    /// Registered user memory: (start, len).
    pub user: Vec<(usize, usize)>,
    /// Contract violations.
    pub violations: Vec<String>,
    /// Log lines.
    pub log: Vec<String>,
    /// make_dev_s calls: (devsw, mode, uid, gid, name).
    pub devices: Vec<(usize, c_int, u32, u32, String)>,
    pub destroyed: usize,
    pub registered: Vec<usize>,
    pub deny_priv: bool,
    pub mtx_live: usize,
    pub sx_live: usize,
}

pub static STATE: Mutex<Option<State>> = Mutex::new(None);

thread_local! {
    static CRITICAL: RefCell<u32> = const { RefCell::new(0) };
    static SPINS: RefCell<u32> = const { RefCell::new(0) };
    static SXS: RefCell<u32> = const { RefCell::new(0) };
    static CDEVPRIV: RefCell<Option<(usize, DPrivDtor)>> = const { RefCell::new(None) };
}

pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(State::default))
}

fn violation(what: String) {
    with(|s| s.violations.push(what));
}

fn atomic_context() -> bool {
    CRITICAL.with(|c| *c.borrow() > 0) || SPINS.with(|c| *c.borrow() > 0)
}

/// Per-thread lock and critical-section depths (for balance checks).
pub fn depths() -> (u32, u32, u32) {
    (
        CRITICAL.with(|c| *c.borrow()),
        SPINS.with(|c| *c.borrow()),
        SXS.with(|c| *c.borrow()),
    )
}

/// The open file's cdevpriv, as devfs keeps it for the current thread.
pub fn take_cdevpriv() -> Option<(usize, DPrivDtor)> {
    CDEVPRIV.with(|c| c.borrow_mut().take())
}

pub unsafe fn malloc(size: usize, _ty: *mut MallocType, flags: c_int) -> *mut c_void {
    if flags & crate::kpi::M_WAITOK != 0 && atomic_context() {
        violation(format!(
            "malloc({size}, M_WAITOK) in a critical section or under a spin mutex"
        ));
    }
    if flags & crate::kpi::M_NOWAIT != 0 && atomic_context() {
        violation(format!(
            "malloc({size}, M_NOWAIT) in a critical section or under a spin mutex"
        ));
    }
    let layout = std::alloc::Layout::from_size_align(size.max(1), 16).unwrap();
    // SAFETY: non-zero size.
    let p = unsafe { std::alloc::alloc(layout) };
    if flags & crate::kpi::M_ZERO == 0 {
        // Not zeroed, as malloc(9) without M_ZERO: poison to catch reliance.
        // SAFETY: fresh block of `size` bytes.
        unsafe { p.write_bytes(0xa5, size) };
    } else {
        // SAFETY: as above.
        unsafe { p.write_bytes(0, size) };
    }
    with(|s| s.blocks.insert(p as usize, size));
    p.cast()
}

pub unsafe fn free(addr: *mut c_void, _ty: *mut MallocType) {
    if addr.is_null() {
        return;
    }
    let Some(size) = with(|s| s.blocks.remove(&(addr as usize))) else {
        violation(format!("free of {addr:p}, not a live malloc block"));
        return;
    };
    let layout = std::alloc::Layout::from_size_align(size.max(1), 16).unwrap();
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(addr.cast(), layout) };
}

fn user_ok(addr: usize, len: usize) -> bool {
    len == 0
        || with(|s| {
            s.user
                .iter()
                .any(|&(a, l)| addr >= a && addr.checked_add(len).is_some_and(|e| e <= a + l))
        })
}

pub unsafe fn copyin(uaddr: *const c_void, kaddr: *mut c_void, len: usize) -> c_int {
    if atomic_context() {
        violation("copyin in a critical section or under a spin mutex".into());
    }
    if !user_ok(uaddr as usize, len) {
        return 14;
    }
    // SAFETY: checked against registered user memory; kaddr from the kld.
    unsafe { std::ptr::copy_nonoverlapping(uaddr.cast::<u8>(), kaddr.cast::<u8>(), len) };
    0
}

pub unsafe fn copyout(kaddr: *const c_void, uaddr: *mut c_void, len: usize) -> c_int {
    if atomic_context() {
        violation("copyout in a critical section or under a spin mutex".into());
    }
    if !user_ok(uaddr as usize, len) {
        return 14;
    }
    // SAFETY: as for copyin.
    unsafe { std::ptr::copy_nonoverlapping(kaddr.cast::<u8>(), uaddr.cast::<u8>(), len) };
    0
}

pub fn log(text: &[u8]) {
    with(|s| s.log.push(String::from_utf8_lossy(text).into_owned()));
}

pub fn panic(text: &[u8]) -> ! {
    std::panic!("kernel panic: {}", String::from_utf8_lossy(text))
}

pub unsafe fn make_dev_args_init_impl(args: *mut MakeDevArgs, size: usize) {
    // SAFETY: the kld passes memory for one struct.
    unsafe {
        args.cast::<u8>().write_bytes(0, size);
        (*args).mda_size = size;
    }
}

pub unsafe fn make_dev_s(args: *mut MakeDevArgs, cdev: *mut *mut Cdev, name: &CStr) -> c_int {
    // SAFETY: the kld passes valid pointers.
    unsafe {
        let a = &*args;
        if a.mda_size != std::mem::size_of::<MakeDevArgs>() {
            return 22;
        }
        let sw = a.mda_devsw;
        // What the kernel does to the driver's cdevsw (prep_cdevsw): mark
        // it initialised. A cdevsw in read-only memory would fault here.
        (*sw).d_flags |= 0x8000_0000;
        if (*sw).d_version != crate::kpi::D_VERSION {
            return 22;
        }
        with(|s| {
            s.devices.push((
                sw as usize,
                a.mda_mode,
                a.mda_uid,
                a.mda_gid,
                name.to_string_lossy().into(),
            ))
        });
        *cdev = 0x1000 as *mut Cdev;
    }
    0
}

pub unsafe fn destroy_dev(_cdev: *mut Cdev) {
    with(|s| s.destroyed += 1);
}

pub unsafe fn devfs_set_cdevpriv(priv_: *mut c_void, dtor: DPrivDtor) -> c_int {
    CDEVPRIV.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_some() {
            return 16;
        }
        *c = Some((priv_ as usize, dtor));
        0
    })
}

pub unsafe fn devfs_get_cdevpriv(priv_: *mut *mut c_void) -> c_int {
    CDEVPRIV.with(|c| match *c.borrow() {
        // SAFETY: valid out pointer from the kld.
        Some((p, _)) => unsafe {
            *priv_ = p as *mut c_void;
            0
        },
        None => 9,
    })
}

pub unsafe fn priv_check(_td: *mut Thread, priv_: c_int) -> c_int {
    assert_eq!(priv_, crate::kpi::PRIV_DRIVER);
    if with(|s| s.deny_priv) {
        1
    } else {
        0
    }
}

pub unsafe fn _mtx_init(c: *mut usize, name: *const c_char, _ty: *const c_char, opts: c_int) {
    assert_eq!(opts, crate::kpi::MTX_SPIN);
    assert!(!name.is_null());
    // SAFETY: the lock word of a Lock.
    unsafe { *c = 0 };
    with(|s| s.mtx_live += 1);
}

pub unsafe fn _mtx_destroy(c: *mut usize) {
    // SAFETY: as above.
    if unsafe { *c } != 0 {
        violation("mtx_destroy of an owned mutex".into());
    }
    with(|s| s.mtx_live -= 1);
}

pub unsafe fn __mtx_lock_spin_flags(c: *mut usize, _o: c_int, _f: *const c_char, _l: c_int) {
    // SAFETY: as above.
    unsafe {
        if *c != 0 {
            violation("spin mutex recursion or contention in a single-threaded test".into());
        }
        *c = 1;
    }
    CRITICAL.with(|x| *x.borrow_mut() += 1);
    SPINS.with(|x| *x.borrow_mut() += 1);
}

pub unsafe fn __mtx_unlock_spin_flags(c: *mut usize, _o: c_int, _f: *const c_char, _l: c_int) {
    // SAFETY: as above.
    unsafe {
        if *c != 1 {
            violation("unlock of a spin mutex that is not held".into());
        }
        *c = 0;
    }
    SPINS.with(|x| *x.borrow_mut() -= 1);
    CRITICAL.with(|x| *x.borrow_mut() -= 1);
}

pub unsafe fn sx_init_flags(sx: *mut Lock, name: *const c_char, _opts: c_int) {
    assert!(!name.is_null());
    // SAFETY: memory for one Lock.
    unsafe { (*sx).lock_word = 0 };
    with(|s| s.sx_live += 1);
}

pub unsafe fn sx_destroy(sx: *mut Lock) {
    // SAFETY: as above.
    if unsafe { (*sx).lock_word } != 0 {
        violation("sx_destroy of an owned sx".into());
    }
    with(|s| s.sx_live -= 1);
}

pub unsafe fn _sx_xlock(sx: *mut Lock, _o: c_int, _f: *const c_char, _l: c_int) -> c_int {
    if atomic_context() {
        violation("sx_xlock in a critical section or under a spin mutex".into());
    }
    // SAFETY: as above.
    unsafe {
        if (*sx).lock_word != 0 {
            violation("sx recursion".into());
        }
        (*sx).lock_word = 1;
    }
    SXS.with(|x| *x.borrow_mut() += 1);
    0
}

pub unsafe fn _sx_xunlock(sx: *mut Lock, _f: *const c_char, _l: c_int) {
    // SAFETY: as above.
    unsafe {
        if (*sx).lock_word != 1 {
            violation("unlock of an sx that is not held".into());
        }
        (*sx).lock_word = 0;
    }
    SXS.with(|x| *x.borrow_mut() -= 1);
}

pub unsafe fn critical_enter_KBI() {
    CRITICAL.with(|x| *x.borrow_mut() += 1);
}

pub unsafe fn critical_exit_KBI() {
    CRITICAL.with(|x| {
        let mut x = x.borrow_mut();
        if *x == 0 {
            drop(x);
            violation("critical_exit without critical_enter".into());
            return;
        }
        *x -= 1;
    });
}

pub unsafe fn pause_sbt(_w: *const c_char, _sbt: i64, _pr: i64, _flags: c_int) -> c_int {
    if atomic_context() {
        violation("pause in a critical section or under a spin mutex".into());
    }
    std::thread::yield_now();
    0
}

pub unsafe fn maybe_yield() {
    if atomic_context() {
        violation("maybe_yield in a critical section or under a spin mutex".into());
    }
}

pub unsafe fn sig_intr() -> c_int {
    if atomic_context() {
        violation("sig_intr in a critical section or under a spin mutex".into());
    }
    0
}

pub unsafe fn nanouptime(ts: *mut Timespec) {
    // SAFETY: valid out pointer.
    unsafe { (*ts).tv_sec = 5 };
}

pub unsafe fn getnanouptime(ts: *mut Timespec) {
    // SAFETY: valid out pointer.
    unsafe { (*ts).tv_sec = 5 };
}

pub unsafe fn arc4random() -> u32 {
    4
}

pub fn curcpu() -> u32 {
    if !atomic_context() {
        violation("curcpu read outside a critical section".into());
    }
    1
}

pub unsafe extern "C" fn module_register_init(data: *const c_void) {
    with(|s| s.registered.push(data as usize));
}
