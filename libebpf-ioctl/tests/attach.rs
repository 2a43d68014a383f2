//! Links on the embedded backend's software ports: the same `LinkCreate`
//! and `LinkDetach` requests and link objects a kernel device serves, with
//! frames passed through the attached program by the process
//! (`UserPlatform::process`). The kernel hooks themselves are exercised in
//! the VM (`make vm-test`) and the kld emulation.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ebpf_core::abi::ObjKind;
use ebpf_core::attach::Verdict;
use ebpf_core::platform::Direction as HookDirection;
use ebpf_core::{asm, insn, Errno};
use libebpf_ioctl::{Direction, Ebpf, Interface, ProgSpec, UserPlatform};

fn platform() -> &'static UserPlatform {
    UserPlatform::get()
}

/// An Ethernet/IPv4/TCP frame to `port`.
fn tcp(port: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 20];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[14 + 9] = 6;
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&port.to_be_bytes());
    f
}

fn ingress(ifindex: u32, port: u16) -> Option<Verdict> {
    platform().process(ifindex, HookDirection::Ingress, &mut tcp(port))
}

fn drops(e: &Ebpf, map: u32, port: u16) -> u64 {
    let mut v = [0u8; 8];
    e.map_lookup(map, &port.to_ne_bytes(), &mut v, 0)
        .map_or(0, |()| u64::from_ne_bytes(v))
}

fn raw_program(e: &Ebpf, prog_type: u32, source: &str) -> Result<u32, libebpf_ioctl::Error> {
    let insns = asm::assemble(source).unwrap();
    let mut code = Vec::new();
    insn::encode_into(&insns, &mut code);
    e.prog_load(&ProgSpec {
        name: "raw",
        prog_type,
        bytecode: &code,
        license: "GPL",
        maps: &[],
        obj_types: &[],
    })
}

fn errno<T: std::fmt::Debug>(r: Result<T, libebpf_ioctl::Error>) -> Errno {
    r.expect_err("the request should fail").errno
}

#[test]
fn the_port_filter_drops_frames_on_its_port_and_counts_them() {
    let e = Ebpf::embedded().unwrap();
    let (_, obj) = common::load_example(&e, "port_filter");
    let prog = obj.program("port_filter").unwrap();
    let map = obj.map("drops").unwrap();
    let port = platform().add_port("pf-in0").unwrap();
    assert_eq!(ingress(port, 80), None, "no program yet");
    let link = e
        .link_create(prog, &Interface::Name("pf-in0"), Direction::Ingress, false)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(ingress(port, 80), Some(Verdict::Drop));
    }
    assert_eq!(ingress(port, 8080), Some(Verdict::Drop));
    assert_eq!(ingress(port, 22), Some(Verdict::Pass));
    assert_eq!(
        platform().process(port, HookDirection::Egress, &mut tcp(80)),
        None,
        "attached to ingress only"
    );
    assert_eq!((drops(&e, map, 80), drops(&e, map, 8080)), (3, 1));
    let info = e.link_info(link).unwrap();
    assert_eq!(info.ifindex, port);
    assert_eq!(info.attached_ifindex, port);
    assert_eq!(info.prog_id, e.prog_info(prog).unwrap().id);
    assert_eq!(
        info.verdicts,
        [0, 4, 1, 0, 0],
        "aborted, drop, pass, tx, redirect"
    );
    assert_eq!(e.ids(ObjKind::Link).unwrap(), vec![info.id]);
    // Closing the only handle detaches.
    e.close(link).unwrap();
    assert_eq!(ingress(port, 80), None);
    assert!(e.ids(ObjKind::Link).unwrap().is_empty());
}

#[test]
fn a_program_rewrites_the_frame_and_sends_it_back() {
    let e = Ebpf::embedded().unwrap();
    let (_, obj) = common::load_example(&e, "mac_swap");
    let prog = obj.programs[0].2;
    let port = platform().add_port("swap0").unwrap();
    let _link = e
        .link_create(prog, &Interface::Index(port), Direction::Ingress, false)
        .unwrap();
    let mut frame = tcp(80);
    let verdict = platform().process(port, HookDirection::Ingress, &mut frame);
    assert_eq!(verdict, Some(Verdict::Tx));
    assert_eq!(
        &frame[0..6],
        &[0x02, 0, 0, 0, 0, 1],
        "destination: the old source"
    );
    assert_eq!(&frame[6..12], &[0x02, 0, 0, 0, 0, 2]);
    assert_eq!(&frame[12..], &tcp(80)[12..]);
}

#[test]
fn bad_attaches_fail_with_linuxs_errnos_and_attach_nothing() {
    let e = Ebpf::embedded().unwrap();
    let (_, obj) = common::load_example(&e, "port_filter");
    let prog = obj.program("port_filter").unwrap();
    let port = platform().add_port("bad0").unwrap();
    let name = Interface::Name("bad0");
    assert_eq!(
        errno(e.link_create(prog, &Interface::Name("nosuch0"), Direction::Ingress, false)),
        Errno::ENODEV
    );
    assert_eq!(
        errno(e.link_create(prog, &Interface::Index(999_999), Direction::Ingress, false)),
        Errno::ENODEV
    );
    assert_eq!(
        errno(e.link_create(
            prog,
            &Interface::Name("a-name-longer-than-15"),
            Direction::Ingress,
            false
        )),
        Errno::EINVAL
    );
    let map = obj.map("drops").unwrap();
    assert_eq!(
        errno(e.link_create(map, &name, Direction::Ingress, false)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(e.link_create(9999, &name, Direction::Ingress, false)),
        Errno::EBADF
    );
    let socket = raw_program(&e, 1, "mov r0, 0\nexit").unwrap();
    assert_eq!(
        errno(e.link_create(socket, &name, Direction::Ingress, false)),
        Errno::EINVAL,
        "only XDP programs"
    );
    let redirect = raw_program(&e, 6, "mov r1, 1\nmov r2, 0\ncall 23\nexit").unwrap();
    let refused = e
        .link_create(redirect, &name, Direction::Ingress, false)
        .unwrap_err();
    assert_eq!(refused.errno, Errno::EOPNOTSUPP);
    assert!(refused.to_string().contains("redirect"), "{refused}");
    // Raw requests: unknown flags, direction, and a name with an index.
    let mut r = ebpf_core::abi::LinkCreateReq {
        prog_handle: prog,
        ifindex: port,
        flags: 2,
        ..Default::default()
    };
    assert_eq!(raw(&e, &mut r), Err(Errno::EINVAL), "unknown flag");
    r.flags = 0;
    r.direction = 2;
    assert_eq!(raw(&e, &mut r), Err(Errno::EINVAL), "unknown direction");
    r.direction = 0;
    r.ifname[0] = b'x';
    assert_eq!(raw(&e, &mut r), Err(Errno::EINVAL), "an index and a name");
    assert!(
        e.ids(ObjKind::Link).unwrap().is_empty(),
        "nothing half-attached"
    );
    assert_eq!(ingress(port, 80), None);
    // One link per port and direction.
    let first = e
        .link_create(prog, &name, Direction::Ingress, false)
        .unwrap();
    assert_eq!(
        errno(e.link_create(prog, &name, Direction::Ingress, false)),
        Errno::EBUSY
    );
    let egress = e
        .link_create(prog, &name, Direction::Egress, false)
        .unwrap();
    assert_eq!(e.ids(ObjKind::Link).unwrap().len(), 2);
    e.close(egress).unwrap();
    e.close(first).unwrap();
}

/// A raw `LinkCreate` on a device of its own.
fn raw(e: &Ebpf, r: &mut ebpf_core::abi::LinkCreateReq) -> Result<(), Errno> {
    let _ = e;
    r.prog_handle = 0;
    let backend = libebpf_ioctl::EmbeddedBackend::new().unwrap();
    libebpf_ioctl::Backend::request(
        &backend,
        ebpf_core::abi::Command::LinkCreate,
        ebpf_core::abi::Plain::as_bytes_mut(r),
    )
}

#[test]
fn replace_hands_the_hook_over_and_detach_takes_it_away() {
    let e = Ebpf::embedded().unwrap();
    let (_, filter) = common::load_example(&e, "port_filter");
    let prog = filter.program("port_filter").unwrap();
    let pass = raw_program(&e, 6, "mov r0, 2\nexit").unwrap();
    let port = platform().add_port("repl0").unwrap();
    let name = Interface::Name("repl0");
    let old = e
        .link_create(prog, &name, Direction::Ingress, false)
        .unwrap();
    assert_eq!(ingress(port, 80), Some(Verdict::Drop));
    let new = e
        .link_create(pass, &name, Direction::Ingress, true)
        .unwrap();
    assert_eq!(ingress(port, 80), Some(Verdict::Pass));
    let old_info = e.link_info(old).unwrap();
    assert_eq!(
        (old_info.ifindex, old_info.attached_ifindex),
        (0, port),
        "the old link is detached"
    );
    assert_eq!(
        old_info.verdicts[Verdict::Drop as usize],
        1,
        "its counts stay"
    );
    assert_eq!(e.link_info(new).unwrap().ifindex, port);
    // A pinned link outlives its handle; LinkDetach detaches it anyway.
    e.pin(new, "repl0-link").unwrap();
    e.close(new).unwrap();
    assert_eq!(
        ingress(port, 80),
        Some(Verdict::Pass),
        "pinned: still attached"
    );
    let (h, kind) = e.get_pinned("repl0-link").unwrap();
    assert_eq!(kind, ObjKind::Link);
    e.link_detach(h).unwrap();
    assert_eq!(ingress(port, 80), None);
    e.link_detach(h).unwrap();
    assert_eq!(e.link_info(h).unwrap().ifindex, 0);
    // The port is free again.
    let again = e
        .link_create(prog, &name, Direction::Ingress, false)
        .unwrap();
    assert_eq!(ingress(port, 80), Some(Verdict::Drop));
    e.unpin("repl0-link").unwrap();
    e.close(h).unwrap();
    e.close(again).unwrap();
    e.close(old).unwrap();
}

#[test]
fn a_port_going_away_leaves_its_link_detached() {
    let e = Ebpf::embedded().unwrap();
    let (_, filter) = common::load_example(&e, "port_filter");
    let prog = filter.program("port_filter").unwrap();
    let port = platform().add_port("gone0").unwrap();
    let link = e
        .link_create(prog, &Interface::Index(port), Direction::Ingress, false)
        .unwrap();
    platform().remove_port(port).unwrap();
    assert_eq!(ingress(port, 80), None);
    assert_eq!(e.link_info(link).unwrap().ifindex, 0);
    // A new port of that name is another interface: free to attach.
    let port2 = platform().add_port("gone0").unwrap();
    let link2 = e
        .link_create(prog, &Interface::Name("gone0"), Direction::Ingress, false)
        .unwrap();
    assert_eq!(ingress(port2, 80), Some(Verdict::Drop));
    e.link_detach(link).unwrap();
    e.close(link).unwrap();
    e.close(link2).unwrap();
}

#[test]
fn closing_the_device_detaches_pinned_links() {
    let port = platform().add_port("close0").unwrap();
    {
        let e = Ebpf::embedded().unwrap();
        let (_, filter) = common::load_example(&e, "port_filter");
        let prog = filter.program("port_filter").unwrap();
        let link = e
            .link_create(prog, &Interface::Index(port), Direction::Ingress, false)
            .unwrap();
        e.pin(link, "kept").unwrap();
        assert_eq!(ingress(port, 80), Some(Verdict::Drop));
    }
    assert_eq!(ingress(port, 80), None, "the device took its links with it");
}

/// Frames from several threads through a link whose program is replaced
/// and whose map user space updates meanwhile: every frame gets the
/// verdict of one of the two programs, and the drop count in the map is
/// exactly the number of frames dropped. Fails if a replace lets a frame
/// through unfiltered, loses or doubles a run, or frees a program a frame
/// is still in (under the test's address checks).
#[test]
fn frames_replaces_and_map_updates_at_once() {
    let e = Arc::new(Ebpf::embedded().unwrap());
    let (_, filter) = common::load_example(&e, "port_filter");
    let prog = filter.program("port_filter").unwrap();
    let map = filter.map("drops").unwrap();
    // The key exists, so that the program's add is the only writer of it.
    e.map_update(map, &80u16.to_ne_bytes(), &0u64.to_ne_bytes(), 0)
        .unwrap();
    let aborter = raw_program(&e, 6, "mov r0, 0\nexit").unwrap();
    let port = platform().add_port("stress0").unwrap();
    let name = Interface::Name("stress0");
    let mut link = e
        .link_create(prog, &name, Direction::Ingress, false)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU64::new(0));
    let aborted = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, dropped, aborted) = (stop.clone(), dropped.clone(), aborted.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match ingress(port, 80) {
                        Some(Verdict::Drop) => dropped.fetch_add(1, Ordering::Relaxed),
                        Some(Verdict::Aborted) => aborted.fetch_add(1, Ordering::Relaxed),
                        other => panic!("a frame got {other:?}"),
                    };
                }
            })
        })
        .collect();
    for i in 0..200u16 {
        let next = if i % 2 == 0 { aborter } else { prog };
        let new = e
            .link_create(next, &name, Direction::Ingress, true)
            .unwrap();
        e.close(link).unwrap();
        link = new;
        // Other keys of the same map, from user space, meanwhile.
        let key = (1000 + i).to_ne_bytes();
        e.map_update(map, &key, &u64::from(i).to_ne_bytes(), 0)
            .unwrap();
        e.map_delete(map, &key).unwrap();
        // Frames run under each program (on a loaded machine the workers
        // could otherwise miss whole stretches of replaces).
        let frames = || dropped.load(Ordering::Relaxed) + aborted.load(Ordering::Relaxed);
        let (seen, since) = (frames(), std::time::Instant::now());
        while frames() < seen + 8 {
            assert!(
                since.elapsed().as_secs() < 30,
                "the workers stopped passing frames"
            );
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let (dropped, aborted) = (
        dropped.load(Ordering::Relaxed),
        aborted.load(Ordering::Relaxed),
    );
    assert!(
        dropped > 0 && aborted > 0,
        "both programs ran: {dropped} {aborted}"
    );
    assert_eq!(
        drops(&e, map, 80),
        dropped,
        "the map counts every dropped frame once"
    );
    let info = e.link_info(link).unwrap();
    assert_eq!(
        (info.verdicts[0], info.verdicts[1]),
        (aborted, dropped),
        "the hook's counts survive replaces"
    );
    e.close(link).unwrap();
}

#[test]
fn programs_for_devmap_and_cpumap_entries_read_egress_ifindex_and_are_neither_attached_nor_test_run(
) {
    let e = Ebpf::embedded().unwrap();
    let load = |attach: u32, prog_type: u32, source: &str| {
        let insns = asm::assemble(source).unwrap();
        let mut code = Vec::new();
        insn::encode_into(&insns, &mut code);
        let spec = ProgSpec {
            name: "entry",
            prog_type,
            bytecode: &code,
            license: "GPL",
            maps: &[],
            obj_types: &[],
        };
        let how = libebpf_ioctl::Admission {
            expected_attach_type: attach,
            ..Default::default()
        };
        e.prog_load_with(&spec, how).map(|(h, _)| h)
    };
    let xdp = ebpf_core::ProgType::Xdp as u32;
    let egress = "ldxw %r0, [%r1+20]\nexit";
    let devmap = load(ebpf_core::abi::ATTACH_XDP_DEVMAP, xdp, egress).unwrap();
    // Only a devmap program may read it, as in Linux.
    let err = load(0, xdp, egress).unwrap_err();
    assert_eq!(err.errno, Errno::EACCES, "{err}");
    assert_eq!(
        load(ebpf_core::abi::ATTACH_XDP_CPUMAP, xdp, egress)
            .unwrap_err()
            .errno,
        Errno::EACCES
    );
    let cpumap = load(ebpf_core::abi::ATTACH_XDP_CPUMAP, xdp, "mov %r0, 2\nexit").unwrap();
    let frame = tcp(80);
    for prog in [devmap, cpumap] {
        assert_eq!(errno(e.prog_test_run(prog, &frame, 1)), Errno::EINVAL);
        let port = platform().add_port("entry0").unwrap();
        let link = e.link_create(prog, &Interface::Index(port), Direction::Ingress, false);
        assert_eq!(errno(link), Errno::EINVAL);
        platform().remove_port(port).unwrap();
    }
    // An interface's XDP program may say so (BPF_XDP); other values and
    // other types' attach points are refused.
    let plain = load(ebpf_core::abi::ATTACH_XDP, xdp, "mov %r0, 2\nexit").unwrap();
    assert_eq!(e.prog_test_run(plain, &frame, 1).unwrap().retval, 2);
    assert_eq!(errno(load(99, xdp, "mov %r0, 2\nexit")), Errno::EINVAL);
    let tc = ebpf_core::ProgType::SchedCls as u32;
    assert_eq!(
        errno(load(
            ebpf_core::abi::ATTACH_XDP_DEVMAP,
            tc,
            "mov %r0, 0\nexit"
        )),
        Errno::EINVAL
    );
}
