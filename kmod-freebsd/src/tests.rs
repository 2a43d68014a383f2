//! The kld's glue on the host, against the mock KPI: module registration,
//! load, open, ioctls that reach the dispatcher (good and bad), close,
//! unload, and the mock's contract checks (leaks, locks, contexts).

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use ebpf_core::abi::{self, Command, IoctlArg, Plain};

use crate::cdev::CDEVSW;
use crate::kpi::{self, Cdevsw};
use crate::mock;
use crate::module::{self, MODULE_DATA};

static SERIAL: Mutex<()> = Mutex::new(());

fn cdevsw() -> &'static Cdevsw {
    // SAFETY: read after the kernel (mock) initialised it; tests are serial.
    unsafe { &*std::ptr::addr_of!(CDEVSW) }
}

/// Registers `v` as user memory and returns its address.
fn user<T: Plain>(v: &mut T) -> u64 {
    let bytes = v.as_bytes_mut();
    let (a, l) = (bytes.as_mut_ptr() as usize, bytes.len());
    mock::with(|s| s.user.push((a, l)));
    a as u64
}

fn user_bytes(v: &mut [u8]) -> u64 {
    mock::with(|s| s.user.push((v.as_mut_ptr() as usize, v.len())));
    v.as_mut_ptr() as u64
}

/// `ioctl(fd, cmd, &arg)` as sys_ioctl would: the IoctlArg copied into
/// kernel memory, the request struct left in user memory.
fn ioctl<T: Plain>(cmd: Command, req: &mut T) -> c_int {
    let arg = IoctlArg {
        request: user(req),
        size: std::mem::size_of::<T>() as u32,
        reserved: 0,
    };
    raw_ioctl(cmd.request() as u64, arg)
}

fn raw_ioctl(cmd: u64, mut arg: IoctlArg) -> c_int {
    let data = arg.as_bytes_mut().as_mut_ptr();
    let f = cdevsw().d_ioctl.expect("d_ioctl");
    // SAFETY: a kernel-side copy of the argument, as d_ioctl receives it.
    unsafe { f(0x1000 as *mut _, cmd as _, data, 0, std::ptr::null_mut()) }
}

fn modevent(what: c_int) -> c_int {
    let h = MODULE_DATA.0.evhand.expect("evhand");
    // SAFETY: as the kernel calls it.
    unsafe { h(std::ptr::null_mut(), what, std::ptr::null_mut()) }
}

fn open() -> c_int {
    let f = cdevsw().d_open.expect("d_open");
    // SAFETY: as devfs calls it.
    unsafe { f(0x1000 as *mut _, 0, 0, std::ptr::null_mut()) }
}

fn last_close() {
    let (p, dtor) = mock::take_cdevpriv().expect("cdevpriv set by d_open");
    // SAFETY: as devfs does at the last close.
    unsafe { dtor(p as *mut c_void) };
}

fn reset() {
    *mock::STATE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

fn assert_clean() {
    assert_eq!(
        mock::depths(),
        (0, 0, 0),
        "critical sections and locks balanced"
    );
    mock::with(|s| {
        assert!(s.violations.is_empty(), "{:#?}", s.violations);
        assert!(s.blocks.is_empty(), "leaked malloc blocks: {:?}", s.blocks);
        assert_eq!((s.mtx_live, s.sx_live), (0, 0), "locks destroyed");
    });
}

#[test]
fn linker_sets_and_sysinit_describe_the_module() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    // SAFETY: reading the statics the kernel would read.
    let sysinit = unsafe { &*std::ptr::addr_of!(module::SYSINIT) };
    assert_eq!(sysinit.subsystem, kpi::SI_SUB_DRIVERS);
    assert_eq!(sysinit.order, kpi::SI_ORDER_MIDDLE);
    assert_eq!(sysinit.udata, &MODULE_DATA as *const _ as *const c_void);
    // SAFETY: the kernel runs the sysinit with its udata.
    unsafe { (sysinit.func.unwrap())(sysinit.udata) };
    mock::with(|s| assert_eq!(s.registered, vec![&MODULE_DATA as *const _ as usize]));
    // SAFETY: a static C string.
    let name = unsafe { std::ffi::CStr::from_ptr(MODULE_DATA.0.name) };
    assert_eq!(name.to_str().unwrap(), "ebpf");
    assert_eq!(cdevsw().d_version, kpi::D_VERSION);
}

#[test]
fn a_session_through_the_cdev() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    assert_eq!(modevent(kpi::MOD_LOAD), 0);
    mock::with(|s| {
        let (sw, mode, uid, gid, name) = s.devices[0].clone();
        assert_eq!(sw, std::ptr::addr_of!(CDEVSW) as usize);
        assert_eq!((mode, uid, gid, name.as_str()), (0o600, 0, 0, "ebpf"));
    });
    assert_ne!(
        cdevsw().d_flags & 0x8000_0000,
        0,
        "the kernel's D_INIT write landed"
    );
    assert_eq!(open(), 0);

    let mut v = abi::VersionReq::default();
    assert_eq!(ioctl(Command::Version, &mut v), 0);
    assert_eq!(v.abi_version, abi::ABI_VERSION);
    assert_eq!(v.possible_cpus, 4, "mp_maxid + 1");
    assert!(std::str::from_utf8(&v.version).unwrap().contains("freebsd"));

    let mut create = abi::MapCreateReq {
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 8,
        ..Default::default()
    };
    assert_eq!(ioctl(Command::MapCreate, &mut create), 0);
    let map = create.handle;
    let (mut key, mut value) = ([7u8, 0, 0, 0], 42u64.to_ne_bytes());
    let mut upd = abi::MapElemReq {
        handle: map,
        key: user_bytes(&mut key),
        value: user_bytes(&mut value),
        ..Default::default()
    };
    assert_eq!(ioctl(Command::MapUpdateElem, &mut upd), 0);
    let mut out = [0u8; 8];
    let mut look = abi::MapElemReq {
        handle: map,
        key: user_bytes(&mut key),
        value: user_bytes(&mut out),
        ..Default::default()
    };
    assert_eq!(ioctl(Command::MapLookupElem, &mut look), 0);
    assert_eq!(u64::from_ne_bytes(out), 42);
    let mut missing = [9u8, 0, 0, 0];
    look.key = user_bytes(&mut missing);
    assert_eq!(ioctl(Command::MapLookupElem, &mut look), 2, "ENOENT");

    // r0 = the map's value for key 7 (a helper call, a map reference).
    let mut insns = code(&[
        "b701000007000000", // mov r1, 7
        "631afcff00000000", // stxw [r10-4], r1
        "bfa2000000000000", // mov r2, r10
        "07020000fcffffff", // add r2, -4
        "1811000000000000", // lddw r1, map (handle patched below)
        "0000000000000000",
        "8500000001000000", // call map_lookup_elem
        "1500010000000000", // jeq r0, 0, +1
        "7900000000000000", // ldxdw r0, [r0]
        "9500000000000000", // exit
    ]);
    insns[36..40].copy_from_slice(&(map as i32).to_le_bytes());
    let prog = load_prog(0, insns, &[map]);
    let mut packet = [0u8; 64];
    let mut packet_out = [0u8; 64];
    let mut run = abi::TestRunReq {
        handle: prog,
        data_size_in: 64,
        data_size_out: 64,
        data_in: user_bytes(&mut packet),
        data_out: user_bytes(&mut packet_out),
        repeat: 3,
        ..Default::default()
    };
    assert_eq!(ioctl(Command::ProgTestRun, &mut run), 0);
    assert_eq!(run.retval, 42, "the program read the map's value");

    // Bad input: unknown command, FreeBSD's errno numbers, bad pointers.
    let arg = IoctlArg {
        request: 0,
        size: 0,
        reserved: 0,
    };
    assert_eq!(raw_ioctl(0xc010_45ff, arg), 25, "ENOTTY");
    assert_eq!(raw_ioctl(1 << 40, arg), 22, "a cmd wider than 32 bits");
    let wild = IoctlArg {
        request: 0xdead_0000,
        size: std::mem::size_of::<abi::VersionReq>() as u32,
        reserved: 0,
    };
    assert_eq!(
        raw_ioctl(Command::Version.request() as u64, wild),
        14,
        "EFAULT"
    );
    let huge = IoctlArg {
        request: 0xdead_0000,
        size: 1 << 20,
        reserved: 0,
    };
    assert_eq!(
        raw_ioctl(Command::MapCreate.request() as u64, huge),
        7,
        "E2BIG"
    );
    let mut bad_key = abi::MapElemReq {
        handle: map,
        key: 0xdead_0000,
        value: user_bytes(&mut out),
        ..Default::default()
    };
    assert_eq!(ioctl(Command::MapLookupElem, &mut bad_key), 14, "EFAULT");
    let mut bad_handle = abi::MapElemReq { handle: 99, ..look };
    assert_eq!(ioctl(Command::MapLookupElem, &mut bad_handle), 9, "EBADF");

    assert_eq!(modevent(kpi::MOD_QUIESCE), 16, "busy while a file is open");
    assert_eq!(modevent(kpi::MOD_UNLOAD), 16);
    last_close();
    assert_eq!(modevent(kpi::MOD_QUIESCE), 0);
    assert_eq!(modevent(kpi::MOD_UNLOAD), 0);
    mock::with(|s| assert_eq!(s.destroyed, 1));
    assert_clean();
}

#[test]
fn opening_needs_privilege() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    assert_eq!(modevent(kpi::MOD_LOAD), 0);
    mock::with(|s| s.deny_priv = true);
    assert_eq!(open(), 1, "EPERM from priv_check");
    assert!(mock::take_cdevpriv().is_none());
    mock::with(|s| s.deny_priv = false);
    assert_eq!(modevent(kpi::MOD_UNLOAD), 0);
    assert_clean();
}

/// Assembles hex-encoded instructions.
fn code(insns: &[&str]) -> Vec<u8> {
    insns
        .iter()
        .flat_map(|h| (0..8).map(move |i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()))
        .collect()
}

/// Loads a program of `prog_type` with `maps` for its `map_idx`
/// references; returns its handle.
fn load_prog(prog_type: u32, mut insns: Vec<u8>, maps: &[u32]) -> u32 {
    let mut license = *b"GPL\0";
    let mut handles: Vec<u8> = maps.iter().flat_map(|m| m.to_ne_bytes()).collect();
    let mut log = [0u8; 512];
    let mut load = abi::ProgLoadReq {
        prog_type,
        insn_cnt: (insns.len() / 8) as u32,
        insns: user_bytes(&mut insns),
        license: user_bytes(&mut license),
        map_handles: if maps.is_empty() {
            0
        } else {
            user_bytes(&mut handles)
        },
        map_count: maps.len() as u32,
        log_level: 1,
        log_size: 512,
        log_buf: user_bytes(&mut log),
        ..Default::default()
    };
    assert_eq!(
        ioctl(Command::ProgLoad, &mut load),
        0,
        "{}",
        String::from_utf8_lossy(&log)
    );
    load.handle
}

/// Loads an XDP program; returns its handle.
fn load_xdp(insns: Vec<u8>) -> u32 {
    load_prog(6, insns, &[])
}

fn link_create(prog: u32, ifindex: u32, name: &str, direction: u32) -> (c_int, abi::LinkCreateReq) {
    let mut req = abi::LinkCreateReq {
        prog_handle: prog,
        ifindex,
        direction,
        ..Default::default()
    };
    req.ifname[..name.len()].copy_from_slice(name.as_bytes());
    (ioctl(Command::LinkCreate, &mut req), req)
}

fn link_info(handle: u32) -> abi::LinkInfo {
    let mut info = abi::LinkInfo::default();
    let mut req = abi::GetInfoReq {
        handle,
        info_len: std::mem::size_of::<abi::LinkInfo>() as u32,
        info: user(&mut info),
    };
    assert_eq!(ioctl(Command::ObjGetInfo, &mut req), 0);
    info
}

/// Calls the kld's pfil hook as `ether_demux` would.
fn run_pfil(hook: usize, m: *mut kpi::Mbuf, ifp: *mut kpi::Ifnet) -> (c_int, *mut kpi::Mbuf) {
    let h = mock::with(|s| {
        let h = &s.hooks[hook];
        assert!(h.linked && !h.removed, "the hook is linked");
        (h.func, h.ruleset)
    });
    let mut mp = m;
    // SAFETY: as pfil(9) calls a hook: the chain, the interface, the
    // ruleset registered with it.
    let r = unsafe {
        (h.0)(
            &mut mp,
            ifp,
            kpi::PFIL_IN,
            h.1 as *mut c_void,
            std::ptr::null_mut(),
        )
    };
    (r, mp)
}

#[test]
fn packet_hooks_on_the_ethernet_pfil_head() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    reset();
    // kldload runs MOD_LOAD inside CURVNET_SET; ioctls have no vnet.
    let vnet = 0x5eed_0000 as *mut kpi::Vnet;
    mock::curvnet_put(vnet);
    assert_eq!(modevent(kpi::MOD_LOAD), 0);
    mock::curvnet_put(std::ptr::null_mut());
    assert_eq!(open(), 0);
    let em0 = mock::add_ifnet("em0", 3);
    let lo0 = mock::add_ifnet("lo0", 1);

    // XDP_DROP when the first byte is 0xaa, else XDP_PASS.
    let filter = load_xdp(code(&[
        "6112000000000000", // r2 = ctx->data
        "6113040000000000", // r3 = ctx->data_end
        "b700000002000000", // r0 = XDP_PASS
        "bf24000000000000", // r4 = r2
        "0704000001000000", // r4 += 1
        "2d34030000000000", // if r4 > r3 goto exit
        "7125000000000000", // r5 = *(u8 *)r2
        "55050100aa000000", // if r5 != 0xaa goto exit
        "b700000001000000", // r0 = XDP_DROP
        "9500000000000000", // exit
    ]));
    let (r, link) = link_create(filter, 0, "em0", abi::LINK_INGRESS);
    assert_eq!((r, link.ifindex_out), (0, 3));
    assert!(mock::curvnet_get().is_null(), "the vnet is restored");
    mock::with(|s| {
        assert_eq!(s.hooks.len(), 1);
        assert_eq!(s.hooks[0].flags, kpi::PFIL_IN);
        assert_eq!(s.hooks[0].rulname, "link1");
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    });

    // In place, in a cluster: dropped (and freed), passed (kept).
    let m = mock::make_mbuf(&[0xaa; 60], 2048, 64);
    assert_eq!(
        run_pfil(0, m, em0),
        (kpi::PFIL_DROPPED, std::ptr::null_mut())
    );
    let m = mock::make_mbuf(&[0x11; 60], 2048, 64);
    assert_eq!(run_pfil(0, m, em0), (kpi::PFIL_PASS, m));
    // SAFETY: the stack owns the passed mbuf again.
    unsafe { kpi::m_freem(m) };
    // In the mbuf itself; on another interface: not ours, untouched.
    let m = mock::make_mbuf(&[0xaa; 60], 0, 8);
    assert_eq!(run_pfil(0, m, lo0), (kpi::PFIL_PASS, m));
    assert_eq!(
        run_pfil(0, m, em0),
        (kpi::PFIL_DROPPED, std::ptr::null_mut())
    );
    // A chain, and a cluster shared with another mbuf: copied first.
    let head = mock::make_mbuf(&[0x11; 30], 2048, 0);
    let tail = mock::make_mbuf(&[0x22; 30], 2048, 0);
    // SAFETY: live mock mbufs chained as the stack would.
    unsafe { (*head).m_next = tail };
    let (r, n) = run_pfil(0, head, em0);
    assert_eq!(r, kpi::PFIL_REALLOCED);
    assert_ne!(n, head);
    // SAFETY: the new chain, owned by the stack again.
    let bytes = unsafe { mock::mbuf_bytes(n) };
    assert_eq!((bytes.len(), bytes[0], bytes[59]), (60, 0x11, 0x22));
    // SAFETY: as above.
    unsafe { kpi::m_freem(n) };
    let shared = mock::make_mbuf(&[0xaa; 60], 2048, 0);
    // SAFETY: a live mock mbuf: its cluster now has two references.
    unsafe { (*shared).m_ext.ext_cnt = 2 };
    assert_eq!(
        run_pfil(0, shared, em0),
        (kpi::PFIL_DROPPED, std::ptr::null_mut())
    );
    mock::with(|s| assert!(s.mbufs.is_empty(), "every mbuf freed: {:?}", s.mbufs));
    let info = link_info(link.link_handle);
    assert_eq!(
        (info.ifindex, info.verdicts[1], info.verdicts[2]),
        (3, 3, 2)
    );

    // Unknown interfaces; a vnet without an Ethernet head: nothing left.
    assert_eq!(
        link_create(filter, 0, "em9", abi::LINK_INGRESS).0,
        19,
        "ENODEV"
    );
    assert_eq!(
        link_create(filter, 42, "", abi::LINK_INGRESS).0,
        19,
        "ENODEV"
    );
    mock::with(|s| s.pfil_link_error = 2);
    assert_eq!(
        link_create(filter, 1, "", abi::LINK_EGRESS).0,
        45,
        "EOPNOTSUPP"
    );
    mock::with(|s| {
        s.pfil_link_error = 0;
        assert!(s.hooks[1].removed && !s.hooks[1].linked);
    });

    // XDP_TX at ingress goes back out of the interface.
    let tx = load_xdp(code(&["b700000003000000", "9500000000000000"]));
    let (r, tx_link) = link_create(tx, 1, "", abi::LINK_INGRESS);
    assert_eq!(r, 0);
    let m = mock::make_mbuf(&[0x33; 42], 2048, 128);
    assert_eq!(
        run_pfil(2, m, lo0),
        (kpi::PFIL_CONSUMED, std::ptr::null_mut())
    );
    mock::with(|s| assert_eq!(s.transmitted, vec![(lo0 as usize, vec![0x33; 42])]));

    // Detach: unlinked, the epoch waited out, the interface released.
    let mut detach = abi::ObjCloseReq {
        handle: link.link_handle,
        reserved: 0,
    };
    assert_eq!(ioctl(Command::LinkDetach, &mut detach), 0);
    mock::with(|s| {
        assert!(s.hooks[0].removed);
        assert!(s.epoch_waits >= 1);
        assert_eq!(s.ifnets[0].refs, 1, "em0 released");
    });
    assert_eq!(link_info(link.link_handle).ifindex, 0);
    // An interface being destroyed: the link shows detached.
    mock::with(|s| s.ifnets[1].flags |= kpi::IFF_DYING);
    assert_eq!(link_info(tx_link.link_handle).ifindex, 0);

    last_close();
    mock::with(|s| {
        assert!(s.hooks.iter().all(|h| h.removed), "every hook removed");
        assert_eq!(s.ifnets[1].refs, 1, "lo0 released");
    });
    assert_eq!(modevent(kpi::MOD_UNLOAD), 0);
    assert_clean();
}

#[test]
fn constant_blinding_follows_the_kernel_environment() {
    use ebpf_core::platform::Platform;
    let p = &crate::platform::PLATFORM;
    let set = |v: Option<c_int>| {
        crate::mock::KENV.with(|k| {
            let mut k = k.borrow_mut();
            k.clear();
            if let Some(v) = v {
                k.push(("kern.ebpf.jit_harden".into(), v));
            }
        })
    };
    set(None);
    assert!(!p.jit_blinding(), "off unless set");
    set(Some(1));
    assert!(p.jit_blinding());
    set(Some(0));
    assert!(!p.jit_blinding());
    set(None);
}
