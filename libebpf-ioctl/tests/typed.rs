//! Batch operations and the typed map views, on maps the C examples fill
//! and on maps made here. Runs on the embedded backend, or on the device
//! named by `EBPF_TEST_DEVICE`.

mod common;

use common::{client, load_example};
use libebpf_ioctl::{Array, Ebpf, HashMap, LoadedObject, MapSpec, PerCpuArray, Pod, RingBuf};

fn load(e: &Ebpf, name: &str) -> LoadedObject {
    load_example(e, name).1
}

/// Ethernet + IPv4 (+ 20 bytes of TCP to `port`).
fn tcp4(port: u16) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0xc0, 0]);
    p.extend_from_slice(&port.to_be_bytes());
    p.resize(14 + 20 + 20, 0);
    p
}

#[test]
fn batches_walk_update_and_delete_like_linux() {
    let e = client();
    let m = e
        .map_create(&MapSpec {
            name: "batch".into(),
            map_type: 1,
            key_size: 4,
            value_size: 8,
            max_entries: 128,
            ..Default::default()
        })
        .unwrap();
    let elements: Vec<(Vec<u8>, Vec<u8>)> = (0..100u32)
        .map(|i| {
            (
                i.to_ne_bytes().to_vec(),
                (u64::from(i) * 3).to_ne_bytes().to_vec(),
            )
        })
        .collect();
    e.map_update_batch(m, &elements, 0).unwrap();

    let mut seen = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    let mut calls = 0;
    loop {
        let b = e.map_lookup_batch(m, after.as_deref(), 7).unwrap();
        assert!(b.elements.len() <= 7);
        seen.extend(b.elements.iter().map(|(k, v)| {
            (
                u32::from_ne_bytes(k[..].try_into().unwrap()),
                u64::from_ne_bytes(v[..].try_into().unwrap()),
            )
        }));
        calls += 1;
        match b.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..100u32)
            .map(|i| (i, u64::from(i) * 3))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        calls, 15,
        "14 full batches of 7, then the last 2 with the end"
    );

    // BPF_NOEXIST on keys that exist: the first fails, nothing is written.
    let err = e.map_update_batch(m, &elements[..3], 1).unwrap_err();
    assert_eq!(err.errno, ebpf_core::Errno::EEXIST);
    assert!(err.to_string().contains("0 of 3 elements written"), "{err}");

    let keys: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_ne_bytes().to_vec()).collect();
    e.map_delete_batch(m, &keys).unwrap();
    let err = e.map_delete_batch(m, &keys[..1]).unwrap_err();
    assert_eq!(err.errno, ebpf_core::Errno::ENOENT);
    let rest = HashMap::<u32, u64>::new(&e, m).unwrap().entries().unwrap();
    assert_eq!(rest.len(), 50);
    assert!(rest.iter().all(|&(k, v)| k >= 50 && v == u64::from(k) * 3));

    // Sizes are checked before anything reaches the device.
    let err = e
        .map_update_batch(m, &[(vec![1, 2], vec![0; 8])], 0)
        .unwrap_err();
    assert!(err.to_string().contains("key is 2 bytes"), "{err}");
}

#[test]
fn typed_views_read_what_the_examples_wrote() {
    let e = client();

    let filter = load(&e, "port_filter");
    let prog = filter.program("port_filter").unwrap();
    for port in [80, 8080, 80, 22] {
        e.prog_test_run(prog, &tcp4(port), 1).unwrap();
    }
    let drops = HashMap::<u16, u64>::new(&e, filter.map("drops").unwrap()).unwrap();
    assert_eq!(drops.get(&80).unwrap(), Some(2));
    assert_eq!(drops.get(&8080).unwrap(), Some(1));
    assert_eq!(drops.get(&22).unwrap(), None);
    drops.insert(&443, &7, 1).unwrap();
    drops.remove(&8080).unwrap();
    let mut all = drops.entries().unwrap();
    all.sort();
    assert_eq!(all, vec![(80, 2), (443, 7)]);
    assert!(
        HashMap::<u32, u64>::new(&e, filter.map("drops").unwrap()).is_err(),
        "key size"
    );

    let counter = load(&e, "pkt_counter");
    let prog = counter.program("pkt_counter").unwrap();
    for _ in 0..3 {
        e.prog_test_run(prog, &tcp4(1), 1).unwrap();
    }
    let counters = PerCpuArray::<[u64; 2]>::new(&e, counter.map("counters").unwrap()).unwrap();
    let v4 = counters.get(0).unwrap();
    assert_eq!(v4.len(), e.possible_cpus().unwrap() as usize);
    let total = v4.iter().fold([0, 0], |t, c| [t[0] + c[0], t[1] + c[1]]);
    assert_eq!(total, [3, 3 * 54]);
    let zero = vec![[0u64; 2]; v4.len()];
    counters.set(0, &zero).unwrap();
    assert_eq!(counters.get(0).unwrap(), zero);
    assert!(counters.set(0, &zero[..1]).is_err() || zero.len() == 1);

    let tail = load(&e, "tail_call");
    let handled = Array::<u64>::new(&e, tail.map("handled").unwrap()).unwrap();
    assert_eq!(handled.len(), 3);
    e.prog_test_run(tail.program("dispatch").unwrap(), &tcp4(80), 1)
        .unwrap();
    assert_eq!(handled.get(0).unwrap(), 1);
    handled.set(2, &9).unwrap();
    assert_eq!(handled.get(2).unwrap(), 9);
    assert!(handled.get(3).is_err(), "past the end");
    assert!(
        Array::<u64>::new(&e, tail.map("jump_table").unwrap()).is_err(),
        "not an array"
    );

    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Event {
        saddr: [u8; 4],
        daddr: [u8; 4],
        len: u16,
        protocol: u8,
        pad: u8,
    }
    // SAFETY: integers only, no padding.
    unsafe impl Pod for Event {}
    let events = load(&e, "ringbuf_events");
    let prog = events.program("ringbuf_events").unwrap();
    e.prog_test_run(prog, &tcp4(80), 1).unwrap();
    e.prog_test_run(prog, &tcp4(81), 1).unwrap();
    let mut ring = RingBuf::new(&e, events.map("events").unwrap()).unwrap();
    let want = Event {
        saddr: [10, 0, 0, 1],
        daddr: [10, 0, 0, 2],
        len: 54,
        protocol: 6,
        pad: 0,
    };
    assert_eq!(ring.next_as::<Event>().unwrap(), Some(want));
    assert_eq!(ring.next_as::<Event>().unwrap(), Some(want));
    assert_eq!(ring.next_as::<Event>().unwrap(), None);
}
