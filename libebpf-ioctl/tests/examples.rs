//! The C examples (examples/c) built by stock clang, loaded through the ELF
//! loader and run on crafted packets: verdicts, rewritten packets and map
//! contents. Objects come from `EBPF_EXAMPLES` (as `make test` builds them)
//! or are built here with `make examples`. Runs on the embedded backend, or on
//! the device named by `EBPF_TEST_DEVICE`.

mod common;

use common::{client, example_bytes as object_bytes, load_example};
use libebpf_ioctl::elf::{BpfObject, MapOrigin};
use libebpf_ioctl::{Ebpf, LoadedObject};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn load(e: &Ebpf, name: &str) -> (BpfObject, LoadedObject) {
    load_example(e, name)
}

fn run(e: &Ebpf, prog: u32, packet: &[u8]) -> (u32, Vec<u8>) {
    let r = e.prog_test_run(prog, packet, 1).unwrap();
    (r.retval, r.data_out)
}

/// The return values of three runs on `frame` of program `prog` of `obj`,
/// loaded alone (its maps fresh).
fn runs_alone(e: &Ebpf, obj: &BpfObject, prog: &str, frame: &[u8]) -> [u32; 3] {
    let loaded = e.load_object_programs(obj, Some(prog)).unwrap();
    let h = loaded.program(prog).unwrap();
    [0; 3].map(|_| e.prog_test_run(h, frame, 1).unwrap().retval)
}

fn lookup(e: &Ebpf, map: u32, key: &[u8]) -> Option<Vec<u8>> {
    let (_, value_size) = e.map_sizes(map).unwrap();
    let mut value = vec![0u8; value_size];
    e.map_lookup(map, key, &mut value, 0).ok().map(|_| value)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&MAC_B);
    p.extend_from_slice(&MAC_A);
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv4 frame; `options` 4-byte words of IP options.
fn ipv4(protocol: u8, options: usize, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45 + options as u8, 0];
    ip.extend_from_slice(&((20 + options * 4 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, protocol, 0, 0]);
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    ip.extend(std::iter::repeat_n(1u8, options * 4));
    ip.extend_from_slice(l4);
    ethernet(0x0800, &ip)
}

fn ipv6(next_header: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next_header, 64]);
    ip.extend_from_slice(&[0xfd; 16]);
    ip.extend_from_slice(&[0xfe; 16]);
    ip.extend_from_slice(l4);
    ethernet(0x86dd, &ip)
}

/// A TCP header (20 bytes) or UDP header (8 bytes) to `port`.
fn l4(protocol: u8, port: u16) -> Vec<u8> {
    let mut h = vec![0xc0, 0x00];
    h.extend_from_slice(&port.to_be_bytes());
    let len = if protocol == IPPROTO_TCP { 20 } else { 8 };
    h.resize(len, 0);
    h
}

#[test]
fn port_filter_drops_web_traffic_and_counts_per_port() {
    let e = client();
    let (_, obj) = load(&e, "port_filter");
    let prog = obj.program("port_filter").unwrap();
    let drops = obj.map("drops").unwrap();
    let tcp = |port| ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, port));
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("v4 tcp 80", tcp(80), XDP_DROP),
        ("v4 tcp 8080", tcp(8080), XDP_DROP),
        ("v4 tcp 22", tcp(22), XDP_PASS),
        ("v4 tcp 443", tcp(443), XDP_PASS),
        (
            "v4 udp 80",
            ipv4(IPPROTO_UDP, 0, &l4(IPPROTO_UDP, 80)),
            XDP_PASS,
        ),
        (
            "v4 with options, tcp 80",
            ipv4(IPPROTO_TCP, 2, &l4(IPPROTO_TCP, 80)),
            XDP_DROP,
        ),
        (
            "v6 tcp 8080",
            ipv6(IPPROTO_TCP, &l4(IPPROTO_TCP, 8080)),
            XDP_DROP,
        ),
        (
            "v6 udp 8080",
            ipv6(IPPROTO_UDP, &l4(IPPROTO_UDP, 8080)),
            XDP_PASS,
        ),
        (
            "v4 tcp 80, header cut short",
            tcp(80)[..14 + 20 + 10].to_vec(),
            XDP_PASS,
        ),
        ("ip header cut short", tcp(80)[..14 + 12].to_vec(), XDP_PASS),
        ("arp", ethernet(0x0806, &[0; 28]), XDP_PASS),
        ("runt frame", vec![0; 10], XDP_PASS),
        ("empty", vec![], XDP_PASS),
    ];
    for (what, packet, verdict) in &cases {
        let (r, out) = run(&e, prog, packet);
        assert_eq!(r, *verdict, "{what}");
        assert_eq!(
            &out, packet,
            "{what}: the filter must not change the packet"
        );
    }
    let count = |port: u16| lookup(&e, drops, &port.to_ne_bytes()).map(|v| u64_at(&v, 0));
    assert_eq!(count(80), Some(2));
    assert_eq!(count(8080), Some(2));
    assert_eq!(count(22), None);
    assert_eq!(count(443), None);
}

#[test]
fn mac_swap_reflects_frames() {
    let e = client();
    let (_, obj) = load(&e, "mac_swap");
    let prog = obj.program("mac_swap").unwrap();
    let packet = ipv4(IPPROTO_UDP, 0, &l4(IPPROTO_UDP, 53));
    let (r, out) = run(&e, prog, &packet);
    assert_eq!(r, XDP_TX);
    assert_eq!(out[..6], MAC_A);
    assert_eq!(out[6..12], MAC_B);
    assert_eq!(out[12..], packet[12..]);
    let (r, out) = run(&e, prog, &packet[..13]);
    assert_eq!(r, XDP_DROP, "a frame shorter than an Ethernet header");
    assert_eq!(out, packet[..13]);
}

#[test]
fn per_cpu_counters_sum_to_the_traffic() {
    let e = client();
    let (_, obj) = load(&e, "pkt_counter");
    let prog = obj.program("pkt_counter").unwrap();
    let counters = obj.map("counters").unwrap();
    let packets = [
        ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, 80)),
        ipv4(IPPROTO_UDP, 0, &l4(IPPROTO_UDP, 53)),
        ipv6(IPPROTO_TCP, &l4(IPPROTO_TCP, 80)),
        ethernet(0x0806, &[0; 28]),
        vec![0; 5],
    ];
    for p in &packets {
        assert_eq!(run(&e, prog, p).0, XDP_PASS);
    }
    // Each CPU's slot is 16 bytes (two u64); the totals are their sums.
    let total = |class: u32| {
        let v = lookup(&e, counters, &class.to_ne_bytes()).unwrap();
        assert_eq!(v.len() % 16, 0);
        v.chunks(16)
            .fold((0, 0), |(p, b), c| (p + u64_at(c, 0), b + u64_at(c, 8)))
    };
    let len = |i: usize| packets[i].len() as u64;
    assert_eq!(total(0), (2, len(0) + len(1)));
    assert_eq!(total(1), (1, len(2)));
    assert_eq!(total(2), (2, len(3) + len(4)));
}

#[test]
fn ring_buffer_events_reach_userspace_in_order() {
    let e = client();
    let (_, obj) = load(&e, "ringbuf_events");
    let prog = obj.program("ringbuf_events").unwrap();
    let events = obj.map("events").unwrap();
    let tcp = ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, 80));
    let udp = ipv4(IPPROTO_UDP, 1, &l4(IPPROTO_UDP, 53));
    for p in [&tcp, &ipv6(IPPROTO_TCP, &l4(IPPROTO_TCP, 1)), &udp] {
        assert_eq!(run(&e, prog, p).0, XDP_PASS);
    }
    let records = e.ringbuf_consume(events).unwrap();
    assert_eq!(records.len(), 2, "one event per IPv4 packet, none for IPv6");
    for (record, (packet, proto)) in records
        .iter()
        .zip([(&tcp, IPPROTO_TCP), (&udp, IPPROTO_UDP)])
    {
        assert_eq!(record.len(), 12);
        assert_eq!(record[0..4], [10, 0, 0, 1]);
        assert_eq!(record[4..8], [10, 0, 0, 2]);
        assert_eq!(
            u16::from_le_bytes([record[8], record[9]]) as usize,
            packet.len()
        );
        assert_eq!(record[10], proto);
    }
    assert!(e.ringbuf_consume(events).unwrap().is_empty());
}

#[test]
fn perf_events_carry_a_header_and_the_packet_per_cpu() {
    let e = client();
    let (_, obj) = load(&e, "perf_events");
    let prog = obj.program("perf_events").unwrap();
    let events = obj.map("events").unwrap();
    // Sized to the possible CPUs, as libbpf sizes it.
    let cpus = e.possible_cpus().unwrap();
    assert_eq!(e.map_info(events).unwrap().max_entries, cpus);
    e.perf_enable(events).unwrap();
    let tcp = ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, 80));
    for p in [&tcp, &ipv6(IPPROTO_TCP, &l4(IPPROTO_TCP, 1)), &tcp] {
        assert_eq!(run(&e, prog, p).0, XDP_PASS);
    }
    let mut records = Vec::new();
    for cpu in 0..cpus {
        let (r, lost) = e.perf_consume(events, cpu).unwrap();
        assert_eq!(lost, 0);
        records.extend(r);
    }
    assert_eq!(records.len(), 2, "one event per IPv4 packet, none for IPv6");
    for r in &records {
        assert_eq!(r.len(), 4 + 34);
        assert_eq!(u16::from_le_bytes([r[0], r[1]]) as usize, tcp.len());
        assert_eq!(r[2], IPPROTO_TCP);
        assert_eq!(&r[4..], &tcp[..34]);
    }
}

#[test]
fn global_data_and_bpf_to_bpf_calls() {
    let e = client();
    let (parsed, obj) = load(&e, "global_data");
    let prog = obj.program("global_data").unwrap();
    let arp = ethernet(0x0806, &[0; 28]);
    let v4 = ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, 80));
    assert_eq!(run(&e, prog, &arp).0, XDP_DROP);
    assert_eq!(run(&e, prog, &v4).0, XDP_PASS);
    assert_eq!(run(&e, prog, &arp).0, XDP_DROP);
    assert_eq!(run(&e, prog, &[0; 4]).0, XDP_PASS);
    let global = |name: &str| lookup(&e, obj.map(name).unwrap(), &0u32.to_ne_bytes()).unwrap();
    assert_eq!(u64_at(&global(".data"), 0), 1004, "`seen` starts at 1000");
    assert_eq!(u64_at(&global(".bss"), 0), 2, "`dropped`");
    assert_eq!(global(".rodata")[..2], 0x0806u16.to_ne_bytes());

    // A loader may set read-only configuration before loading, as
    // libbpf's skeletons do: block IPv4 instead of ARP.
    let mut custom = parsed.clone();
    let rodata = custom
        .maps
        .iter_mut()
        .find(|m| m.name == ".rodata")
        .unwrap();
    let MapOrigin::GlobalData(init) = &mut rodata.origin else {
        panic!(".rodata is global data");
    };
    init[..2].copy_from_slice(&0x0800u16.to_ne_bytes());
    let e2 = client();
    let obj2 = e2.load_object(&custom).unwrap();
    let prog2 = obj2.program("global_data").unwrap();
    assert_eq!(run(&e2, prog2, &v4).0, XDP_DROP);
    assert_eq!(run(&e2, prog2, &arp).0, XDP_PASS);
}

#[test]
fn tail_calls_dispatch_through_an_initialised_program_array() {
    let e = client();
    let (parsed, obj) = load(&e, "tail_call");
    let table = parsed.maps.iter().find(|m| m.name == "jump_table").unwrap();
    assert_eq!(
        table.initial_programs,
        vec![(0, "handle_tcp".to_string()), (1, "handle_udp".to_string())]
    );
    let prog = obj.program("dispatch").unwrap();
    let tcp = ipv4(IPPROTO_TCP, 0, &l4(IPPROTO_TCP, 80));
    let udp = ipv4(IPPROTO_UDP, 0, &l4(IPPROTO_UDP, 53));
    let icmp = ipv4(IPPROTO_ICMP, 0, &[8, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(run(&e, prog, &tcp).0, XDP_DROP);
    assert_eq!(run(&e, prog, &udp).0, XDP_TX);
    assert_eq!(run(&e, prog, &udp).0, XDP_TX);
    assert_eq!(run(&e, prog, &icmp).0, XDP_PASS, "slot 2 is empty");
    let handled = obj.map("handled").unwrap();
    let n = |slot: u32| u64_at(&lookup(&e, handled, &slot.to_ne_bytes()).unwrap(), 0);
    assert_eq!((n(0), n(1), n(2)), (1, 2, 0));

    // Emptying a slot makes the dispatcher fall through.
    e.map_delete(obj.map("jump_table").unwrap(), &0u32.to_ne_bytes())
        .unwrap();
    assert_eq!(run(&e, prog, &tcp).0, XDP_PASS);
}

#[test]
fn damaged_objects_give_errors_not_panics() {
    let good = object_bytes("port_filter");
    // Every prefix, and every byte flipped in the headers and tables.
    for len in (0..good.len()).step_by(7) {
        let _ = BpfObject::parse(&good[..len]);
    }
    for at in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        let _ = BpfObject::parse(&bad);
    }
    let err = BpfObject::parse(&good[..good.len() / 2]).unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[test]
fn errors_name_the_section_or_symbol() {
    let good = object_bytes("port_filter");
    let obj = BpfObject::parse(&good).unwrap();
    // A map reference the device cannot satisfy names the map.
    let mut huge = obj.clone();
    huge.maps[0].spec.max_entries = u32::MAX;
    huge.maps[0].spec.value_size = u32::MAX;
    let err = client().load_object(&huge).unwrap_err();
    assert!(err.to_string().contains("map `drops`"), "{err}");
    // A program the device rejects names the program and its section.
    let mut broken = obj.clone();
    broken.programs[0].insns.truncate(3);
    let err = client().load_object(&broken).unwrap_err();
    assert!(
        err.to_string()
            .contains("program `port_filter` (section xdp)"),
        "{err}"
    );
    // Not a BPF object at all.
    let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let err = BpfObject::parse(&host).unwrap_err();
    assert!(err.to_string().contains("not a BPF object"), "{err}");
}

/// Found by the ELF-loader fuzzer: a function symbol whose address plus
/// size overflows made the loader panic (in a debug build; a release build
/// wrapped around). Every symbol value must give an error, not a panic.
#[test]
fn a_symbol_beyond_the_address_space_is_an_error() {
    let good = object_bytes("port_filter");
    let u16_at = |at: usize| u16::from_le_bytes([good[at], good[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(good[at..at + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
    // The symbol table: the section of type SHT_SYMTAB (2).
    let symtab = (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| u32::from_le_bytes(good[h + 4..h + 8].try_into().unwrap()) == 2)
        .expect("a symbol table");
    let (start, size) = (u64_at(symtab + 0x18), u64_at(symtab + 0x20));
    let mut patched = 0;
    for sym in (start..start + size).step_by(24) {
        if good[sym + 4] & 0xf != 2 {
            continue; // not a function
        }
        let mut bad = good.clone();
        bad[sym + 8..sym + 16].copy_from_slice(&(u64::MAX - 4).to_le_bytes());
        assert!(BpfObject::parse(&bad).is_err());
        patched += 1;
    }
    assert!(patched > 0, "port_filter.o has a function symbol");
}

/// Found by the ELF-loader fuzzer: a `.bss` (NOBITS) section may claim any
/// size, and the loader allocated it for the initial value. A section
/// larger than a map value can hold is refused first, naming it.
#[test]
fn a_global_data_section_too_large_for_a_map_is_refused() {
    let mut bytes = object_bytes("global_data");
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let u64_at =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(&bytes, 0x28),
        u16_at(&bytes, 0x3a),
        u16_at(&bytes, 0x3c),
        u16_at(&bytes, 0x3e),
    );
    let strtab = u64_at(&bytes, shoff + shstrndx * shentsize + 0x18);
    let bss = (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| {
            let name = strtab + u32::from_le_bytes(bytes[h..h + 4].try_into().unwrap()) as usize;
            bytes[name..].starts_with(b".bss\0")
        })
        .expect("global_data.o has a .bss");
    bytes[bss + 0x20..bss + 0x28].copy_from_slice(&(7u64 << 30).to_le_bytes());
    let err = BpfObject::parse(&bytes).unwrap_err().to_string();
    assert!(err.contains(".bss") && err.contains("7516192768"), "{err}");
}

#[test]
fn programs_of_types_not_provided_are_named_and_do_not_take_their_siblings_down() {
    let obj = BpfObject::parse(&object_bytes("mixed_types")).unwrap();
    let kprobe = obj
        .programs
        .iter()
        .find(|p| p.name == "count_opens")
        .unwrap();
    let why = kprobe.unsupported.as_deref().unwrap_or("");
    assert!(
        why.contains("kprobe") && why.contains("not provided"),
        "{why}"
    );
    let e = client();
    let err = e.load_object(&obj).unwrap_err();
    assert_eq!(err.errno, ebpf_core::Errno::EOPNOTSUPP);
    let log = err.log.unwrap_or_default();
    assert!(
        log.contains("count_opens") && log.contains("not provided"),
        "{log}"
    );
    // Alone, the XDP program (section xdp.frags) loads and runs.
    let loaded = e.load_object_programs(&obj, Some("pass_all")).unwrap();
    let h = loaded.program("pass_all").unwrap();
    assert_eq!(
        e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval,
        2,
        "XDP_PASS"
    );
    assert_eq!(
        e.prog_info(h).unwrap().prog_type,
        ebpf_core::ProgType::Xdp as u32
    );
}

#[test]
fn older_and_iproute2_objects_load_as_libbpf_and_tc_load_them() {
    let obj = BpfObject::parse(&object_bytes("legacy")).unwrap();
    // The classifier's entry is a NOTYPE symbol without a size.
    let entry = obj
        .programs
        .iter()
        .find(|p| p.name == "legacy_entry")
        .unwrap();
    assert_eq!(entry.prog_type, ebpf_core::ProgType::SchedCls);
    assert_eq!(entry.insns.len(), 2, "up to the section's end");
    let act = obj
        .programs
        .iter()
        .find(|p| p.name == "count_marks")
        .unwrap();
    assert_eq!(act.prog_type, ebpf_core::ProgType::SchedAct);
    // iproute2's map definition, pinned by name; global data of every
    // section libbpf makes a map of.
    let marks = obj.maps.iter().find(|m| m.name == "marks").unwrap();
    assert!(marks.pin_by_name, "PIN_GLOBAL_NS");
    assert_eq!(
        (
            marks.spec.key_size,
            marks.spec.value_size,
            marks.spec.max_entries
        ),
        (4, 8, 4)
    );
    let names: Vec<&str> = obj.maps.iter().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains(&".data.custom") && names.contains(&".rodata.str1.1"),
        "{names:?}"
    );

    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let act = loaded.program("count_marks").unwrap();
    assert_eq!(
        e.prog_info(act).unwrap().prog_type,
        ebpf_core::ProgType::SchedAct as u32
    );
    // `runs` starts at 40 in .data.custom; each run adds one.
    for n in 41..=43 {
        assert_eq!(e.prog_test_run(act, &[0u8; 64], 1).unwrap().retval, n);
    }
    let mut count = [0u8; 8];
    e.map_lookup(
        loaded.map("marks").unwrap(),
        &0u32.to_ne_bytes(),
        &mut count,
        0,
    )
    .unwrap();
    assert_eq!(u64::from_ne_bytes(count), 3, "mark 0 counted three times");
    let classifier = loaded.program("legacy_entry").unwrap();
    assert_eq!(
        e.prog_test_run(classifier, &[0u8; 64], 1).unwrap().retval,
        2
    );
    // A `?` section loads only when named.
    assert!(loaded.program("on_request").is_none());
    let asked = e.load_object_programs(&obj, Some("on_request")).unwrap();
    let h = asked.program("on_request").unwrap();
    assert_eq!(
        e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval,
        3,
        "XDP_TX"
    );
}

#[test]
fn an_object_without_a_license_loads_with_an_empty_one() {
    let obj = BpfObject::parse(&object_bytes("nolicense")).unwrap();
    assert_eq!(obj.license, "");
    let e = client();
    let loaded = e.load_object_programs(&obj, Some("pass")).unwrap();
    let h = loaded.program("pass").unwrap();
    assert_eq!(e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval, 2);
    // Only GPL-compatible programs may call bpf_trace_printk.
    let err = e.load_object_programs(&obj, Some("say")).unwrap_err();
    let log = err.log.unwrap_or_default();
    assert!(log.contains("GPL"), "{log}");
}

#[test]
fn co_re_relocations_are_resolved_against_the_runtimes_types() {
    let obj = BpfObject::parse(&object_bytes("core_fields")).unwrap();
    // A Linux kernel type: refused, naming it; the others still load.
    let task = obj.programs.iter().find(|p| p.name == "core_task").unwrap();
    let why = task.unsupported.as_deref().unwrap_or("");
    assert!(
        why.contains("task_struct") && why.contains("does not have"),
        "{why}"
    );
    let e = client();
    let mut frame = [0u8; 54];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    // xdp_md's fields where this runtime keeps them, whatever the order
    // the object assumed; the field no kernel has does not exist; the
    // Ethernet header as the wire has it.
    let loaded = e.load_object_programs(&obj, Some("core_xdp")).unwrap();
    let h = loaded.program("core_xdp").unwrap();
    assert_eq!(
        e.prog_test_run(h, &frame, 1).unwrap().retval,
        0x1_0000 + u16::from_ne_bytes([0x08, 0x00]) as u32
    );
    // __sk_buff's cb[] element and len, and a field's size.
    let loaded = e.load_object_programs(&obj, Some("core_tc")).unwrap();
    let h = loaded.program("core_tc").unwrap();
    assert_eq!(e.prog_test_run(h, &frame, 1).unwrap().retval, 0x4_0000 + 54);
    let err = e.load_object_programs(&obj, Some("core_task")).unwrap_err();
    assert_eq!(err.errno, ebpf_core::Errno::EOPNOTSUPP);
}

#[test]
fn a_kfunc_takes_down_its_program_only_and_unreached_functions_stay_out() {
    let obj = BpfObject::parse(&object_bytes("kfunc_sibling")).unwrap();
    let kfunc = obj
        .programs
        .iter()
        .find(|p| p.name == "uses_kfunc")
        .unwrap();
    let why = kfunc.unsupported.as_deref().unwrap_or("");
    assert!(
        why.contains("bpf_rcu_read_lock") && why.contains("kfunc"),
        "{why}"
    );
    // `plain` carries add_one, not never_called (which would be
    // unreachable code, refused by the verifier).
    let plain = obj.programs.iter().find(|p| p.name == "plain").unwrap();
    assert!(plain.unsupported.is_none());
    let e = client();
    let loaded = e.load_object_programs(&obj, Some("plain")).unwrap();
    let h = loaded.program("plain").unwrap();
    assert_eq!(
        e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval,
        2,
        "XDP_PASS"
    );
}

#[test]
fn kconfig_externs_are_the_loading_machines() {
    let obj = BpfObject::parse(&object_bytes("kconfig")).unwrap();
    assert!(obj.maps.iter().any(|m| m.name == ".kconfig"));
    let strict = obj.programs.iter().find(|p| p.name == "strict").unwrap();
    let why = strict.unsupported.as_deref().unwrap_or("");
    assert!(why.contains("CONFIG_SURELY_NOT_SET_ANYWHERE"), "{why}");
    let e = client();
    let loaded = e.load_object_programs(&obj, Some("kconfig")).unwrap();
    let h = loaded.program("kconfig").unwrap();
    // KERNEL_VERSION(a, b, c) of this machine's kernel.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut n = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap());
    let want = (n.next().unwrap() << 16) + (n.next().unwrap() << 8) + n.next().unwrap().min(255);
    assert_eq!(e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval, want);
}

#[test]
fn btf_maps_of_maps_start_with_their_initial_inner_maps() {
    let obj = BpfObject::parse(&object_bytes("map_in_map")).unwrap();
    let outer = obj.maps.iter().find(|m| m.name == "outer").unwrap();
    let inner = outer.inner.as_deref().expect("an inner definition");
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (ebpf_core::MapType::Array as u32, 4, 4, 1)
    );
    assert_eq!((outer.spec.key_size, outer.spec.value_size), (4, 4));
    assert_eq!(
        outer.initial_maps,
        [(0, "inner_a".to_string()), (2, "inner_b".to_string())]
    );
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let value = |name: &str, v: u32| {
        let m = loaded.map(name).unwrap();
        e.map_update(m, &0u32.to_ne_bytes(), &v.to_ne_bytes(), 0)
            .unwrap();
    };
    value("inner_a", 1);
    value("inner_b", 2);
    let h = loaded.program("sum_inner").unwrap();
    // Slots 0 and 2 hold inner_a (1) and inner_b (2), slot 1 nothing
    // (100); outer_hash's slot 1 holds inner_b (2000).
    assert_eq!(e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval, 2103);
    // The slots hold the inner maps themselves: a new value shows.
    value("inner_a", 7);
    assert_eq!(e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval, 2109);
}

#[test]
fn iproute2_maps_of_maps_put_the_inner_map_with_their_id_in_its_slot() {
    let obj = BpfObject::parse(&object_bytes("legacy_map_in_map")).unwrap();
    let outer = obj.maps.iter().find(|m| m.name == "map_outer").unwrap();
    assert_eq!(outer.initial_maps, [(2, "map_inner".to_string())]);
    assert_eq!(
        outer.inner.as_deref().map(|s| (s.map_type, s.max_entries)),
        Some((ebpf_core::MapType::Array as u32, 1))
    );
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let inner = loaded.map("map_inner").unwrap();
    e.map_update(inner, &0u32.to_ne_bytes(), &77u32.to_ne_bytes(), 0)
        .unwrap();
    let h = loaded.program("read_slot").unwrap();
    assert_eq!(e.prog_test_run(h, &[0u8; 64], 1).unwrap().retval, 77);
}

#[test]
fn core_bitfields_and_enums_resolve_as_libbpf_does() {
    let obj = BpfObject::parse(&object_bytes("core_bitfields")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    // An IPv4 header of 6 words (ihl 6, version 4) after 14 bytes.
    let mut packet = [0u8; 64];
    packet[14] = 0x46;
    for prog in ["ip_bitfields", "ip_bitfields_macro"] {
        let h = loaded.program(prog).unwrap();
        assert_eq!(
            e.prog_test_run(h, &packet, 1).unwrap().retval,
            6 * 4 + 4 * 1000,
            "{prog}"
        );
    }
    // Linux's answer would be 15: it has bpf_get_current_task, this
    // runtime has not (and says so).
    let h = loaded.program("enum_questions").unwrap();
    assert_eq!(e.prog_test_run(h, &packet, 1).unwrap().retval, 1 + 4 + 8);
}

#[test]
fn dynptrs_over_the_packet_read_write_slice_and_narrow_as_on_linux() {
    // Expected values: the host kernel's (6.18) on the same object and
    // frame (`bpftool prog run`), byte i of the frame being i.
    let obj = BpfObject::parse(&object_bytes("dynptr")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let frame: Vec<u8> = (0..60).collect();
    let h = loaded.program("skb_read").unwrap();
    // 0x0d0c through the slice; the read past the end -E2BIG (0x10000),
    // with flags -EINVAL (0x20000); the failed reads left the word alone.
    assert_eq!(e.prog_test_run(h, &frame, 1).unwrap().retval, 0x7_0d0c);
    let h = loaded.program("xdp_write").unwrap();
    let r = e.prog_test_run(h, &frame, 1).unwrap();
    // Size 8 after adjust(2, 10); adjust past it -ERANGE (0x100); the
    // clone's first byte is the frame's byte 2; a slice past it is NULL.
    assert_eq!(r.retval, 0x2_1108);
    assert_eq!(&r.data_out[..4], &[0xaa, 0xbb, 2, 3]);
    assert_eq!(&r.data_out[4..60], &frame[4..]);
}

#[test]
fn tunnel_keys_are_set_and_read_back_as_on_linux() {
    // Expected values: the host kernel's (6.18) on the same object
    // (`bpftool prog run`).
    let obj = BpfObject::parse(&object_bytes("tunnel_key")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let frame: Vec<u8> = (0..60).collect();
    let run = |prog: &str| {
        let h = loaded.program(prog).unwrap();
        e.prog_test_run(h, &frame, 1).unwrap().retval
    };
    // Remote and local swapped on the way back; flags NOCACHE, DONT_FRAGMENT,
    // KEY and CSUM.
    assert_eq!(run("tunnel_v4"), 0x0102_2105);
    // Three refusals (flags, size, a label without IPv6), the id and
    // addresses through an older key size, the label and the flags.
    assert_eq!(run("tunnel_v6"), 0x0b01_0907);
}

#[test]
fn socket_lookups_find_no_socket_on_the_embedded_backend_and_are_refused_by_the_modules() {
    // An IPv4 TCP SYN from 198.51.100.7:40000 to 192.0.2.1:9.
    let mut frame = vec![0u8; 54];
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14..24].copy_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6]);
    frame[26..34].copy_from_slice(&[198, 51, 100, 7, 192, 0, 2, 1]);
    frame[34..38].copy_from_slice(&[0x9c, 0x40, 0, 9]);
    frame[46] = 0x50;
    frame[47] = 0x02;
    let obj = BpfObject::parse(&object_bytes("socket_lookup")).unwrap();
    let e = client();
    if std::env::var_os("EBPF_TEST_DEVICE").is_some() {
        // The kernel modules do not show their kernel's sockets: a lookup
        // answering NULL there would lie.
        let err = e.load_object(&obj).unwrap_err().to_string();
        assert!(
            err.contains("helper bpf_sk_lookup_tcp needs the kernel's sockets"),
            "{err}"
        );
        return;
    }
    let loaded = e.load_object(&obj).unwrap();
    let run = |prog: &str| {
        let h = loaded.program(prog).unwrap();
        e.prog_test_run(h, &frame, 1).unwrap().retval
    };
    // The host kernel's (6.18) answers for the same object and frame
    // (`bpftool prog run`): no lookup found a socket.
    assert_eq!(run("tc_lookups"), 0x40);
    assert_eq!(run("xdp_lookups"), 2);
}

/// An Ethernet frame with an IPv4 TCP header whose TOS byte is `tos` (the
/// header checksum valid), or an IPv6 one whose traffic class is `tos`.
fn ecn_frame(tos: u8, v6: bool) -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    if v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let word = (6u32 << 28) | (u32::from(tos) << 20) | 0x12345;
        f[14..18].copy_from_slice(&word.to_be_bytes());
        f[18..22].copy_from_slice(&[0, 20, 6, 64]);
        f.resize(94, 0);
        return f;
    }
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..26].copy_from_slice(&[0x45, tos, 0, 40, 0x12, 0x34, 0, 0, 64, 6, 0, 0]);
    f[26..34].copy_from_slice(&[198, 51, 100, 7, 192, 0, 2, 1]);
    let mut sum: u32 = f[14..34]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

#[test]
fn string_percpu_printk_and_ecn_helpers_as_on_linux() {
    // Every expected value is the host kernel's (6.18) on the same object
    // and frames (`bpftool prog run`, `bpftool map dump`).
    let obj = BpfObject::parse(&object_bytes("misc_helpers")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let run_on = |prog: &str, frame: &[u8]| {
        let h = loaded.program(prog).unwrap();
        let r = e.prog_test_run(h, frame, 1).unwrap();
        (r.retval, r.data_out)
    };
    let frame = ecn_frame(2, false);
    assert_eq!(run_on("strings", &frame).0, 15);
    let bss = lookup(&e, loaded.map(".bss").unwrap(), &0u32.to_ne_bytes()).unwrap();
    let results: Vec<i64> = bss
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        results,
        [-42, 5, 31, 4, 0, 1, 0, -34, 0, -22, -22, 0, 4, 31, 0, 0]
    );
    assert_eq!(run_on("percpu", &frame).0, 3);
    assert_eq!(run_on("vprintk", &frame).0, 785);
    assert_eq!(run_on("skb_state", &frame).0, 14);
    // ECN: the returns and the IP headers' first 12 bytes afterwards.
    for (tos, v6, ret, header) in [
        (0x00, false, 0, "450000281234000040067c60"),
        (0x01, false, 1, "450300281234000040067c5d"),
        (0x02, false, 1, "450300281234000040067c5d"),
        (0x03, false, 1, "450300281234000040067c5d"),
        (0xb9, false, 1, "45bb00281234000040067ba5"),
        (0xbe, false, 1, "45bf00281234000040067ba1"),
        (0x00, true, 0, "600123450014064000000000"),
        (0x01, true, 1, "603123450014064000000000"),
        (0x02, true, 1, "603123450014064000000000"),
        (0xbb, true, 1, "6bb123450014064000000000"),
    ] {
        let (r, out) = run_on("ecn", &ecn_frame(tos, v6));
        let hex: String = out[14..26].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!((r, hex.as_str()), (ret, header), "tos {tos:#x} v6 {v6}");
    }
}

#[test]
fn dynptrs_over_map_values_as_on_linux() {
    // The return value and the value's bytes are the host kernel's (6.18)
    // on the same object (`bpftool prog run`, `bpftool map dump`).
    let obj = BpfObject::parse(&object_bytes("local_dynptr")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let h = loaded.program("local").unwrap();
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 0xffd);
    let value = lookup(&e, loaded.map("store").unwrap(), &0u32.to_ne_bytes()).unwrap();
    let mut want = [0u8; 32];
    want[4..8].copy_from_slice(&0x1122_3344u32.to_le_bytes());
    want[8..12].copy_from_slice(&0x5566_7788u32.to_le_bytes());
    assert_eq!(value, want);
}

#[test]
fn exception_callbacks_of_a_programs_own_as_on_linux() {
    // The returns are the host kernel's (6.18) on the same object and a
    // 54-byte frame (the selftests' libbpf); the host refuses the other
    // three with the same words.
    let obj = BpfObject::parse(&object_bytes("exception_cb")).unwrap();
    let e = client();
    let frame = ecn_frame(2, false);
    for (prog, want) in [("throws_from_a_subprog", 15), ("never_throws", 3)] {
        let loaded = e.load_object_programs(&obj, Some(prog)).unwrap();
        let h = loaded.program(prog).unwrap();
        assert_eq!(
            e.prog_test_run(h, &frame, 1).unwrap().retval,
            want,
            "{prog}"
        );
    }
    for (prog, words) in [
        (
            "throwing_callback",
            "cannot be called from callback subprog",
        ),
        ("calls_its_callback", "cannot call exception cb directly"),
        (
            "callback_of_two_args",
            "exception cb only supports single integer argument",
        ),
    ] {
        let err = e.load_object_programs(&obj, Some(prog)).unwrap_err();
        assert!(err.to_string().contains(words), "{prog}: {err}");
    }
}

#[test]
fn syn_cookies_made_and_checked_as_on_linux() {
    // The host kernel's (6.18) returns on the same object and frames: the
    // MSS the cookie stands for (1460 from the SYN's option; IPv6's
    // default 1220) and the verdicts (the good ACK passes; a forged
    // cookie, another flow, a wrong header length are refused).
    let obj = BpfObject::parse(&object_bytes("syncookie")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let mut syn4 = vec![0u8; 66];
    syn4[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    syn4[12..14].copy_from_slice(&[0x08, 0x00]);
    syn4[14..24].copy_from_slice(&[0x45, 0, 0, 44, 0, 0, 0, 0, 64, 6]);
    syn4[26..34].copy_from_slice(&[198, 51, 100, 7, 192, 0, 2, 1]);
    syn4[34..46].copy_from_slice(&[0x9c, 0x40, 0, 80, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
    syn4[46..48].copy_from_slice(&[0x60, 0x02]);
    syn4[48] = 4;
    syn4[54..58].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    let mut syn6 = vec![0u8; 82];
    syn6[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    syn6[12..14].copy_from_slice(&[0x86, 0xdd]);
    syn6[14] = 0x60;
    syn6[18..22].copy_from_slice(&[0, 20, 6, 64]);
    syn6[22..26].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    syn6[37] = 1;
    syn6[38..42].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    syn6[53] = 2;
    syn6[54..66].copy_from_slice(&[0x9c, 0x40, 1, 0xbb, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]);
    syn6[66..68].copy_from_slice(&[0x50, 0x02]);
    syn6[68] = 4;
    for (prog, frame, want) in [
        ("cookie_v4", &syn4, 0xf_05b4),
        ("cookie_v6", &syn6, 0x3_04c4),
    ] {
        let h = loaded.program(prog).unwrap();
        assert_eq!(e.prog_test_run(h, frame, 1).unwrap().retval, want, "{prog}");
    }
}

#[test]
fn objects_in_lists_and_trees_as_on_linux() {
    // Each program loaded alone and run three times on the same frame,
    // as the selftests' libbpf does on the host kernel (6.18): its
    // returns there.
    let obj = BpfObject::parse(&object_bytes("obj_lists")).unwrap();
    let e = client();
    let frame = ecn_frame(2, false);
    for (prog, want) in [
        // 3, 7, 1 popped; a 2 left on the first run, 1 and 2 on the second.
        ("fifo", [371, 372, 371]),
        ("drain", [0, 0, 0]),
        // A bucket of items 1, 2, 3 kept in a global list between runs.
        ("nested", [0, 6, 6]),
        // A tree of keys 5, 1, 3, 3 taken out from the first: tags 2, 3,
        // 4, 1 (equal keys in the order added).
        ("ordered", [2341, 2341, 2341]),
    ] {
        assert_eq!(runs_alone(&e, &obj, prog, &frame), want, "{prog}");
    }
    // The whole object: what fifo leaves, drain finds (2, 1, 2); the
    // lists are emptied with the map (no object outlives it).
    let loaded = e.load_object(&obj).unwrap();
    let run = |prog: &str| {
        e.prog_test_run(loaded.program(prog).unwrap(), &frame, 1)
            .unwrap()
            .retval
    };
    for _ in 0..3 {
        run("fifo");
    }
    assert_eq!(run("drain"), 3);
    assert_eq!(run("drain"), 0);
    // Userspace sees the value's data, never the list's pointers, and an
    // update empties the lists (Linux frees the old value's objects).
    run("fifo");
    let lists = loaded.map("lists").unwrap();
    let value = lookup(&e, lists, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(value, vec![0u8; 24], "lock and list read as zero");
    let mut v = vec![0u8; 24];
    v[4] = 9;
    e.map_update(lists, &0u32.to_ne_bytes(), &v, 0).unwrap();
    assert_eq!(lookup(&e, lists, &0u32.to_ne_bytes()).unwrap()[4], 9);
    assert_eq!(run("drain"), 0, "the update emptied the list");
}

#[test]
fn objects_pushed_and_popped_by_concurrent_runs_are_never_lost() {
    // Four threads run `fifo` (pushes four items, pops three, under the
    // value's lock) on the same list at once, then the list is drained:
    // exactly one item per run is left. A lost or doubled node (a list
    // changed outside its lock, a block handed out twice) changes the
    // count or breaks the pops' order checks.
    const THREADS: usize = 4;
    const RUNS: usize = 2000;
    let obj = BpfObject::parse(&object_bytes("obj_lists")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let frame = ecn_frame(2, false);
    let fifo = loaded.program("fifo").unwrap();
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for _ in 0..RUNS {
                    let r = e.prog_test_run(fifo, &frame, 1).unwrap().retval;
                    // Three items popped, each of 1, 2, 3 or 7.
                    assert!((111..=777).contains(&r), "{r}");
                }
            });
        }
    });
    let drain = loaded.program("drain").unwrap();
    let mut left = 0;
    // Bounded: a list corrupted into a cycle never empties.
    for _ in 0..THREADS * RUNS / 64 + 2 {
        let n = e.prog_test_run(drain, &frame, 1).unwrap().retval;
        left += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(left as usize, THREADS * RUNS);
}

#[test]
fn a_map_of_the_linux_kernels_objects_fails_only_the_programs_using_it() {
    let obj = BpfObject::parse(&object_bytes("linux_maps")).unwrap();
    let e = client();
    let frame = ecn_frame(2, false);
    // The program using the ordinary map alone loads and runs, its map
    // reference renumbered past the socket map that is not there.
    let loaded = e.load_object_programs(&obj, Some("count")).unwrap();
    let count = loaded.program("count").unwrap();
    let runs: Vec<u32> = (0..2)
        .map(|_| e.prog_test_run(count, &frame, 1).unwrap().retval)
        .collect();
    assert_eq!(runs, [1, 2]);
    assert_eq!(loaded.map("sockets"), None);
    let counts = loaded.map("counts").unwrap();
    assert_eq!(
        lookup(&e, counts, &0u32.to_ne_bytes()).unwrap(),
        2u64.to_ne_bytes()
    );
    // The one using the socket map is refused, saying why.
    for only in [Some("lookup_socket"), None] {
        let err = e.load_object_programs(&obj, only).unwrap_err();
        let log = err.log.unwrap_or_default();
        assert!(
            log.contains("program `lookup_socket`")
                && log.contains(
                    "map `sockets`: map type sockmap (15) holds the Linux kernel's sockets"
                ),
            "{log}"
        );
    }
}

#[test]
fn objects_kept_in_kptrs_and_shared_by_reference_counts_as_on_linux() {
    // The return values are the host kernel's (6.18) on the same object.
    let obj = BpfObject::parse(&object_bytes("kptr_refcount")).unwrap();
    let e = client();
    let frame = ecn_frame(2, false);
    for (prog, want) in [
        // The replaced object's value * 1000 + its leaf's (value * 7).
        ("stash", [0, 1007, 2014]),
        // Alone, nothing stashed to read: -2.
        ("peek", [-2i32 as u32; 3]),
        // A leaf kept in global data, 5 larger each run.
        ("global_kptr", [0, 5, 10]),
        // In a tree and a list at once: 4 read through both, a second
        // push refused, a removal from a tree it is not in refused, gone
        // after.
        ("both", [44111, 44111, 44111]),
    ] {
        assert_eq!(runs_alone(&e, &obj, prog, &frame), want, "{prog}");
    }
    // Userspace reads the slot's data, never the kptr; an update leaves
    // the kptr NULL (Linux drops the object it held).
    let loaded = e.load_object(&obj).unwrap();
    let stash = loaded.program("stash").unwrap();
    e.prog_test_run(stash, &frame, 1).unwrap();
    let slots = loaded.map("slots").unwrap();
    let value = lookup(&e, slots, &0u32.to_ne_bytes()).unwrap();
    let mut want = 1u64.to_ne_bytes().to_vec();
    want.extend([0; 8]);
    assert_eq!(value, want, "one stash, the kptr read as zero");
    // The stashed object read in place: value 1, and 10 times it through
    // a reference of its own.
    let peek = loaded.program("peek").unwrap();
    assert_eq!(e.prog_test_run(peek, &frame, 1).unwrap().retval, 11);
    e.map_update(slots, &0u32.to_ne_bytes(), &[0; 16], 0)
        .unwrap();
    assert_eq!(
        e.prog_test_run(peek, &frame, 1).unwrap().retval,
        -2i32 as u32
    );
    assert_eq!(e.prog_test_run(stash, &frame, 1).unwrap().retval, 0);
    // A hash map's element: read without its kptr; deleted, its object
    // goes with it and the next run starts afresh.
    let hash_stash = loaded.program("hash_stash").unwrap();
    for want in [0, 1] {
        assert_eq!(e.prog_test_run(hash_stash, &frame, 1).unwrap().retval, want);
    }
    let by_key = loaded.map("by_key").unwrap();
    let mut want = 2u64.to_ne_bytes().to_vec();
    want.extend([0; 8]);
    assert_eq!(lookup(&e, by_key, &7u32.to_ne_bytes()).unwrap(), want);
    e.map_delete(by_key, &7u32.to_ne_bytes()).unwrap();
    assert_eq!(e.prog_test_run(hash_stash, &frame, 1).unwrap().retval, 0);
}

#[test]
fn a_kptr_read_in_place_never_shows_another_object() {
    // Two threads replace slot 0's object (`stash`: the old one dropped,
    // its block free for the next allocation) while two read it in place
    // and through a reference of their own (`peek`: value + 10 * value).
    // A freed object's block waits for a grace period before it holds
    // another object, so both reads see one object: a multiple of 11, or
    // -2 (empty) or -3 (freed between the reads). A block reused at once
    // mixes two objects' values.
    const THREADS: usize = 4;
    const RUNS: usize = 3000;
    let obj = BpfObject::parse(&object_bytes("kptr_refcount")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let frame = ecn_frame(2, false);
    let (stash, peek) = (
        loaded.program("stash").unwrap(),
        loaded.program("peek").unwrap(),
    );
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (e, frame, start) = (&e, &frame, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..RUNS {
                    if t % 2 == 0 {
                        e.prog_test_run(stash, frame, 1).unwrap();
                        continue;
                    }
                    let r = e.prog_test_run(peek, frame, 1).unwrap().retval as i32;
                    assert!(
                        r == -2 || r == -3 || (r > 0 && r % 11 == 0),
                        "peek read two objects: {r}"
                    );
                }
            });
        }
    });
}

#[test]
fn ring_buffer_records_through_dynptrs_as_on_linux() {
    // The return value is the host kernel's (6.18) on the same object.
    let obj = BpfObject::parse(&object_bytes("ringbuf_dynptr")).unwrap();
    let e = client();
    let loaded = e.load_object(&obj).unwrap();
    let h = loaded.program("submit_record").unwrap();
    // The read found the written word (1); a reservation larger than the
    // ring (2) and one with flags (4) are -EINVAL.
    assert_eq!(e.prog_test_run(h, &[0u8; 60], 1).unwrap().retval, 7);
    let records = e.ringbuf_consume(loaded.map("events").unwrap()).unwrap();
    let mut want = vec![0xaa; 4];
    want.extend_from_slice(&0x1122_3344u32.to_ne_bytes());
    want.extend_from_slice(&0x5566_7788u32.to_ne_bytes());
    want.extend_from_slice(&[0; 4]);
    // Exactly the submitted record: the failed and discarded ones left none.
    assert_eq!(records, vec![want]);
}

/// `timers.o` loaded on a client of its own, with a frame to run its
/// programs on.
struct TimerObject {
    e: Ebpf,
    loaded: LoadedObject,
    frame: Vec<u8>,
}

impl TimerObject {
    fn load() -> Self {
        let obj = BpfObject::parse(&object_bytes("timers")).unwrap();
        let e = client();
        let loaded = e.load_object(&obj).unwrap();
        TimerObject {
            e,
            loaded,
            frame: ecn_frame(2, false),
        }
    }

    /// A test run's return value of program `name`.
    fn run(&self, name: &str) -> i32 {
        let prog = self.loaded.program(name).unwrap();
        self.e.prog_test_run(prog, &self.frame, 1).unwrap().retval as i32
    }

    fn map(&self, name: &str) -> u32 {
        self.loaded.map(name).unwrap()
    }

    /// Element `k` of `slots`.
    fn slot(&self, k: u32) -> Vec<u8> {
        lookup(&self.e, self.map("slots"), &k.to_ne_bytes()).unwrap()
    }
}

/// Waits (up to ten seconds: timers share the platform's timer context
/// with other tests' slow callbacks, and the VM is slow) until `ready`
/// holds.
fn eventually(mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if ready() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[test]
fn timers_in_map_values_follow_linux_rules() {
    // The return values are the host kernel's (6.18) on the same object:
    // ten helper results as octal digits (1: 0, 2: 1, 0: -EINVAL, 6:
    // -EBUSY). A
    // start before init; init, init again, init on a clock timers do not
    // take; a start without a callback; set_callback; a start with a flag
    // Linux does not know; a start; two cancels (1: it was armed, then 0).
    // Later runs find the timer initialised (-EBUSY), and the cancel let go
    // of the callback, so the first start fails.
    let obj = BpfObject::parse(&object_bytes("timers")).unwrap();
    let e = client();
    let frame = ecn_frame(2, false);
    assert_eq!(
        runs_alone(&e, &obj, "rules", &frame),
        [0o0160010121, 0o0660010121, 0o0660010121]
    );
    // 1 while armed; -EINVAL once the slot was never initialised.
    assert_eq!(
        runs_alone(&e, &obj, "cancel_late", &frame),
        [-22i32 as u32; 3]
    );
}

#[test]
fn timer_callbacks_run_with_their_element() {
    // What the host kernel (6.18) does with the same object (its programs
    // run with `bpftool prog run`, its maps read with `bpftool map dump`).
    let t = TimerObject::load();
    let bss = |at: usize| u64_at(&lookup(&t.e, t.map(".bss"), &[0; 4]).unwrap(), at);

    // Slot 0's callback counts once, sees its key (0), and may not cancel
    // its own timer (-EDEADLK); userspace reads the timer as zeros.
    assert_eq!(t.run("arm"), 0);
    assert!(eventually(|| u64_at(&t.slot(0), 0) == 1), "slot 0 fired");
    assert_eq!(&t.slot(0)[8..], &[0u8; 24], "key 0, the timer read as zero");
    assert_eq!(bss(0) as i64, -35, "a callback cancelling its own timer");

    // A callback re-arms its timer: three expiries.
    assert_eq!(t.run("periodic"), 0);
    assert!(
        eventually(|| u64_at(&t.slot(2), 0) == 3),
        "slot 2 fired 3 times"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(u64_at(&t.slot(2), 0), 3, "and no more");

    // A hash element's callback gets its key and deletes its element.
    assert_eq!(t.run("arm_hash"), 0);
    assert!(eventually(|| bss(8) == 7), "element 7 fired");
    assert!(eventually(|| lookup(
        &t.e,
        t.map("by_key"),
        &7u32.to_ne_bytes()
    )
    .is_none()));

    // An update of the element frees its timer (Linux's
    // bpf_obj_free_fields): the cancel finds none.
    assert_eq!(t.run("arm_late"), 0);
    t.e.map_update(t.map("slots"), &3u32.to_ne_bytes(), &[0; 32], 0)
        .unwrap();
    assert_eq!(t.run("cancel_late"), -22);
    // Armed again, it is cancelled before it fires (1: it was armed).
    assert_eq!(t.run("arm_late"), 0);
    assert_eq!(t.run("cancel_late"), 1);
    assert_eq!(u64_at(&t.slot(3), 0), 0);
}

#[test]
fn a_maps_timers_go_with_its_last_user_reference() {
    // What the host kernel (6.18) does with the same object, its maps
    // pinned and then one unpinned (`bpftool prog run`): while the map has
    // a user reference a second init is -EBUSY, a cancel 1 (it was armed);
    // once its last one goes, its timers are freed (-EINVAL) and a new
    // init is -EPERM. The programs still hold the map.
    let t = TimerObject::load();
    assert_eq!(t.run("arm_late"), 0);
    assert_eq!(t.run("init_late"), -16);
    assert_eq!(t.run("cancel_late"), 1);
    assert_eq!(t.run("arm_late"), 0);
    t.e.close(t.map("slots")).unwrap();
    assert_eq!(t.run("init_late"), -1);
    assert_eq!(t.run("cancel_late"), -22);
    assert_eq!(t.run("arm_late"), -22);
}

#[test]
fn a_cancelled_timer_stays_cancelled_while_its_callback_rearms_it() {
    // Slot 1's callback re-arms its timer at once, for ever. A cancel
    // (1: armed, as on the host kernel) clears the callback, so the
    // running callback's re-arm fails, and waits for it: when the cancel
    // returns, the count is final. Meanwhile two threads free the timer
    // by updating the element and re-arm it, so that cells are freed while
    // their callbacks run (under KASAN in the VM). Fails when the cancel
    // leaves the callback set or returns before a running one ends.
    let t = TimerObject::load();
    let fired = || u64_at(&t.slot(1), 0);
    let clear = || {
        t.e.map_update(t.map("slots"), &1u32.to_ne_bytes(), &[0; 32], 0)
            .unwrap()
    };
    for _ in 0..20 {
        assert_eq!(t.run("forever"), 0);
        let before = fired();
        assert!(eventually(|| fired() > before + 10), "the callback re-arms");
        assert!((0..=1).contains(&t.run("stop")));
        let last = fired();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(fired(), last, "a callback ran after the cancel returned");
        assert_eq!(t.run("stop"), 0);
    }
    std::thread::scope(|s| {
        for role in 0..3 {
            let (t, clear) = (&t, &clear);
            s.spawn(move || {
                for _ in 0..400 {
                    match role {
                        // -EINVAL: a cancel or update came between its
                        // calls.
                        0 => assert!(matches!(t.run("forever"), 0 | -22)),
                        1 => clear(),
                        // 1 or 0; -EINVAL when an update just freed it.
                        _ => assert!(matches!(t.run("stop"), 0 | 1 | -22)),
                    }
                }
            });
        }
    });
    // An update frees the timer without waiting for a running callback,
    // whose re-arm then fails: after a moment, the count is final.
    clear();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let last = fired();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(fired(), last, "freed by the update: no callback after it");
}

#[test]
fn a_program_closed_while_its_callback_runs_lives_until_the_callback_ends() {
    // A slow callback (2^18 loop steps) re-arming its timer at once
    // runs nearly all the time; the object is closed under it, right
    // after a cancel or without one (the map's last user frees the
    // timer). The cell's reference goes with the cancel or free, the
    // handle's with the close: the running callback holds one of its
    // own, or the program would be freed under it (found by the
    // dispatcher fuzzer under AddressSanitizer; `make asan` runs this
    // test, the VM runs it under KASAN).
    for round in 0..12 {
        let t = TimerObject::load();
        assert_eq!(t.run("forever_slow"), 0);
        assert!(eventually(|| u64_at(&t.slot(1), 0) > 0));
        if round % 4 == 0 {
            assert!(matches!(t.run("stop"), 0 | 1));
        }
        // The maps first: their timers are freed (the cell's reference
        // let go of) while the callback may still run; then the last
        // handle of the program.
        let programs = t.loaded.programs.iter().map(|p| p.2);
        for h in t.loaded.maps.iter().map(|m| m.1).chain(programs) {
            t.e.close(h).unwrap();
        }
    }
}
