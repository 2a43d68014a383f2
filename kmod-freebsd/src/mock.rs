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

use crate::kpi::{
    Cdev, DPrivDtor, EpochTracker, Ifnet, Lock, MakeDevArgs, MallocType, Mbuf, PfilHookArgs,
    PfilLinkArgs, PfilMbufChk, Thread, Timespec, Vnet,
};

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
    /// Interfaces of the vnet.
    pub ifnets: Vec<&'static mut MockIf>,
    /// pfil hooks added (removed ones stay, marked).
    pub hooks: Vec<MockHook>,
    /// What pfil_link returns (0: links).
    pub pfil_link_error: c_int,
    pub epoch_waits: usize,
    /// Live mbufs made by the test or by m_defrag.
    pub mbufs: Vec<usize>,
    /// Mbufs given to if_transmit: (interface, data).
    pub transmitted: Vec<(usize, Vec<u8>)>,
}

/// An interface of the mock kernel.
pub struct MockIf {
    pub name: String,
    pub index: u32,
    pub flags: c_int,
    pub refs: i32,
}

/// A pfil hook of the mock kernel.
pub struct MockHook {
    pub handle: usize,
    pub func: PfilMbufChk,
    pub ruleset: usize,
    pub flags: c_int,
    pub rulname: String,
    pub linked: bool,
    pub removed: bool,
}

pub static STATE: Mutex<Option<State>> = Mutex::new(None);

thread_local! {
    static CRITICAL: RefCell<u32> = const { RefCell::new(0) };
    static SPINS: RefCell<u32> = const { RefCell::new(0) };
    static SXS: RefCell<u32> = const { RefCell::new(0) };
    static CDEVPRIV: RefCell<Option<(usize, DPrivDtor)>> = const { RefCell::new(None) };
    static CURVNET: RefCell<usize> = const { RefCell::new(0) };
    static EPOCH: RefCell<u32> = const { RefCell::new(0) };
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
    if flags & crate::kpi::M_EXEC != 0 {
        // No executable heap on the host: compiled programs fall back to
        // the interpreter (tools/kldemu runs the JIT path).
        return std::ptr::null_mut();
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

pub unsafe fn nanotime(ts: *mut Timespec) {
    // SAFETY: valid out pointer.
    unsafe { (*ts).tv_sec = 1_767_225_600 };
}

pub unsafe fn arc4random() -> u32 {
    4
}

thread_local! {
    /// The kernel environment the mocked `getenv_int` reads.
    pub static KENV: RefCell<Vec<(String, c_int)>> = const { RefCell::new(Vec::new()) };
}

pub unsafe fn getenv_int(name: *const c_char, data: *mut c_int) -> c_int {
    // SAFETY: a NUL-terminated name.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    KENV.with(|k| match k.borrow().iter().find(|(n, _)| *n == name) {
        Some(&(_, v)) => {
            // SAFETY: valid out pointer.
            unsafe { *data = v };
            1
        }
        None => 0,
    })
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

pub fn curvnet_get() -> *mut Vnet {
    CURVNET.with(|v| *v.borrow()) as *mut Vnet
}

pub fn curvnet_put(v: *mut Vnet) {
    CURVNET.with(|c| *c.borrow_mut() = v as usize);
}

fn need_vnet(what: &str) {
    if curvnet_get().is_null() {
        violation(format!("{what} without a vnet selected (curvnet is NULL)"));
    }
}

pub static mut net_epoch_preempt: *mut c_void = 0x4e45_7000 as *mut c_void;

pub unsafe fn _epoch_enter_preempt(
    epoch: *mut c_void,
    _et: *mut EpochTracker,
    _file: *const c_char,
    _line: c_int,
) {
    if epoch as usize != 0x4e45_7000 {
        violation("epoch_enter of another epoch".into());
    }
    EPOCH.with(|e| *e.borrow_mut() += 1);
}

pub unsafe fn _epoch_exit_preempt(
    _epoch: *mut c_void,
    _et: *mut EpochTracker,
    _file: *const c_char,
    _line: c_int,
) {
    EPOCH.with(|e| *e.borrow_mut() -= 1);
}

pub unsafe fn epoch_wait_preempt(_epoch: *mut c_void) {
    if atomic_context() || EPOCH.with(|e| *e.borrow()) > 0 {
        violation("epoch_wait inside the epoch or an atomic context".into());
    }
    with(|s| s.epoch_waits += 1);
}

/// Adds an interface to the mock vnet.
pub fn add_ifnet(name: &str, index: u32) -> *mut Ifnet {
    let ifp = Box::leak(Box::new(MockIf {
        name: name.into(),
        index,
        flags: 0,
        refs: 1,
    }));
    let p = ifp as *mut MockIf as *mut Ifnet;
    with(|s| s.ifnets.push(ifp));
    p
}

fn find_ifnet(f: impl Fn(&MockIf) -> bool) -> *mut Ifnet {
    with(|s| {
        for ifp in s.ifnets.iter_mut() {
            if f(ifp) && ifp.flags & crate::kpi::IFF_DYING == 0 {
                ifp.refs += 1;
                return &mut **ifp as *mut MockIf as *mut Ifnet;
            }
        }
        std::ptr::null_mut()
    })
}

pub unsafe fn ifunit_ref(name: *const c_char) -> *mut Ifnet {
    need_vnet("ifunit_ref");
    // SAFETY: a C string from the kld.
    let name = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    find_ifnet(|i| i.name == name)
}

pub unsafe fn ifnet_byindex_ref(index: c_uint) -> *mut Ifnet {
    need_vnet("ifnet_byindex_ref");
    if EPOCH.with(|e| *e.borrow()) == 0 {
        violation("ifnet_byindex_ref outside the network epoch".into());
    }
    find_ifnet(|i| i.index == index)
}

fn mock_if<'a>(ifp: *mut Ifnet) -> &'a mut MockIf {
    // SAFETY: interfaces are leaked boxes made by add_ifnet.
    unsafe { &mut *(ifp as *mut MockIf) }
}

pub unsafe fn if_rele(ifp: *mut Ifnet) {
    let i = mock_if(ifp);
    i.refs -= 1;
    if i.refs < 0 {
        violation(format!("if_rele of {} without a reference", i.name));
    }
}

pub unsafe fn if_getindex(ifp: *mut Ifnet) -> c_int {
    mock_if(ifp).index as c_int
}

pub unsafe fn if_getflags(ifp: *mut Ifnet) -> c_int {
    mock_if(ifp).flags
}

pub unsafe fn if_transmit(ifp: *mut Ifnet, m: *mut Mbuf) -> c_int {
    // SAFETY: a live single mbuf handed over by the kld.
    let data = unsafe { mbuf_bytes(m) };
    with(|s| s.transmitted.push((ifp as usize, data)));
    // SAFETY: if_transmit takes the mbuf.
    unsafe { m_freem(m) };
    0
}

pub unsafe fn pfil_add_hook(args: *mut PfilHookArgs) -> *mut c_void {
    need_vnet("pfil_add_hook");
    if atomic_context() {
        violation("pfil_add_hook (M_WAITOK) in an atomic context".into());
    }
    // SAFETY: valid args from the kld.
    let a = unsafe { &*args };
    if a.pa_version != crate::kpi::PFIL_VERSION || a.pa_type != crate::kpi::PFIL_TYPE_ETHERNET {
        violation("pfil_add_hook: bad version or type".into());
    }
    // SAFETY: C strings from the kld.
    let rulname = unsafe { CStr::from_ptr(a.pa_rulname) }
        .to_string_lossy()
        .into_owned();
    with(|s| {
        let handle = 0x7100_0000 + 0x100 * (s.hooks.len() + 1);
        s.hooks.push(MockHook {
            handle,
            func: a.pa_mbuf_chk.expect("pa_mbuf_chk"),
            ruleset: a.pa_ruleset as usize,
            flags: a.pa_flags,
            rulname,
            linked: false,
            removed: false,
        });
        handle as *mut c_void
    })
}

pub unsafe fn pfil_link(args: *mut PfilLinkArgs) -> c_int {
    need_vnet("pfil_link");
    // SAFETY: valid args from the kld.
    let a = unsafe { &*args };
    // SAFETY: as above.
    let head = unsafe { CStr::from_ptr(a.pa_headname) };
    if head != c"ethernet" || a.pa_flags & crate::kpi::PFIL_HOOKPTR == 0 {
        violation("pfil_link: not the ethernet head by hook pointer".into());
    }
    with(|s| {
        if s.pfil_link_error != 0 {
            return s.pfil_link_error;
        }
        match s.hooks.iter_mut().find(|h| h.handle == a.pa_hook as usize) {
            Some(h) if h.flags & a.pa_flags == h.flags => {
                h.linked = true;
                0
            }
            _ => 22,
        }
    })
}

pub unsafe fn pfil_remove_hook(hook: *mut c_void) {
    need_vnet("pfil_remove_hook");
    with(
        |s| match s.hooks.iter_mut().find(|h| h.handle == hook as usize) {
            Some(h) if !h.removed => {
                h.removed = true;
                h.linked = false;
            }
            _ => s
                .violations
                .push("pfil_remove_hook of an unknown hook".into()),
        },
    );
}

/// A packet header mbuf holding `data`: in an external cluster of
/// `cluster` bytes at offset `at`, or in the mbuf itself when `cluster`
/// is 0.
pub fn make_mbuf(data: &[u8], cluster: usize, at: usize) -> *mut Mbuf {
    // SAFETY: an mbuf is plain data; all zero is a valid (empty) one.
    let m: &mut Mbuf = Box::leak(Box::new(unsafe { std::mem::zeroed() }));
    let flags = crate::kpi::M_PKTHDR | if cluster > 0 { crate::kpi::M_EXT } else { 0 };
    m.m_type_flags = 1 | (flags << 8);
    let buf = if cluster > 0 {
        let b = Box::leak(vec![0u8; cluster].into_boxed_slice());
        m.m_ext.ext_buf = b.as_mut_ptr();
        m.m_ext.ext_size = cluster as u32;
        m.m_ext.ext_cnt = 1;
        m.m_ext.ext_type_flags = 1 | (crate::kpi::EXT_FLAG_EMBREF << 8);
        b.as_mut_ptr()
    } else {
        // SAFETY: m_pktdat inside the mbuf.
        unsafe { (m as *mut Mbuf as *mut u8).add(crate::kpi::M_PKTDAT) }
    };
    // SAFETY: `at + data.len()` fits the buffer (the test's choice).
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf.add(at), data.len());
        m.m_data = buf.add(at);
    }
    m.m_len = data.len() as i32;
    m.m_pkthdr.len = data.len() as i32;
    let p = m as *mut Mbuf;
    with(|s| s.mbufs.push(p as usize));
    p
}

/// The bytes of a chain.
///
/// # Safety
/// `m` is a live chain of mock mbufs.
pub unsafe fn mbuf_bytes(mut m: *mut Mbuf) -> Vec<u8> {
    let mut out = Vec::new();
    while !m.is_null() {
        // SAFETY: per the contract.
        unsafe {
            out.extend_from_slice(std::slice::from_raw_parts((*m).m_data, (*m).m_len as usize));
            m = (*m).m_next;
        }
    }
    out
}

pub unsafe fn m_freem(mut m: *mut Mbuf) {
    while !m.is_null() {
        let live = with(|s| {
            let i = s.mbufs.iter().position(|&x| x == m as usize);
            i.map(|i| s.mbufs.swap_remove(i)).is_some()
        });
        if !live {
            violation(format!("m_freem of {m:p}, not a live mbuf"));
            return;
        }
        // SAFETY: a live mock mbuf (cluster buffers are leaked: test-only).
        m = unsafe { (*m).m_next };
    }
}

/// Copies a chain into clusters of 2048 bytes, as m_defrag does.
pub unsafe fn m_defrag(m: *mut Mbuf, _how: c_int) -> *mut Mbuf {
    // SAFETY: a live chain from the caller.
    let data = unsafe { mbuf_bytes(m) };
    let mut head: *mut Mbuf = std::ptr::null_mut();
    let mut tail: *mut Mbuf = std::ptr::null_mut();
    for chunk in data.chunks(2048) {
        let n = make_mbuf(chunk, 2048, 0);
        if head.is_null() {
            head = n;
        } else {
            // SAFETY: live mock mbufs.
            unsafe {
                (*tail).m_next = n;
                (*n).m_type_flags &= !(crate::kpi::M_PKTHDR << 8);
                (*head).m_pkthdr.len = data.len() as i32;
            }
        }
        tail = n;
    }
    // SAFETY: m_defrag frees the old chain on success.
    unsafe { m_freem(m) };
    head
}
