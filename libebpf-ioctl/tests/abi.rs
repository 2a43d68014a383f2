//! The ABI integration suite: every command through a backend, valid and
//! malformed requests alike. It runs on the embedded backend; with
//! `EBPF_TEST_DEVICE=/dev/ebpf` the same tests run against the kernel
//! module's device.

use ebpf_core::abi::{self, Command, IoctlArg, ObjKind, Plain};
use ebpf_core::{asm, Errno};
mod common;

use common::{backend, client};
use libebpf_ioctl::{Ebpf, MapSpec, ProgSpec};

fn hash_spec(name: &str) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        ..Default::default()
    }
}

/// Whether verified programs run compiled here: by the core's JIT in the
/// embedded backend (unless EBPF_JIT=0), by the kernel's JIT in the Linux
/// module (when net.core.bpf_jit_enable is on).
fn jit_expected(e: &Ebpf) -> bool {
    match e.backend_kind() {
        "embedded" => std::env::var_os("EBPF_JIT").is_none_or(|v| v != "0"),
        _ => std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable")
            .is_ok_and(|v| v.trim() != "0"),
    }
}

fn bytecode(src: &str) -> Vec<u8> {
    asm::assemble(src)
        .unwrap()
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect()
}

/// Loads `src` as a verified program of `prog_type` (panics if refused).
fn load_verified(
    e: &Ebpf,
    name: &str,
    prog_type: ebpf_core::ProgType,
    src: &str,
    maps: &[u32],
) -> u32 {
    let code = bytecode(src);
    e.prog_load(&ProgSpec {
        name,
        prog_type: prog_type as u32,
        bytecode: &code,
        license: "GPL",
        maps,
        obj_types: &[],
    })
    .unwrap_or_else(|err| panic!("{err}"))
}

fn load(e: &Ebpf, name: &str, src: &str, maps: &[u32]) -> u32 {
    let code = bytecode(src);
    e.prog_load(&ProgSpec {
        name,
        prog_type: 0,
        bytecode: &code,
        license: "GPL",
        maps,
        obj_types: &[],
    })
    .unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn version_reports_the_abi() {
    let (abi_version, version) = client().version().unwrap();
    assert_eq!(abi_version, abi::ABI_VERSION);
    assert!(!version.is_empty());
}

#[test]
fn map_elements_round_trip_with_linux_errnos() {
    let e = client();
    let m = e.map_create(&hash_spec("counts")).unwrap();
    let k = 5u32.to_ne_bytes();
    let mut v = [0u8; 8];
    assert_eq!(
        e.map_lookup(m, &k, &mut v, 0).unwrap_err().errno,
        Errno::ENOENT
    );
    e.map_update(m, &k, &42u64.to_ne_bytes(), 1).unwrap();
    assert_eq!(
        e.map_update(m, &k, &1u64.to_ne_bytes(), 1)
            .unwrap_err()
            .errno,
        Errno::EEXIST
    );
    e.map_lookup(m, &k, &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 42);
    let mut next = [0u8; 4];
    assert!(e.map_next_key(m, None, &mut next).unwrap());
    assert_eq!(next, k);
    assert!(
        !e.map_next_key(m, Some(&k), &mut next).unwrap(),
        "no key after the last"
    );
    e.map_lookup_and_delete(m, &k, &mut v).unwrap();
    assert_eq!(e.map_delete(m, &k).unwrap_err().errno, Errno::ENOENT);
    assert_eq!(
        e.map_lookup(99, &k, &mut v, 0).unwrap_err().errno,
        Errno::EBADF,
        "no such handle"
    );
    let err = e.map_update(m, &k, &[], 0).unwrap_err();
    assert_eq!(
        err.errno,
        Errno::EINVAL,
        "a short value never reaches the device"
    );
    assert_eq!(
        err.to_string(),
        "map update: EINVAL (invalid argument): value is 0 bytes, the map's is 8"
    );
    // Through the raw ABI, a null value pointer is EFAULT.
    let b = backend();
    let m2 = {
        let mut r = abi::MapCreateReq {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            ..Default::default()
        };
        b.request(Command::MapCreate, r.as_bytes_mut()).unwrap();
        r.handle
    };
    let mut r = abi::MapElemReq {
        handle: m2,
        key: k.as_ptr() as u64,
        value: 0,
        ..Default::default()
    };
    assert_eq!(
        b.request(Command::MapUpdateElem, r.as_bytes_mut()),
        Err(Errno::EFAULT)
    );
    r.key = 0;
    r.value = v.as_ptr() as u64;
    assert_eq!(
        b.request(Command::MapLookupElem, r.as_bytes_mut()),
        Err(Errno::EINVAL),
        "null key"
    );
}

#[test]
fn map_create_validates() {
    let e = client();
    let bad = |spec: MapSpec| e.map_create(&spec).unwrap_err().errno;
    assert_eq!(
        bad(MapSpec {
            map_type: 4,
            ..hash_spec("x")
        }),
        Errno::EINVAL,
        "unsupported type"
    );
    assert_eq!(
        bad(MapSpec {
            max_entries: 0,
            ..hash_spec("x")
        }),
        Errno::EINVAL
    );
    // Types that hold the Linux kernel's own objects: refused, saying so.
    for (map_type, words) in [
        (19, "cgroup_storage (19) holds the Linux kernel's cgroups"),
        (15, "sockmap (15) holds the Linux kernel's sockets"),
        (29, "task_storage (29) holds the Linux kernel's tasks"),
    ] {
        let err = e
            .map_create(&MapSpec {
                map_type,
                ..hash_spec("x")
            })
            .unwrap_err();
        assert_eq!(err.errno, Errno::EINVAL);
        let text = err.to_string();
        assert!(
            text.contains(words) && text.ends_with("not provided by this runtime"),
            "{text}"
        );
    }
    // A number Linux does not have either: no such claim.
    let unknown = e
        .map_create(&MapSpec {
            map_type: 99,
            ..hash_spec("x")
        })
        .unwrap_err();
    assert_eq!((unknown.errno, unknown.log), (Errno::EINVAL, None));
    assert_eq!(
        bad(MapSpec {
            key_size: 600,
            ..hash_spec("x")
        }),
        Errno::E2BIG
    );
    assert_eq!(
        bad(MapSpec {
            name: "bad name".into(),
            ..hash_spec("x")
        }),
        Errno::EINVAL
    );
    assert_eq!(
        bad(MapSpec {
            inner_map: Some(77),
            map_type: 12,
            value_size: 4,
            ..hash_spec("x")
        }),
        Errno::EBADF
    );
    assert!(e
        .map_create(&MapSpec {
            name: "this_name_is_too_long".into(),
            ..hash_spec("x")
        })
        .is_err());
}

#[test]
fn request_sizes_follow_the_growth_rules() {
    let b = backend();
    // Shorter than known: the missing fields read as zero (max_entries 0).
    let mut short = abi::MapCreateReq {
        map_type: 2,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    };
    assert_eq!(
        b.request(Command::MapCreate, &mut short.as_bytes_mut()[..12]),
        Err(Errno::EINVAL)
    );
    // Longer with a zero tail: accepted.
    let req = abi::MapCreateReq {
        map_type: 2,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    };
    let mut long = req.as_bytes().to_vec();
    long.extend_from_slice(&[0; 40]);
    b.request(Command::MapCreate, &mut long).unwrap();
    let handle = u32::from_ne_bytes(long[48..52].try_into().unwrap());
    assert!(handle > 0, "the reply was written into the known part");
    // Longer with unknown non-zero bytes: E2BIG, as bpf(2).
    let mut tail = req.as_bytes().to_vec();
    tail.extend_from_slice(&[0, 0, 1, 0]);
    assert_eq!(b.request(Command::MapCreate, &mut tail), Err(Errno::E2BIG));
    let mut huge = vec![0u8; 8192];
    assert_eq!(b.request(Command::Version, &mut huge), Err(Errno::E2BIG));
    // map_extra means something to bloom filters only.
    let mut r = abi::MapCreateReq {
        map_extra: 1,
        ..req
    };
    assert_eq!(
        b.request(Command::MapCreate, r.as_bytes_mut()),
        Err(Errno::EINVAL)
    );
}

#[test]
fn the_dispatcher_refuses_unknown_requests_and_bad_arguments() {
    use ebpf_core::dispatch::{Device, Limits};
    let dev = Device::new(libebpf_ioctl::UserPlatform::get(), Limits::default(), "t").unwrap();
    let file = dev
        .open(ebpf_core::dispatch::Privileges::default())
        .unwrap();
    let mut v = abi::VersionReq::default();
    let arg = IoctlArg {
        request: v.as_bytes_mut().as_mut_ptr() as u64,
        size: 48,
        reserved: 0,
    };
    let a = &arg as *const IoctlArg as u64;
    assert_eq!(
        dev.ioctl(&file, 0xc010_4500 | abi::Command::ALL.len() as u32, a),
        Err(Errno::ENOTTY),
        "unknown command"
    );
    assert_eq!(
        dev.ioctl(&file, 0x8010_4500, a),
        Err(Errno::ENOTTY),
        "wrong direction"
    );
    assert_eq!(
        dev.ioctl(&file, Command::Version.request() ^ 0x10000, a),
        Err(Errno::ENOTTY)
    );
    assert_eq!(
        dev.ioctl(&file, Command::Version.request(), 0),
        Err(Errno::EFAULT),
        "null argument"
    );
    let bad = IoctlArg { reserved: 7, ..arg };
    assert_eq!(
        dev.ioctl(&file, Command::Version.request(), &bad as *const _ as u64),
        Err(Errno::EINVAL)
    );
    // A request that would run past the end of the address space.
    let wraps = IoctlArg {
        request: u64::MAX - 8,
        size: 100,
        reserved: 0,
    };
    assert_eq!(
        dev.ioctl(&file, Command::Version.request(), &wraps as *const _ as u64),
        Err(Errno::EFAULT)
    );
    dev.ioctl(&file, Command::Version.request(), a).unwrap();
    assert_eq!(v.abi_version, abi::ABI_VERSION);
    dev.close(file);
}

#[test]
fn user_addresses_that_wrap_are_efault_not_a_crash() {
    // Kernels build with overflow checks: address arithmetic on a user's
    // pointer must not overflow, whatever the pointer.
    let b = backend();
    let mut create = abi::MapCreateReq {
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        ..Default::default()
    };
    b.request(Command::MapCreate, create.as_bytes_mut())
        .unwrap();
    let top = u64::MAX;
    for cmd in [Command::MapUpdateBatch, Command::MapDeleteBatch] {
        let mut r = abi::MapBatchReq {
            handle: create.handle,
            count: 3,
            keys: top,
            values: top,
            ..Default::default()
        };
        assert_eq!(
            b.request(cmd, r.as_bytes_mut()),
            Err(Errno::EFAULT),
            "{cmd:?}"
        );
        assert_eq!(r.count, 0);
    }
    let mut load = abi::ProgLoadReq {
        insn_cnt: 1,
        insns: top,
        license: top,
        ..Default::default()
    };
    assert_eq!(
        b.request(Command::ProgLoad, load.as_bytes_mut()),
        Err(Errno::EFAULT)
    );
}

#[test]
fn programs_load_run_and_report_errors_with_the_log() {
    let e = client();
    let m = e
        .map_create(&MapSpec {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            name: "hits".into(),
            ..Default::default()
        })
        .unwrap();
    // Adds the first packet byte to map[0] and returns the packet length;
    // the map is referenced by index into `maps`.
    let src = "
        mov %r6, %r2
        ldxb %r7, [%r1]
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx(0)
        call 1
        jeq %r0, 0, +1
        lock add [%r0], %r7
        mov %r0, %r6
        exit";
    let p = load(&e, "count", src, &[m]);
    let run = e.prog_test_run(p, &[3, 1, 2], 5).unwrap();
    assert_eq!(run.retval, 3);
    assert_eq!(run.data_out, [3, 1, 2]);
    let mut v = [0u8; 8];
    e.map_lookup(m, &0u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 15, "five runs");
    let info = e.prog_info(p).unwrap();
    assert_eq!(info.insn_cnt, 12);
    assert_eq!(info.map_count, 1);
    assert_eq!(&info.name[..6], b"count\0");

    // A program writing its packet: data_out shows it.
    let w = load(&e, "write", "stb [%r1+1], 9\n mov %r0, 0\n exit", &[]);
    assert_eq!(e.prog_test_run(w, &[0, 0], 1).unwrap().data_out, [0, 9]);
    // An out-of-bounds access fails the run.
    let oob = load(&e, "oob", "ldxb %r0, [%r1+100]\n exit", &[]);
    assert_eq!(
        e.prog_test_run(oob, &[0; 4], 1).unwrap_err().errno,
        Errno::EFAULT
    );

    // Load errors: EINVAL with the loader's message.
    let code = bytecode("call 9999\n exit");
    let err = e
        .prog_load(&ProgSpec {
            name: "bad",
            prog_type: 0,
            bytecode: &code,
            license: "GPL",
            maps: &[],
            obj_types: &[],
        })
        .unwrap_err();
    assert_eq!(err.errno, Errno::EINVAL);
    assert!(err.to_string().contains("unknown helper id 9999"), "{err}");
    let code = bytecode("lddw %r1, map_fd(77)\n mov %r0, 0\n exit");
    let err = e
        .prog_load(&ProgSpec {
            name: "bad",
            prog_type: 0,
            bytecode: &code,
            license: "GPL",
            maps: &[],
            obj_types: &[],
        })
        .unwrap_err();
    assert!(err.to_string().contains("map reference 77"), "{err}");
    let err = e
        .prog_load(&ProgSpec {
            name: "bad",
            prog_type: 99,
            bytecode: &bytecode("exit"),
            license: "GPL",
            maps: &[],
            obj_types: &[],
        })
        .unwrap_err();
    assert_eq!(err.errno, Errno::EINVAL, "unknown program type");
    let err = e
        .prog_load(&ProgSpec {
            name: "bad",
            prog_type: 0,
            bytecode: &[],
            license: "GPL",
            maps: &[],
            obj_types: &[],
        })
        .unwrap_err();
    assert_eq!(err.errno, Errno::EINVAL, "empty program");
    // Map references by handle (map_fd), as libbpf-style loaders emit.
    let by_fd = load(
        &e,
        "byfd",
        &format!("lddw %r1, map_fd({m})\n mov %r0, 1\n exit"),
        &[],
    );
    assert_eq!(e.prog_info(by_fd).unwrap().map_count, 1);
}

#[test]
fn pins_outlive_handles_and_close_releases() {
    let e = client();
    let m = e.map_create(&hash_spec("pinned")).unwrap();
    e.map_update(m, &1u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0)
        .unwrap();
    e.pin(m, "my.map").unwrap();
    assert_eq!(e.pin(m, "my.map").unwrap_err().errno, Errno::EEXIST);
    for bad in ["bad name", "/abs", "dir/", "a//b", "", "ünï"] {
        assert_eq!(e.pin(m, bad).unwrap_err().errno, Errno::EINVAL, "{bad:?}");
    }
    e.pin(m, "app/maps/my.map").unwrap();
    e.unpin("app/maps/my.map").unwrap();
    e.close(m).unwrap();
    assert_eq!(e.close(m).unwrap_err().errno, Errno::EBADF, "closed twice");
    let (h, kind) = e.get_pinned("my.map").unwrap();
    assert_eq!(kind, ObjKind::Map);
    let mut v = [0u8; 8];
    e.map_lookup(h, &1u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 7, "the pinned map kept its contents");
    // Other tests may share the device (the kernel's is global): look
    // only for this map's id.
    let id = e.map_info(h).unwrap().id;
    assert!(e.ids(ObjKind::Map).unwrap().contains(&id));
    e.close(h).unwrap();
    assert!(e.ids(ObjKind::Map).unwrap().contains(&id), "still pinned");
    e.unpin("my.map").unwrap();
    assert!(
        !e.ids(ObjKind::Map).unwrap().contains(&id),
        "unpinned and unused: gone"
    );
    assert_eq!(e.get_pinned("my.map").unwrap_err().errno, Errno::ENOENT);
}

#[test]
fn ids_list_objects_and_give_handles() {
    let e = client();
    let a = e.map_create(&hash_spec("a")).unwrap();
    let b = e.map_create(&hash_spec("b")).unwrap();
    // Other tests may share the device: look only for these two, which
    // are listed in id order.
    let (id_a, id_b) = (e.map_info(a).unwrap().id, e.map_info(b).unwrap().id);
    let ids = e.ids(ObjKind::Map).unwrap();
    let pos = |id| ids.iter().position(|&x| x == id).expect("listed");
    assert!(pos(id_a) < pos(id_b), "ascending ids: {ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending: {ids:?}");
    let h = e.handle_by_id(ObjKind::Map, id_b).unwrap();
    assert_eq!(&e.map_info(h).unwrap().name[..2], b"b\0");
    assert_eq!(
        e.handle_by_id(ObjKind::Prog, id_b).unwrap_err().errno,
        Errno::ENOENT
    );
}

#[test]
fn object_maps_take_handles_as_values() {
    let e = client();
    let jumps = e
        .map_create(&MapSpec {
            map_type: 3,
            key_size: 4,
            value_size: 4,
            max_entries: 2,
            name: "jumps".into(),
            ..Default::default()
        })
        .unwrap();
    let target = load(&e, "target", "mov %r0, 77\n exit", &[]);
    e.map_update(jumps, &0u32.to_ne_bytes(), &target.to_ne_bytes(), 0)
        .unwrap();
    let mut id = [0u8; 4];
    e.map_lookup(jumps, &0u32.to_ne_bytes(), &mut id, 0)
        .unwrap();
    assert_eq!(
        u32::from_ne_bytes(id),
        e.prog_info(target).unwrap().id,
        "lookups give the id"
    );
    let caller = load(
        &e,
        "caller",
        "lddw %r2, map_idx(0)\n mov %r3, 0\n call 12\n mov %r0, 1\n exit",
        &[jumps],
    );
    assert_eq!(e.prog_test_run(caller, &[0; 4], 1).unwrap().retval, 77);
    assert_eq!(
        e.map_update(jumps, &0u32.to_ne_bytes(), &999u32.to_ne_bytes(), 0)
            .unwrap_err()
            .errno,
        Errno::EBADF
    );
}

#[test]
fn ring_buffers_are_consumed_through_the_device() {
    let e = client();
    let rb = e
        .map_create(&MapSpec {
            map_type: 27,
            max_entries: 4096,
            name: "events".into(),
            ..Default::default()
        })
        .unwrap();
    let p = load(
        &e,
        "emit",
        "
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -8
        stdw [%r10-8], 0x4142
        mov %r3, 8
        mov %r4, 0
        call 130
        exit",
        &[rb],
    );
    for _ in 0..3 {
        assert_eq!(e.prog_test_run(p, &[0; 4], 1).unwrap().retval, 0);
    }
    let recs = e.ringbuf_consume(rb).unwrap();
    assert_eq!(recs, vec![0x4142u64.to_ne_bytes().to_vec(); 3]);
    assert!(e.ringbuf_consume(rb).unwrap().is_empty());
}

#[test]
fn xdp_programs_are_verified_at_load_and_checked_admission_is_asked_for() {
    let e = client();
    let xdp = |code: &[u8], how: libebpf_ioctl::Admission| {
        e.prog_load_with(
            &ProgSpec {
                name: "x",
                prog_type: ebpf_core::ProgType::Xdp as u32,
                bytecode: code,
                license: "GPL",
                maps: &[],
                obj_types: &[],
            },
            how,
        )
    };
    // Reads the packet without comparing with data_end: unsafe.
    let unsafe_code = bytecode("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit");
    let err = xdp(&unsafe_code, Default::default()).unwrap_err();
    assert_eq!(err.errno, Errno::EACCES);
    let log = err.log.unwrap_or_default();
    assert!(
        log.contains("invalid access to packet, off=0 size=1"),
        "{log}"
    );
    // Admitted as a checked program, it runs with run-time checks.
    let checked = libebpf_ioctl::Admission {
        checked: true,
        log_level: 1,
        ..Default::default()
    };
    let (h, _) = xdp(&unsafe_code, checked).unwrap();
    let info = e.prog_info(h).unwrap();
    assert_eq!(info.flags & abi::PROG_INFO_VERIFIED, 0);
    // ... in the interpreter: compiled code would have no checks.
    assert_eq!((info.flags & abi::PROG_INFO_JITED, info.jited_len), (0, 0));
    assert!(
        e.prog_test_run(h, &[], 1).is_err(),
        "the empty packet's byte 0 is out of bounds"
    );
    // A safe program is verified and says so, with the verifier's numbers.
    let safe = bytecode(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\nmov %r0, 1\njgt %r4, %r3, out\nldxb %r0, [%r2+0]\nout: exit",
    );
    let (h, log) = xdp(&safe, Default::default()).unwrap();
    assert!(
        log.contains("processed ") && log.contains(" insns"),
        "{log}"
    );
    let info = e.prog_info(h).unwrap();
    assert_eq!(
        info.flags & abi::PROG_INFO_VERIFIED,
        abi::PROG_INFO_VERIFIED
    );
    if jit_expected(&e) {
        assert_eq!(info.flags & abi::PROG_INFO_JITED, abi::PROG_INFO_JITED);
        assert!(info.jited_len > 8, "{}", info.jited_len);
    }
    assert_eq!(e.prog_test_run(h, &[7], 1).unwrap().retval, 7);
    assert_eq!(e.prog_test_run(h, &[], 1).unwrap().retval, 1);
}

#[test]
fn socket_filter_and_tc_programs_see_a_linux_sk_buff_and_are_verified() {
    let e = client();
    let load = |prog_type: ebpf_core::ProgType, src: &str| {
        let code = bytecode(src);
        e.prog_load_with(
            &ProgSpec {
                name: "skb",
                prog_type: prog_type as u32,
                bytecode: &code,
                license: "GPL",
                maps: &[],
                obj_types: &[],
            },
            Default::default(),
        )
        .map(|(h, _)| h)
    };
    // An IPv4 TCP frame of 60 bytes (EtherType at 12, protocol at 14 + 9).
    let mut frame = [0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14 + 9] = 6;
    let run = |h: u32| e.prog_test_run(h, &frame, 1).unwrap().retval;
    let verified = |h: u32| e.prog_info(h).unwrap().flags & abi::PROG_INFO_VERIFIED != 0;
    use ebpf_core::ProgType::{SchedCls, SocketFilter};
    // tc: direct packet access through data/data_end, from the link header.
    let tc = load(
        SchedCls,
        "ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 0\njgt %r4, %r3, out\nldxh %r0, [%r2+12]\nout: exit",
    )
    .unwrap();
    assert!(verified(tc));
    assert_eq!(
        run(tc),
        u16::from_ne_bytes([0x08, 0x00]) as u32,
        "the EtherType as loaded"
    );
    // Socket filters: the frame from the network header on, as Linux.
    let len = load(SocketFilter, "ldxw %r0, [%r1+0]\nexit").unwrap();
    assert!(verified(len));
    assert_eq!(run(len), 46, "skb->len: without the Ethernet header");
    let proto = load(SocketFilter, "ldxw %r0, [%r1+16]\nexit").unwrap();
    assert_eq!(
        run(proto),
        u16::from_ne_bytes([0x08, 0x00]) as u32,
        "skb->protocol"
    );
    let narrow = load(SocketFilter, "ldxb %r0, [%r1+0]\nexit").unwrap();
    assert_eq!(run(narrow), 46, "narrow loads read the low byte");
    let ld_abs = load(SocketFilter, "mov %r6, %r1\nldabsb 9\nexit").unwrap();
    assert!(verified(ld_abs));
    assert_eq!(run(ld_abs), 6, "LD_ABS offsets start at the network header");
    // Compiled too, by either JIT (the kernel's calls the module for it).
    let jited = e.prog_info(ld_abs).unwrap().flags & abi::PROG_INFO_JITED != 0;
    assert_eq!(jited, jit_expected(&e), "LD_ABS compiled");
    let cb = load(
        SocketFilter,
        "mov %r2, 7\nstxw [%r1+48], %r2\nldxw %r0, [%r1+48]\nexit",
    )
    .unwrap();
    assert_eq!(run(cb), 7, "cb[] is the program's");
    // What each type may not touch.
    let err = load(SocketFilter, "mov %r0, 1\nstxw [%r1+8], %r0\nexit").unwrap_err();
    assert_eq!(err.errno, Errno::EACCES);
    assert!(err
        .log
        .unwrap_or_default()
        .contains("invalid bpf_context access off=8 size=4"));
    let err = load(SocketFilter, "ldxw %r0, [%r1+76]\nexit").unwrap_err();
    assert!(err
        .log
        .unwrap_or_default()
        .contains("invalid bpf_context access off=76 size=4"));
    let err = load(SocketFilter, "ldabsb 9\nexit").unwrap_err();
    assert!(err.log.unwrap_or_default().contains("R6 !read_ok"));
    assert!(
        load(SchedCls, "mov %r0, 1\nstxw [%r1+8], %r0\nexit").is_ok(),
        "tc may set the mark"
    );
}

#[test]
fn a_checked_program_cannot_rewrite_the_packet_pointers_of_its_context() {
    let e = client();
    // The context pointer laundered through arithmetic, then a write over
    // the native `data` pointer (after the 192 bytes of __sk_buff): only a
    // checked program gets this far, and its run stops there.
    let code =
        bytecode("mov %r2, %r1\nadd %r2, 0\nmov %r3, 4096\nstxdw [%r2+192], %r3\nmov %r0, 1\nexit");
    let spec = ProgSpec {
        name: "forge",
        prog_type: ebpf_core::ProgType::SchedCls as u32,
        bytecode: &code,
        license: "GPL",
        maps: &[],
        obj_types: &[],
    };
    let err = e.prog_load_with(&spec, Default::default()).unwrap_err();
    assert_eq!(err.errno, Errno::EACCES, "the verifier refuses it");
    let checked = libebpf_ioctl::Admission {
        checked: true,
        log_level: 1,
        ..Default::default()
    };
    let (h, _) = e.prog_load_with(&spec, checked).unwrap();
    let err = e.prog_test_run(h, &[0u8; 60], 1).unwrap_err();
    assert_eq!(
        err.errno,
        Errno::EFAULT,
        "the write is outside what it may write"
    );
}

#[test]
fn only_a_file_whose_opener_may_see_addresses_loads_programs_that_expose_them() {
    use ebpf_core::dispatch::{Limits, Privileges};
    // Returns the address of its stack: an address reaches userspace.
    let code = bytecode("mov %r0, %r10\nexit");
    let spec = ProgSpec {
        name: "leak",
        prog_type: ebpf_core::ProgType::Xdp as u32,
        bytecode: &code,
        license: "GPL",
        maps: &[],
        obj_types: &[],
    };
    let how = libebpf_ioctl::Admission {
        checked: false,
        log_level: 1,
        ..Default::default()
    };
    let plain =
        libebpf_ioctl::EmbeddedBackend::with_privileges(Limits::default(), Privileges::default())
            .unwrap();
    let err = Ebpf::with_backend(Box::new(plain))
        .prog_load_with(&spec, how)
        .unwrap_err();
    assert_eq!(err.errno, Errno::EACCES);
    let log = err.log.unwrap_or_default();
    assert!(log.contains("R0 leaks addr as return value"), "{log}");
    // The embedded backend's own file may: the addresses are its own.
    let (h, _) = client().prog_load_with(&spec, how).unwrap();
    let _ = h;
}

#[test]
fn redirect_maps_hold_devices_cpus_and_sockets_for_bpf_redirect_map() {
    let e = client();
    let spec = |t: u32, value_size: u32| MapSpec {
        name: "redirect".into(),
        map_type: t,
        key_size: 4,
        value_size,
        max_entries: 8,
        ..Default::default()
    };
    let (devmap, devmap_hash, cpumap, xskmap) = (14, 25, 16, 17);
    let dm = e.map_create(&spec(devmap, 4)).unwrap();
    let key = |k: u32| k.to_ne_bytes();
    e.map_update(dm, &key(0), &1u32.to_ne_bytes(), 0).unwrap();
    let errno = |r: libebpf_ioctl::Result<()>| r.unwrap_err().errno;
    assert_eq!(
        errno(e.map_update(dm, &key(8), &1u32.to_ne_bytes(), 0)),
        Errno::E2BIG
    );
    assert_eq!(
        errno(e.map_update(dm, &key(1), &1u32.to_ne_bytes(), 1)),
        Errno::EEXIST,
        "BPF_NOEXIST"
    );
    // Device 0 empties a slot.
    e.map_update(dm, &key(2), &1u32.to_ne_bytes(), 0).unwrap();
    e.map_update(dm, &key(2), &0u32.to_ne_bytes(), 0).unwrap();
    let mut v = [0u8; 4];
    assert_eq!(errno(e.map_lookup(dm, &key(2), &mut v, 0)), Errno::ENOENT);
    let dmh = e.map_create(&spec(devmap_hash, 8)).unwrap();
    assert_eq!(
        errno(e.map_update(dmh, &key(77), &[0; 8], 0)),
        Errno::EINVAL,
        "no device"
    );
    let mut with_prog = [0u8; 8];
    with_prog[..4].copy_from_slice(&1u32.to_ne_bytes());
    with_prog[4..].copy_from_slice(&5i32.to_ne_bytes());
    assert_eq!(
        errno(e.map_update(dmh, &key(77), &with_prog, 0)),
        Errno::EOPNOTSUPP,
        "programs in entries"
    );
    let cm = e.map_create(&spec(cpumap, 4)).unwrap();
    assert_eq!(
        errno(e.map_update(cm, &key(0), &20000u32.to_ne_bytes(), 0)),
        Errno::EOVERFLOW
    );
    let xm = e.map_create(&spec(xskmap, 4)).unwrap();
    assert_eq!(
        errno(e.map_update(xm, &key(0), &3u32.to_ne_bytes(), 0)),
        Errno::EOPNOTSUPP,
        "no AF_XDP"
    );
    // XDP_REDIRECT where there is an entry, else the action in the flags.
    let redirect = |k: u32, flags: u32| {
        let code = bytecode(&format!(
            "lddw %r1, map_idx(0)\nmov %r2, {k}\nmov %r3, {flags}\ncall 51\nexit"
        ));
        let spec = ProgSpec {
            name: "redir",
            prog_type: ebpf_core::ProgType::Xdp as u32,
            bytecode: &code,
            license: "GPL",
            maps: &[dm],
            obj_types: &[],
        };
        let h = e.prog_load(&spec).unwrap();
        e.prog_test_run(h, &[0; 14], 1).unwrap().retval
    };
    assert_eq!(redirect(0, 2), 4, "XDP_REDIRECT");
    assert_eq!(redirect(3, 2), 2, "XDP_PASS from the flags");
    assert_eq!(redirect(3, 0x40), 0, "XDP_ABORTED for unknown flags");
    assert_eq!(redirect(3, 8 | 1), 4, "BPF_F_BROADCAST");
    // Programs read a device slot, never write it.
    let write = bytecode(
        "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n\
         jeq %r0, 0, +1\nstw [%r0+0], 9\nmov %r0, 2\nexit",
    );
    let err = e
        .prog_load_with(
            &ProgSpec {
                name: "w",
                prog_type: ebpf_core::ProgType::Xdp as u32,
                bytecode: &write,
                license: "GPL",
                maps: &[dm],
                obj_types: &[],
            },
            libebpf_ioctl::Admission {
                checked: false,
                log_level: 1,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err
        .log
        .unwrap_or_default()
        .contains("write into map forbidden"));
}

#[test]
fn repeated_test_runs_carry_state_as_linuxs_do() {
    // Grows the packet 64 bytes to the front, returns the first 8 bytes
    // there (headroom: zero at first) and leaves 0xdead in them, then
    // shrinks it back. Linux repeats a test on the same buffer: the second
    // run reads 0xdead (checked against the host's bpf(2): 0, 0xdead,
    // 0xdead), and the packet itself comes back unchanged.
    let e = client();
    let h = load_verified(
        &e,
        "head",
        ebpf_core::ProgType::Xdp,
        "mov %r6, %r1\nmov %r2, -64\ncall 44\nmov %r0, 7\nldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\n\
         mov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, out\nldxdw %r7, [%r2+0]\nstdw [%r2+0], 0xdead\n\
         mov %r1, %r6\nmov %r2, 64\ncall 44\nmov %r0, %r7\nout: exit",
        &[],
    );
    let frame = [0x11u8; 60];
    for (repeat, retval) in [(1, 0), (2, 0xdead), (100, 0xdead), (1, 0)] {
        let r = e.prog_test_run(h, &frame, repeat).unwrap();
        assert_eq!(r.retval, retval, "repeat {repeat}");
        assert_eq!(r.data_out, frame, "repeat {repeat}");
    }
}

#[test]
fn callbacks_and_local_calls_run_compiled() {
    // bpf_loop calls back into the program (compiled code entered again
    // from a helper, the run still current), and the callback makes a
    // local call: both JITs, or the interpreter where none runs.
    let e = client();
    let code = bytecode(
        "stdw [%r10-8], 0\nmov %r1, 5\nlddw %r2, func(cb)\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\n\
         call 181\nldxdw %r2, [%r10-8]\nlsh %r0, 8\nor %r0, %r2\nexit\n\
         cb:\nmov %r6, %r2\nmov %r1, %r1\ncall twice\nldxdw %r3, [%r6+0]\nadd %r3, %r0\nstxdw [%r6+0], %r3\n\
         mov %r0, 0\nexit\n\
         twice:\nmov %r0, %r1\nadd %r0, %r1\nexit",
    );
    let (h, log) = e
        .prog_load_with(
            &ProgSpec {
                name: "loop",
                prog_type: ebpf_core::ProgType::SocketFilter as u32,
                bytecode: &code,
                license: "GPL",
                maps: &[],
                obj_types: &[],
            },
            libebpf_ioctl::Admission {
                checked: false,
                log_level: 1,
                ..Default::default()
            },
        )
        .unwrap_or_else(|err| panic!("{err}: {:?}", err.log));
    let info = e.prog_info(h).unwrap();
    assert_eq!(
        info.flags & abi::PROG_INFO_VERIFIED,
        abi::PROG_INFO_VERIFIED,
        "{log}"
    );
    assert_eq!(info.flags & abi::PROG_INFO_JITED != 0, jit_expected(&e));
    // 5 iterations; the sum of 2 * index over 0..5 is 20.
    let r = e.prog_test_run(h, &[0u8; 60], 3).unwrap();
    assert_eq!(r.retval, (5 << 8) | 20);
}

#[test]
fn array_lookups_compiled_in_line_find_each_element() {
    // An XDP program looks up the index in the packet's first 4 bytes in
    // an array of 12-byte values (16 bytes apart) and writes the next 4
    // bytes at offset 8 of the value: XDP_PASS when found, XDP_DROP past
    // the end. Compiled, the lookup is computed in line (base + index *
    // stride); the map as user space reads it says whether each write
    // landed in its own element.
    let e = client();
    let m = e
        .map_create(&MapSpec {
            map_type: 2,
            key_size: 4,
            value_size: 12,
            max_entries: 3,
            name: "arr12".into(),
            ..Default::default()
        })
        .unwrap();
    let p = load_verified(
        &e,
        "arr",
        ebpf_core::ProgType::Xdp,
        "mov %r6, %r1\nldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\nmov %r4, %r2\nadd %r4, 8\n\
         jgt %r4, %r3, miss\nldxw %r7, [%r2+0]\nldxw %r8, [%r2+4]\nstxw [%r10-4], %r7\n\
         mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\njeq %r0, 0, miss\n\
         stxw [%r0+8], %r8\nmov %r0, 2\nexit\nmiss: mov %r0, 1\nexit",
        &[m],
    );
    let info = e.prog_info(p).unwrap();
    assert_eq!(
        info.flags & abi::PROG_INFO_JITED != 0,
        jit_expected(&e),
        "compiled where a JIT runs"
    );
    let frame = |index: u32, value: u32| {
        let mut f = index.to_ne_bytes().to_vec();
        f.extend_from_slice(&value.to_ne_bytes());
        f.resize(64, 0);
        f
    };
    for (index, value, verdict) in [
        (0, 0x11, 2),
        (1, 0x22, 2),
        (2, 0x33, 2),
        (3, 0x44, 1),
        (u32::MAX, 0x55, 1),
        (1 << 31, 0x66, 1),
    ] {
        let r = e.prog_test_run(p, &frame(index, value), 1).unwrap();
        assert_eq!(r.retval, verdict, "index {index:#x}");
    }
    for (index, value) in [(0u32, 0x11u32), (1, 0x22), (2, 0x33)] {
        let mut v = [0u8; 12];
        e.map_lookup(m, &index.to_ne_bytes(), &mut v, 0).unwrap();
        let mut want = [0u8; 12];
        want[8..].copy_from_slice(&value.to_ne_bytes());
        assert_eq!(v, want, "element {index}");
    }
}

/// Loads `src` as a tc program with `license`; the handle or the error.
fn load_tc(e: &Ebpf, src: &str, license: &str) -> Result<u32, libebpf_ioctl::Error> {
    load_as(e, ebpf_core::ProgType::SchedCls, src, license)
}

/// Loads `src` as a program of type `t` with `license`.
fn load_as(
    e: &Ebpf,
    t: ebpf_core::ProgType,
    src: &str,
    license: &str,
) -> Result<u32, libebpf_ioctl::Error> {
    let code = bytecode(src);
    e.prog_load(&ProgSpec {
        name: "kfunc",
        prog_type: t as u32,
        bytecode: &code,
        license,
        maps: &[],
        obj_types: &[],
    })
}

#[test]
fn bpf_throw_ends_the_program_with_its_cookie_from_any_function() {
    // main -> a -> b; b throws when its argument is 4 (it is), after a
    // wrote its own stack: every frame is left, the cookie is the result.
    let e = client();
    let src = "mov %r1, 3\ncall a\nmov %r0, 1\nexit\n\
               a:\nstdw [%r10-8], 5\nadd %r1, 1\ncall b\nmov %r0, 2\nexit\n\
               b:\njeq %r1, 4, +2\nmov %r0, 3\nexit\n\
               lddw %r1, 0x1234567800000042\ncall runtime 1\nmov %r0, 4\nexit";
    let h = load_tc(&e, src, "GPL").unwrap_or_else(|err| panic!("{err}"));
    let info = e.prog_info(h).unwrap();
    assert_ne!(info.flags & abi::PROG_INFO_VERIFIED, 0);
    if e.backend_kind() == "embedded" {
        // The core's JIT unwinds too (the kernel's JIT does not: a
        // program that throws is interpreted in the Linux module).
        assert_eq!(info.flags & abi::PROG_INFO_JITED != 0, jit_expected(&e));
    }
    for repeat in [1, 3] {
        assert_eq!(e.prog_test_run(h, &[0u8; 60], repeat).unwrap().retval, 0x42);
    }
    // Not thrown: the functions return as usual.
    let calm = src.replace("jeq %r1, 4, +2", "jeq %r1, 5, +2");
    let h = load_tc(&e, &calm, "GPL").unwrap();
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 1);
    // Balanced preemption kfuncs load and run.
    let h = load_tc(
        &e,
        "call runtime 2\ncall runtime 2\ncall runtime 3\ncall runtime 3\nmov %r0, 9\nexit",
        "GPL",
    )
    .unwrap();
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 9);
}

#[test]
fn kfunc_misuse_is_refused_as_linux_refuses_it() {
    let e = client();
    let refused = |src: &str, license: &str, errno: Errno, why: &str| {
        let err = load_tc(&e, src, license).expect_err(src);
        let log = err.log.clone().unwrap_or_default();
        assert_eq!(err.errno, errno, "{src}: {log}");
        assert!(log.contains(why), "{src}: {log}");
    };
    let cb_throws = "mov %r1, 1\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 181\n\
                     mov %r0, 0\nexit\ncb:\nmov %r1, 5\ncall runtime 1\nmov %r0, 0\nexit";
    refused(
        cb_throws,
        "GPL",
        Errno::EINVAL,
        "cannot be called from callback subprog",
    );
    refused(
        "call runtime 2\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "1 bpf_preempt_enable is missing",
    );
    refused(
        "call runtime 2\ncall runtime 2\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "2 bpf_preempt_enable(s) are missing",
    );
    refused(
        "call runtime 3\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "unmatched attempt to enable preemption",
    );
    refused(
        "call runtime 2\nmov %r1, 1\ncall runtime 1\ncall runtime 3\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "bpf_throw cannot be used inside bpf_preempt_disable-ed region",
    );
    refused(
        "mov %r1, 1\ncall runtime 1\nmov %r0, 0\nexit",
        "Dual BSD",
        Errno::EINVAL,
        "cannot call kernel function from non-GPL compatible program",
    );
    refused(
        "call runtime 99\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "kernel function id 99",
    );
    // Kfuncs are not reachable as helpers.
    refused(
        "call 0x40000001\nmov %r0, 0\nexit",
        "GPL",
        Errno::EINVAL,
        "unknown helper",
    );
}

#[test]
fn sign_extending_loads_read_context_fields_as_linux_does() {
    // skb->mark = 0xf6fe, then its low byte and half as signed numbers.
    let e = client();
    let load = |src: &str| {
        let h = load_tc(&e, src, "GPL").unwrap_or_else(|err| panic!("{src}: {err}"));
        e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval
    };
    let set = "mov %r2, 0xf6fe\nstxw [%r1+8], %r2\n";
    assert_eq!(load(&format!("{set}ldxsb %r0, [%r1+8]\nexit")), 0xffff_fffe);
    assert_eq!(load(&format!("{set}ldxsh %r0, [%r1+8]\nexit")), 0xffff_f6fe);
    assert_eq!(
        load(&format!("{set}ldxsw %r0, [%r1+8]\nrsh %r0, 32\nexit")),
        0
    );
    // Not of a packet pointer field.
    let err = load_tc(&e, "ldxsw %r0, [%r1+76]\nexit", "GPL").unwrap_err();
    assert_eq!(err.errno, Errno::EACCES, "{:?}", err.log);
}

#[test]
fn perf_event_arrays_take_records_from_programs_per_slot() {
    let e = client();
    let spec = |key_size, value_size, max_entries| MapSpec {
        name: "events".into(),
        map_type: ebpf_core::MapType::PerfEventArray as u32,
        key_size,
        value_size,
        max_entries,
        ..Default::default()
    };
    assert_eq!(
        e.map_create(&spec(8, 4, 2)).unwrap_err().errno,
        Errno::EINVAL
    );
    assert_eq!(
        e.map_create(&spec(4, 8, 2)).unwrap_err().errno,
        Errno::EINVAL
    );
    let m = e.map_create(&spec(4, 4, 2)).unwrap();
    // 8 bytes from the stack, then `ctxlen` bytes of the packet, into the
    // slot `index` names.
    let prog = |flags: u64| {
        let src = format!(
            "mov %r6, %r1\nlddw %r1, 0x8877665544332211\nstxdw [%r10-8], %r1\nmov %r1, %r6\n\
             lddw %r2, map_fd({m})\nlddw %r3, {flags:#x}\nmov %r4, %r10\nadd %r4, -8\nmov %r5, 8\n\
             call 25\nexit"
        );
        load_verified(&e, "perf", ebpf_core::ProgType::Xdp, &src, &[])
    };
    let current = prog((14 << 32) | 0xffff_ffff);
    let frame: Vec<u8> = (0u8..60).collect();
    let run = |h: u32| e.prog_test_run(h, &frame, 1).unwrap().retval as i32;
    assert_eq!(run(current), -2, "ENOENT: the slot has no consumer yet");
    e.perf_enable(m).unwrap();
    assert_eq!(run(current), 0);
    let mut records = Vec::new();
    for slot in 0..2 {
        let (r, lost) = e.perf_consume(m, slot).unwrap();
        assert_eq!(lost, 0);
        records.extend(r);
    }
    let mut want = 0x8877_6655_4433_2211u64.to_le_bytes().to_vec();
    want.extend_from_slice(&frame[..14]);
    assert_eq!(records, vec![want]);
    // Linux's answers: unknown flags, more packet than there is, a slot
    // past the last.
    assert_eq!(run(prog(1 << 63)), -22);
    assert_eq!(run(prog((61 << 32) | 0xffff_ffff)), -14);
    assert_eq!(run(prog(5)), -7);
    // A full buffer (64 KiB of 80-byte records) loses records, and says
    // how many.
    let slot0 = prog(60 << 32);
    let runs = 1000u32;
    assert_eq!(
        e.prog_test_run(slot0, &frame, runs).unwrap().retval as i32,
        -28
    );
    let (kept, lost) = e.perf_consume(m, 0).unwrap();
    assert!(!kept.is_empty() && lost > 0);
    assert_eq!(kept.len() as u64 + lost, runs as u64);
    // Disabled again: ENOENT.
    e.map_delete(m, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(run(slot0), -2);
    assert_eq!(
        e.map_delete(m, &0u32.to_ne_bytes()).unwrap_err().errno,
        Errno::ENOENT
    );
    assert_eq!(
        e.map_delete(m, &9u32.to_ne_bytes()).unwrap_err().errno,
        Errno::E2BIG
    );
    // Only bpf_perf_event_output takes it, and it takes nothing else.
    let refused = |src: String, why: &str| {
        let code = bytecode(&src);
        let err = e
            .prog_load(&ProgSpec {
                name: "perf",
                prog_type: ebpf_core::ProgType::Xdp as u32,
                bytecode: &code,
                license: "GPL",
                maps: &[],
                obj_types: &[],
            })
            .unwrap_err();
        assert!(err.log.clone().unwrap_or_default().contains(why), "{err}");
    };
    refused(
        format!("stw [%r10-4], 0\nlddw %r1, map_fd({m})\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit"),
        "cannot pass map_type 4 into func bpf_map_lookup_elem#1",
    );
    let hash = e.map_create(&hash_spec("h")).unwrap();
    refused(
        format!(
            "lddw %r2, map_fd({hash})\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -8\nstdw [%r10-8], 0\nmov %r5, 8\ncall 25\nmov %r0, 0\nexit"
        ),
        "cannot pass map_type 1 into func bpf_perf_event_output#25",
    );
}

#[test]
fn bloom_filters_answer_maybe_or_surely_not() {
    let e = client();
    let spec = |key_size, value_size, map_extra| MapSpec {
        name: "bloom".into(),
        map_type: ebpf_core::MapType::BloomFilter as u32,
        key_size,
        value_size,
        max_entries: 100,
        map_extra,
        // A fixed seed: the answers below are the same on every run.
        flags: ebpf_core::maps::flags::BPF_F_ZERO_SEED,
        ..Default::default()
    };
    assert_eq!(
        e.map_create(&spec(4, 8, 0)).unwrap_err().errno,
        Errno::EINVAL
    );
    assert_eq!(
        e.map_create(&spec(0, 8, 16)).unwrap_err().errno,
        Errno::EINVAL
    );
    e.map_create(&spec(0, 8, 3)).unwrap();
    let m = e.map_create(&spec(0, 8, 0)).unwrap();
    let v = |n: u64| n.to_ne_bytes();
    for n in 0..100u64 {
        e.map_update(m, &[], &v(n), 0).unwrap();
    }
    assert_eq!(
        e.map_update(m, &[], &v(5), 1).unwrap_err().errno,
        Errno::EINVAL
    );
    // Every value pushed is "maybe present"; of 1000 others, few are
    // (about 1% at capacity).
    for n in 0..100u64 {
        e.map_lookup(m, &[], &mut v(n), 0).unwrap();
    }
    let false_positives = (1000..2000u64)
        .filter(|&n| e.map_lookup(m, &[], &mut v(n), 0).is_ok())
        .count();
    assert!(false_positives < 30, "{false_positives} false positives");
    assert_eq!(e.map_delete(m, &[]).unwrap_err().errno, Errno::EOPNOTSUPP);
    // Programs push and peek: push the packet's first 8 bytes, then return
    // whether bytes 8..16 are in the set.
    let src = format!(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 16\nmov %r0, 2\njgt %r4, %r3, out\n\
         mov %r6, %r2\nlddw %r1, map_fd({m})\nmov %r2, %r6\nmov %r3, 0\ncall 87\n\
         lddw %r1, map_fd({m})\nmov %r2, %r6\nadd %r2, 8\ncall 89\nout:\nexit"
    );
    let h = load_verified(&e, "bloom", ebpf_core::ProgType::Xdp, &src, &[]);
    let mut frame = [0u8; 60];
    frame[..8].copy_from_slice(&v(7777));
    frame[8..16].copy_from_slice(&v(7777));
    assert_eq!(e.prog_test_run(h, &frame, 1).unwrap().retval, 0, "maybe");
    frame[..8].copy_from_slice(&v(8888));
    frame[8..16].copy_from_slice(&v(123_456_789));
    assert_eq!(
        e.prog_test_run(h, &frame, 1).unwrap().retval as i32,
        -2,
        "surely not"
    );
    e.map_lookup(m, &[], &mut v(8888), 0).unwrap();
}

#[test]
fn dynptrs_are_opaque_stack_objects_and_slices_bounded_views() {
    use ebpf_core::ProgType::{SchedCls, SocketFilter, Xdp};
    let e = client();
    // A dynptr over the packet at fp-16 (kfunc 4: bpf_dynptr_from_skb,
    // 5: _from_xdp).
    const FROM_SKB: &str =
        "mov %r6, %r1\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -16\ncall runtime 4\n";
    const FROM_XDP: &str =
        "mov %r6, %r1\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -16\ncall runtime 5\n";
    // r0 = a slice of 4 bytes at 0 (kfunc 6, read-only; 7, writable).
    let slice = |kfunc: u32| {
        format!("mov %r1, %r10\nadd %r1, -16\nmov %r2, 0\nmov %r3, 0\nmov %r4, 4\ncall runtime {kfunc}\n")
    };
    // r0 = bpf_dynptr_size (kfunc 11).
    const SIZE: &str = "mov %r1, %r10\nadd %r1, -16\ncall runtime 11\n";
    // `why`: what the log says, or alternatives separated by `|`.
    let refused = |t, src: String, why: &str| {
        let err = load_as(&e, t, &src, "GPL").expect_err(&src);
        let log = err.log.clone().unwrap_or_default();
        assert_eq!(err.errno, Errno::EACCES, "{src}: {log}");
        assert!(
            why.split('|').any(|w| log.contains(w)),
            "{why}: {src}: {log}"
        );
    };
    // A stale pointer: unreadable, or a number to a caller who may see
    // addresses.
    let stale = "R7 !read_ok|R7 invalid mem access 'scalar'";
    let accepted =
        |t, src: String| load_as(&e, t, &src, "GPL").unwrap_or_else(|err| panic!("{src}: {err}"));
    let end = "mov %r0, 0\nexit\nout:\nmov %r0, 1\nexit";
    // Used before it is made, or after a store into half of it.
    refused(
        SchedCls,
        format!("{SIZE}exit"),
        "Expected an initialized dynptr as arg #0",
    );
    refused(
        SchedCls,
        format!("{FROM_SKB}stdw [%r10-8], 0\n{SIZE}exit"),
        "Expected an initialized dynptr as arg #0",
    );
    // Its bytes are not the program's to read.
    refused(
        SchedCls,
        format!("{FROM_SKB}ldxdw %r0, [%r10-16]\nexit"),
        "invalid read from stack",
    );
    // At an offset that is not a slot's start.
    refused(
        SchedCls,
        "mov %r2, 0\nmov %r3, %r10\nadd %r3, -12\ncall runtime 4\nmov %r0, 0\nexit".into(),
        "cannot pass in dynptr at an offset=-12",
    );
    // A read-only slice is not written, and no slice is read past its size
    // or before its NULL check.
    refused(
        SchedCls,
        format!(
            "{FROM_SKB}{}jeq %r0, 0, out\nstb [%r0+0], 1\n{end}",
            slice(6)
        ),
        "cannot write into rdonly_mem",
    );
    refused(
        SchedCls,
        format!(
            "{FROM_SKB}{}jeq %r0, 0, out\nldxw %r0, [%r0+2]\n{end}",
            slice(7)
        ),
        "invalid access to mem",
    );
    refused(
        SchedCls,
        format!("{FROM_SKB}{}ldxb %r0, [%r0+0]\nexit", slice(6)),
        "invalid mem access",
    );
    // The slice's size is a constant the verifier knows.
    refused(
        SchedCls,
        format!(
            "{FROM_SKB}ldxw %r4, [%r6+0]\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 0\n\
             mov %r3, 0\ncall runtime 6\nmov %r0, 0\nexit"
        ),
        "R4 must be a known constant",
    );
    // A slice, like a packet pointer, is stale once the packet may have
    // moved: after bpf_skb_pull_data, and after bpf_dynptr_write on a
    // socket buffer's dynptr, but not on an XDP one's.
    refused(
        SchedCls,
        format!(
            "{FROM_SKB}{}jeq %r0, 0, out\nmov %r7, %r0\nmov %r1, %r6\nmov %r2, 0\ncall 39\n\
             stb [%r7+0], 1\n{end}",
            slice(7)
        ),
        stale,
    );
    let write_then_use = |from: &str| {
        format!(
            "{from}{}jeq %r0, 0, out\nmov %r7, %r0\nstb [%r10-24], 9\nmov %r1, %r10\nadd %r1, -16\n\
             mov %r2, 0\nmov %r3, %r10\nadd %r3, -24\nmov %r4, 1\nmov %r5, 0\ncall 202\n\
             ldxb %r0, [%r7+0]\nexit\nout:\nmov %r0, 1\nexit",
            slice(7)
        )
    };
    refused(SchedCls, write_then_use(FROM_SKB), stale);
    let h = accepted(Xdp, write_then_use(FROM_XDP));
    // The write went through the dynptr, the read through the slice.
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 9);
    // Each kind where Linux has it: XDP programs have no socket buffer,
    // socket filters no writable slices (refused at load: EINVAL).
    for (t, src, kfunc) in [
        (
            Xdp,
            format!("{FROM_SKB}mov %r0, 0\nexit"),
            "bpf_dynptr_from_skb",
        ),
        (
            SocketFilter,
            format!("{FROM_SKB}{}{end}", slice(7)),
            "bpf_dynptr_slice_rdwr",
        ),
    ] {
        let err = load_as(&e, t, &src, "GPL").expect_err(&src);
        let log = err.log.clone().unwrap_or_default();
        assert_eq!(err.errno, Errno::EINVAL, "{src}: {log}");
        let words = format!("calling kernel function {kfunc} is not allowed");
        assert!(log.contains(&words), "{src}: {log}");
    }
    // A socket filter's dynptr is read-only: writes fail at run time.
    let h = accepted(
        SocketFilter,
        format!(
            "{FROM_SKB}mov %r1, %r10\nadd %r1, -16\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -16\n\
             mov %r4, 1\nmov %r5, 0\nstb [%r10-24], 0\ncall 202\nexit"
        )
        .replace("add %r3, -16\nmov %r4, 1", "add %r3, -24\nmov %r4, 1"),
    );
    assert_eq!(
        e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval,
        -22i32 as u32,
        "-EINVAL"
    );
}

#[test]
fn a_ring_buffer_dynptr_holds_its_record_until_submitted_or_discarded() {
    let e = client();
    let ring = e
        .map_create(&MapSpec {
            name: "rb".into(),
            map_type: ebpf_core::MapType::RingBuf as u32,
            max_entries: 4096,
            ..Default::default()
        })
        .unwrap();
    let load = |body: &str| {
        let src = format!(
            "lddw %r1, map_idx(0)\nmov %r2, 8\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -16\ncall 198\n{body}"
        );
        let code = bytecode(&src);
        e.prog_load(&ProgSpec {
            name: "rbdyn",
            prog_type: ebpf_core::ProgType::Xdp as u32,
            bytecode: &code,
            license: "GPL",
            maps: &[ring],
            obj_types: &[],
        })
    };
    // 199: submit, 200: discard, 203: bpf_dynptr_data.
    const DISCARD: &str = "mov %r1, %r10\nadd %r1, -16\nmov %r2, 0\ncall 200\n";
    let refused = |body: &str, why: &str| {
        let err = load(body).expect_err(body);
        let log = err.log.clone().unwrap_or_default();
        assert!(log.contains(why), "{why}: {body}: {log}");
    };
    // Kept: the record is never released.
    refused("mov %r0, 2\nexit", "Unreleased reference");
    // Overwritten while it holds the record.
    refused(
        &format!("stdw [%r10-16], 0\n{DISCARD}mov %r0, 2\nexit"),
        "cannot overwrite referenced dynptr",
    );
    // Released twice.
    refused(
        &format!("{DISCARD}{DISCARD}mov %r0, 2\nexit"),
        "Expected an initialized dynptr",
    );
    // Its data used after the record went.
    refused(
        &format!(
            "mov %r1, %r10\nadd %r1, -16\nmov %r2, 0\nmov %r3, 8\ncall 203\njeq %r0, 0, null\n\
             mov %r6, %r0\n{DISCARD}stdw [%r6+0], 1\nmov %r0, 2\nexit\nnull:\n{DISCARD}mov %r0, 2\nexit"
        ),
        "R6 invalid mem access",
    );
    // Released on every path (its data NULL or not), it loads.
    let h = load(
        "mov %r1, %r10\nadd %r1, -16\nmov %r2, 0\nmov %r3, 8\ncall 203\njeq %r0, 0, +1\n\
         stdw [%r0+0], 7\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 0\ncall 199\nmov %r0, 2\nexit",
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 2);
    let records = e.ringbuf_consume(ring).unwrap();
    assert_eq!(records, vec![7u64.to_ne_bytes().to_vec()]);
}

#[test]
fn map_create_checks_the_values_lists_and_their_types() {
    use ebpf_core::abi::{
        ObjField, ObjTypeDesc, FIELD_LIST_HEAD, FIELD_LIST_NODE, FIELD_SPIN_LOCK,
    };
    let e = client();
    let lock = ObjField {
        kind: FIELD_SPIN_LOCK,
        ..Default::default()
    };
    let head = ObjField {
        kind: FIELD_LIST_HEAD,
        offset: 8,
        contains: 5,
        node_offset: 8,
    };
    let mut item = ObjTypeDesc {
        btf_id: 5,
        size: 32,
        nr_fields: 1,
        ..Default::default()
    };
    item.fields[0] = ObjField {
        kind: FIELD_LIST_NODE,
        offset: 8,
        ..Default::default()
    };
    let spec = |fields: Vec<ObjField>, types: Vec<ObjTypeDesc>| MapSpec {
        map_type: 2,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        value_fields: fields,
        obj_types: types,
        ..MapSpec::named("lists")
    };
    assert!(e.map_create(&spec(vec![lock, head], vec![item])).is_ok());
    let errno = |s: MapSpec| e.map_create(&s).unwrap_err().errno;
    // The list's type not described, or its node not where the list says.
    assert_eq!(errno(spec(vec![lock, head], vec![])), Errno::EINVAL);
    let elsewhere = ObjField {
        node_offset: 0,
        ..head
    };
    assert_eq!(
        errno(spec(vec![lock, elsewhere], vec![item])),
        Errno::EINVAL
    );
    // A list without a lock; an unknown kind; too many fields.
    assert_eq!(errno(spec(vec![head], vec![item])), Errno::EINVAL);
    let odd = ObjField { kind: 9, ..lock };
    assert_eq!(errno(spec(vec![odd], vec![])), Errno::EINVAL);
    assert_eq!(errno(spec(vec![lock; 11], vec![])), Errno::E2BIG);
    // Lists in arrays and hash maps, never mapped into a process, said so.
    let hash = MapSpec {
        map_type: 1,
        ..spec(vec![lock, head], vec![item])
    };
    assert!(e.map_create(&hash).is_ok());
    let mapped = MapSpec {
        flags: 1 << 10,
        ..spec(vec![lock, head], vec![item])
    };
    let err = e.map_create(&mapped).unwrap_err();
    assert_eq!(err.errno, Errno::EOPNOTSUPP);
    assert!(err
        .log
        .unwrap_or_default()
        .contains("not mapped into processes"));
    // A kptr needs no lock; a reference count is an object's, not a
    // value's.
    let kptr = ObjField {
        kind: abi::FIELD_KPTR,
        offset: 8,
        contains: item.btf_id,
        node_offset: 0,
    };
    assert!(e.map_create(&spec(vec![kptr], vec![item])).is_ok());
    let count = ObjField {
        kind: abi::FIELD_REFCOUNT,
        offset: 4,
        contains: 0,
        node_offset: 0,
    };
    assert_eq!(errno(spec(vec![count], vec![])), Errno::EINVAL);
    // A kptr of a type not described.
    assert_eq!(errno(spec(vec![kptr], vec![])), Errno::EINVAL);
}

#[test]
fn map_create_takes_one_timer_per_value_where_linux_does() {
    use ebpf_core::abi::{ObjField, FIELD_TIMER};
    let e = client();
    let timer = ObjField {
        kind: FIELD_TIMER,
        offset: 8,
        ..Default::default()
    };
    let spec = |map_type: u32, fields: Vec<ObjField>| MapSpec {
        map_type,
        key_size: 4,
        value_size: 40,
        max_entries: 4,
        value_fields: fields,
        ..MapSpec::named("timers")
    };
    // Arrays, hash and LRU hash maps (types 2, 1, 9).
    for t in [2, 1, 9] {
        assert!(e.map_create(&spec(t, vec![timer])).is_ok(), "type {t}");
    }
    let errno = |s: MapSpec| e.map_create(&s).unwrap_err().errno;
    // Not per-CPU (6: percpu array), not mapped into a process.
    assert_eq!(errno(spec(6, vec![timer])), Errno::EOPNOTSUPP);
    let mapped = MapSpec {
        flags: 1 << 10,
        ..spec(2, vec![timer])
    };
    assert_eq!(errno(mapped), Errno::EOPNOTSUPP);
    // One per value, 8-byte aligned, inside the value.
    let second = ObjField {
        offset: 24,
        ..timer
    };
    assert_eq!(errno(spec(2, vec![timer, second])), Errno::EINVAL);
    let odd = ObjField { offset: 4, ..timer };
    assert_eq!(errno(spec(2, vec![odd])), Errno::EINVAL);
    let past = ObjField {
        offset: 32,
        ..timer
    };
    assert_eq!(errno(spec(2, vec![past])), Errno::EINVAL);
    // Each element may hold a cell (about 4 KiB): 2^17 elements exceed the
    // device's 256 MiB with them (5 MiB without).
    let huge = MapSpec {
        max_entries: 1 << 17,
        ..spec(2, vec![timer])
    };
    assert!(e.map_create(&huge).is_err());
    assert!(e
        .map_create(&MapSpec {
            value_fields: vec![],
            ..huge
        })
        .is_ok());
}
