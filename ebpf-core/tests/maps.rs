//! Map semantics as Linux documents them, one map type at a time, through
//! the userspace API and the program-side entry points.

mod common;

use common::platform::TestPlatform;
use ebpf_core::maps::flags::*;
use ebpf_core::maps::update::*;
use ebpf_core::maps::{InnerTemplate, Map, MapAttr, MapObject, MapType};
use ebpf_core::{Errno, Shared};

fn create(p: &'static TestPlatform, attr: MapAttr) -> Map {
    Map::create(p, &attr, 1).unwrap_or_else(|e| panic!("create {attr:?}: {e}"))
}

fn k32(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

fn lookup_u64(m: &Map, key: &[u8]) -> Result<u64, Errno> {
    let mut v = [0u8; 8];
    m.lookup(key, &mut v, 0)?;
    Ok(u64::from_ne_bytes(v))
}

fn update_u64(m: &Map, key: &[u8], v: u64, flags: u64) -> Result<(), Errno> {
    m.update(key, &v.to_ne_bytes(), flags)
}

/// Reads the u64 a program would see at a value address.
fn read_at(addr: u64) -> u64 {
    assert_ne!(addr, 0);
    // SAFETY: the address is a live map value of at least 8 bytes.
    unsafe { (addr as *const u64).read() }
}

#[test]
fn create_validates_attributes_like_linux() {
    let p = TestPlatform::new(2);
    let bad = |attr: MapAttr| Map::create(p, &attr, 1).err();
    use MapType::*;
    assert_eq!(
        bad(MapAttr::new(Array, 4, 8, 0)),
        Some(Errno::EINVAL),
        "max_entries 0"
    );
    assert_eq!(
        bad(MapAttr::new(Array, 8, 8, 1)),
        Some(Errno::EINVAL),
        "array key must be 4 bytes"
    );
    assert_eq!(
        bad(MapAttr::new(Array, 4, 0, 1)),
        Some(Errno::EINVAL),
        "empty value"
    );
    assert_eq!(
        bad(MapAttr::new(Hash, 0, 8, 1)),
        Some(Errno::EINVAL),
        "empty key"
    );
    assert_eq!(
        bad(MapAttr::new(Hash, 513, 8, 1)),
        Some(Errno::E2BIG),
        "key over the stack size"
    );
    assert_eq!(
        bad(MapAttr::new(PercpuArray, 4, 33 << 10, 1)),
        Some(Errno::E2BIG)
    );
    assert_eq!(
        bad(MapAttr::new(Hash, 4, 8, 1).with_flags(1 << 20)),
        Some(Errno::EINVAL),
        "unknown flag"
    );
    assert_eq!(
        bad(MapAttr::new(Array, 4, 8, 1).with_flags(BPF_F_NO_PREALLOC)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        bad(MapAttr::new(Hash, 4, 8, 1).with_flags(BPF_F_RDONLY | BPF_F_WRONLY)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        bad(MapAttr::new(LpmTrie, 8, 8, 1)),
        Some(Errno::EINVAL),
        "LPM needs NO_PREALLOC"
    );
    assert_eq!(
        bad(MapAttr::new(LpmTrie, 4, 8, 1).with_flags(BPF_F_NO_PREALLOC)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        bad(MapAttr::new(Queue, 4, 8, 1)),
        Some(Errno::EINVAL),
        "queue has no key"
    );
    assert_eq!(
        bad(MapAttr::new(RingBuf, 0, 0, 4096 + 8)),
        Some(Errno::EINVAL),
        "ring not a power of 2"
    );
    assert_eq!(
        bad(MapAttr::new(RingBuf, 0, 0, 2048)),
        Some(Errno::EINVAL),
        "ring under a page"
    );
    assert_eq!(
        bad(MapAttr::new(ProgArray, 4, 8, 1)),
        Some(Errno::EINVAL),
        "prog_array value is an fd"
    );
    assert_eq!(
        bad(MapAttr::new(ArrayOfMaps, 4, 4, 1)),
        Some(Errno::EINVAL),
        "no inner template"
    );
    assert_eq!(
        bad(MapAttr::new(Hash, 4, 8, u32::MAX)),
        Some(Errno::E2BIG),
        "storage over the cap"
    );
    assert_eq!(
        MapType::from_u32(31).err(),
        Some(Errno::EINVAL),
        "user_ringbuf is not provided"
    );
    assert_eq!(
        bad(MapAttr::new(BloomFilter, 4, 8, 10)),
        Some(Errno::EINVAL),
        "a bloom filter has no key"
    );
    assert_eq!(
        bad(MapAttr::new(PerfEventArray, 4, 8, 2)),
        Some(Errno::EINVAL),
        "a perf event array's value is an fd"
    );
    assert_eq!(
        bad(MapAttr::new(PerfEventArray, 4, 4, u32::MAX)),
        Some(Errno::E2BIG),
        "a buffer per slot over the cap"
    );
    assert!(Map::create(
        p,
        &MapAttr::new(Hash, 4, 8, 1).with_flags(BPF_F_NO_PREALLOC),
        1
    )
    .is_ok());
    p.assert_no_leaks();
}

#[test]
fn array_elements_always_exist() {
    let p = TestPlatform::new(1);
    {
        let m = create(p, MapAttr::new(MapType::Array, 4, 8, 4));
        assert_eq!(lookup_u64(&m, &k32(3)), Ok(0), "zero-initialised");
        update_u64(&m, &k32(3), 77, BPF_ANY).unwrap();
        update_u64(&m, &k32(3), 78, BPF_EXIST).unwrap();
        assert_eq!(lookup_u64(&m, &k32(3)), Ok(78));
        assert_eq!(update_u64(&m, &k32(3), 1, BPF_NOEXIST), Err(Errno::EEXIST));
        assert_eq!(update_u64(&m, &k32(4), 1, BPF_ANY), Err(Errno::E2BIG));
        assert_eq!(lookup_u64(&m, &k32(4)), Err(Errno::ENOENT));
        assert_eq!(m.delete(&k32(0)), Err(Errno::EINVAL));
        assert_eq!(
            update_u64(&m, &k32(0), 1, 3),
            Err(Errno::EINVAL),
            "unknown update flag"
        );
        assert_eq!(
            m.update(&k32(0), &[0; 4], BPF_ANY),
            Err(Errno::EINVAL),
            "short value"
        );
        assert_eq!(
            m.lookup(&[0; 8], &mut [0; 8], 0),
            Err(Errno::EINVAL),
            "long key"
        );
        let mut next = [0u8; 4];
        m.get_next_key(None, &mut next).unwrap();
        assert_eq!(next, k32(0));
        m.get_next_key(Some(&k32(2)), &mut next).unwrap();
        assert_eq!(next, k32(3));
        assert_eq!(m.get_next_key(Some(&k32(3)), &mut next), Err(Errno::ENOENT));
        m.get_next_key(Some(&k32(99)), &mut next).unwrap();
        assert_eq!(next, k32(0), "an out-of-range key restarts at 0");
        // Program side: the address of the value itself.
        let a = m.prog_lookup(&k32(3), 0);
        assert_eq!(read_at(a), 78);
        assert!(m.contains_value(a, 8, true));
        assert!(
            !m.contains_value(a + 1, 8, false),
            "one byte past the value"
        );
        assert_eq!(m.prog_lookup(&k32(4), 0), 0);
    }
    p.assert_no_leaks();
}

#[test]
fn rdonly_prog_maps_refuse_program_writes() {
    let p = TestPlatform::new(1);
    let m = create(
        p,
        MapAttr::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY_PROG),
    );
    let a = m.prog_lookup(&k32(0), 0);
    assert!(m.contains_value(a, 8, false));
    assert!(!m.contains_value(a, 8, true));
    assert_eq!(
        m.prog_update(&k32(0), &[1; 8], BPF_ANY, 0),
        Err(Errno::EINVAL)
    );
    update_u64(&m, &k32(0), 5, BPF_ANY).expect("userspace may still write");
}

#[test]
fn percpu_values_are_seen_per_cpu_and_rounded_to_8_bytes() {
    let p = TestPlatform::new(3);
    for t in [
        MapType::PercpuArray,
        MapType::PercpuHash,
        MapType::LruPercpuHash,
    ] {
        let m = create(p, MapAttr::new(t, 4, 4, 4));
        assert_eq!(m.user_value_size(), 3 * 8, "{t:?}");
        let mut v = vec![0u8; 24];
        for cpu in 0..3 {
            v[cpu * 8..cpu * 8 + 4].copy_from_slice(&(100 + cpu as u32).to_ne_bytes());
        }
        m.update(&k32(1), &v, BPF_ANY).unwrap();
        for cpu in 0..3u32 {
            let a = m.prog_lookup(&k32(1), cpu);
            // SAFETY: a live 4-byte value.
            let value = unsafe { (a as *const u32).read() };
            assert_eq!(value, 100 + cpu, "{t:?} cpu {cpu}");
        }
        // A program on CPU 2 changes only CPU 2's value.
        m.prog_update(&k32(1), &9u32.to_ne_bytes(), BPF_ANY, 2)
            .unwrap();
        let mut out = vec![0xffu8; 24];
        m.lookup(&k32(1), &mut out, 0).unwrap();
        let got: Vec<u32> = (0..3)
            .map(|c| u32::from_ne_bytes(out[c * 8..c * 8 + 4].try_into().unwrap()))
            .collect();
        assert_eq!(got, [100, 101, 9], "{t:?}");
        assert!(out[4..8].iter().all(|&b| b == 0), "padding reads as zero");
        if t != MapType::PercpuArray {
            // A new element created by a program: other CPUs read zero.
            m.prog_update(&k32(2), &7u32.to_ne_bytes(), BPF_NOEXIST, 1)
                .unwrap();
            m.lookup(&k32(2), &mut out, 0).unwrap();
            assert_eq!(&out[8..12], &7u32.to_ne_bytes());
            assert!(out[..8].iter().chain(&out[16..]).all(|&b| b == 0), "{t:?}");
        }
        assert_eq!(
            m.update(&k32(1), &[0; 8], BPF_ANY),
            Err(Errno::EINVAL),
            "one CPU's worth"
        );
    }
    p.assert_no_leaks();
}

#[test]
fn hash_flags_capacity_delete_and_lookup_and_delete() {
    let p = TestPlatform::new(1);
    {
        let m = create(p, MapAttr::new(MapType::Hash, 4, 8, 3));
        assert_eq!(lookup_u64(&m, &k32(1)), Err(Errno::ENOENT));
        assert_eq!(update_u64(&m, &k32(1), 10, BPF_EXIST), Err(Errno::ENOENT));
        update_u64(&m, &k32(1), 10, BPF_NOEXIST).unwrap();
        assert_eq!(update_u64(&m, &k32(1), 11, BPF_NOEXIST), Err(Errno::EEXIST));
        update_u64(&m, &k32(1), 12, BPF_EXIST).unwrap();
        assert_eq!(lookup_u64(&m, &k32(1)), Ok(12));
        update_u64(&m, &k32(2), 20, BPF_ANY).unwrap();
        update_u64(&m, &k32(3), 30, BPF_ANY).unwrap();
        assert_eq!(
            update_u64(&m, &k32(4), 40, BPF_ANY),
            Err(Errno::E2BIG),
            "full"
        );
        update_u64(&m, &k32(3), 31, BPF_ANY).expect("replacing in a full map works");
        assert_eq!(lookup_u64(&m, &k32(3)), Ok(31));
        m.delete(&k32(2)).unwrap();
        assert_eq!(m.delete(&k32(2)), Err(Errno::ENOENT));
        update_u64(&m, &k32(4), 40, BPF_ANY).expect("room after a delete");
        let mut v = [0u8; 8];
        m.lookup_and_delete(&k32(4), &mut v, 0).unwrap();
        assert_eq!(u64::from_ne_bytes(v), 40);
        assert_eq!(lookup_u64(&m, &k32(4)), Err(Errno::ENOENT));
        assert_eq!(m.lookup_and_delete(&k32(4), &mut v, 0), Err(Errno::ENOENT));
        // A value pointer held across a replacement stays valid memory.
        let held = m.prog_lookup(&k32(1), 0);
        update_u64(&m, &k32(1), 13, BPF_ANY).unwrap();
        assert!(m.contains_value(held, 8, true));
        assert_eq!(read_at(m.prog_lookup(&k32(1), 0)), 13);
    }
    p.assert_no_leaks();
}

#[test]
fn hash_iteration_visits_each_key_once() {
    let p = TestPlatform::new(1);
    let m = create(p, MapAttr::new(MapType::Hash, 8, 8, 1000));
    for i in 0..1000u64 {
        update_u64(&m, &(i * 7919).to_ne_bytes(), i, BPF_NOEXIST).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let mut key: Option<[u8; 8]> = None;
    let mut next = [0u8; 8];
    while m
        .get_next_key(key.as_ref().map(|k| &k[..]), &mut next)
        .is_ok()
    {
        assert!(seen.insert(next), "key visited twice");
        key = Some(next);
    }
    assert_eq!(seen.len(), 1000);
    m.get_next_key(Some(&u64::MAX.to_ne_bytes()), &mut next)
        .unwrap();
    let mut first = [0u8; 8];
    m.get_next_key(None, &mut first).unwrap();
    assert_eq!(next, first, "a missing key returns the first key");
    // for_each sees the same set.
    let mut n = 0;
    m.for_each(0, &mut |_, _| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 1000);
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let p = TestPlatform::new(1);
    let m = create(p, MapAttr::new(MapType::LruHash, 4, 8, 4));
    for i in 1..=4 {
        update_u64(&m, &k32(i), i as u64, BPF_ANY).unwrap();
    }
    assert_ne!(m.prog_lookup(&k32(1), 0), 0, "a program touches key 1");
    update_u64(&m, &k32(5), 5, BPF_ANY).expect("LRU maps never fill");
    assert_eq!(
        lookup_u64(&m, &k32(2)),
        Err(Errno::ENOENT),
        "2 was least recently used"
    );
    assert_eq!(lookup_u64(&m, &k32(1)), Ok(1), "1 was used");
    update_u64(&m, &k32(6), 6, BPF_ANY).unwrap();
    assert_eq!(lookup_u64(&m, &k32(3)), Err(Errno::ENOENT), "then 3");
    for k in [1, 4, 5, 6] {
        assert!(lookup_u64(&m, &k32(k)).is_ok(), "{k} kept");
    }
}

fn lpm_key(len: u32, data: &[u8]) -> Vec<u8> {
    let mut k = len.to_ne_bytes().to_vec();
    k.extend_from_slice(data);
    k
}

#[test]
fn lpm_matches_the_longest_prefix_ipv4() {
    let p = TestPlatform::new(1);
    let m = create(
        p,
        MapAttr::new(MapType::LpmTrie, 8, 8, 5).with_flags(BPF_F_NO_PREALLOC),
    );
    update_u64(&m, &lpm_key(8, &[10, 0, 0, 0]), 1, BPF_ANY).unwrap();
    update_u64(&m, &lpm_key(16, &[10, 1, 0, 0]), 2, BPF_ANY).unwrap();
    update_u64(&m, &lpm_key(32, &[10, 1, 2, 3]), 3, BPF_ANY).unwrap();
    update_u64(&m, &lpm_key(0, &[0, 0, 0, 0]), 4, BPF_ANY).unwrap();
    let host = |a: [u8; 4]| lpm_key(32, &a);
    assert_eq!(lookup_u64(&m, &host([10, 1, 2, 3])), Ok(3), "host route");
    assert_eq!(lookup_u64(&m, &host([10, 1, 2, 4])), Ok(2));
    assert_eq!(lookup_u64(&m, &host([10, 200, 0, 1])), Ok(1));
    assert_eq!(
        lookup_u64(&m, &host([192, 168, 1, 1])),
        Ok(4),
        "default route /0"
    );
    assert_eq!(
        lookup_u64(&m, &lpm_key(12, &[10, 1, 2, 3])),
        Ok(1),
        "key prefixlen bounds the match"
    );
    assert_eq!(read_at(m.prog_lookup(&host([10, 1, 9, 9]), 0)), 2);
    assert_eq!(
        update_u64(&m, &lpm_key(16, &[10, 1, 0xff, 0xff]), 9, BPF_NOEXIST),
        Err(Errno::EEXIST),
        "bits past the prefix do not count"
    );
    assert_eq!(
        update_u64(&m, &lpm_key(33, &[0; 4]), 9, BPF_ANY),
        Err(Errno::EINVAL)
    );
    update_u64(&m, &lpm_key(24, &[1, 2, 3, 0]), 5, BPF_ANY).unwrap();
    assert_eq!(
        update_u64(&m, &lpm_key(24, &[1, 2, 4, 0]), 6, BPF_ANY),
        Err(Errno::ENOSPC),
        "full"
    );
    // Iteration visits every prefix once.
    let mut keys = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = [0u8; 8];
    while m.get_next_key(key.as_deref(), &mut next).is_ok() {
        keys.push(next.to_vec());
        key = Some(next.to_vec());
    }
    assert_eq!(keys.len(), 5);
    m.delete(&lpm_key(0, &[0; 4])).unwrap();
    assert_eq!(lookup_u64(&m, &host([192, 168, 1, 1])), Err(Errno::ENOENT));
    assert_eq!(m.delete(&lpm_key(0, &[0; 4])), Err(Errno::ENOENT));
    drop(m);
    p.assert_no_leaks();
}

#[test]
fn lpm_matches_the_longest_prefix_ipv6() {
    let p = TestPlatform::new(1);
    let m = create(
        p,
        MapAttr::new(MapType::LpmTrie, 20, 8, 8).with_flags(BPF_F_NO_PREALLOC),
    );
    let net = |len: u32, head: &[u8]| {
        let mut a = [0u8; 16];
        a[..head.len()].copy_from_slice(head);
        lpm_key(len, &a)
    };
    update_u64(&m, &net(32, &[0x20, 0x01, 0x0d, 0xb8]), 1, BPF_ANY).unwrap();
    update_u64(&m, &net(64, &[0x20, 0x01, 0x0d, 0xb8, 0, 1]), 2, BPF_ANY).unwrap();
    update_u64(
        &m,
        &net(
            127,
            &[
                0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ],
        ),
        3,
        BPF_ANY,
    )
    .unwrap();
    let addr = |bytes: &[u8]| net(128, bytes);
    assert_eq!(
        lookup_u64(
            &m,
            &addr(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11])
        ),
        Ok(3),
        "/127 covers ::10 and ::11"
    );
    assert_eq!(
        lookup_u64(
            &m,
            &addr(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12])
        ),
        Ok(2)
    );
    assert_eq!(
        lookup_u64(&m, &addr(&[0x20, 0x01, 0x0d, 0xb8, 0, 2])),
        Ok(1)
    );
    assert_eq!(lookup_u64(&m, &addr(&[0x20, 0x02])), Err(Errno::ENOENT));
    assert_eq!(
        update_u64(&m, &net(129, &[]), 1, BPF_ANY),
        Err(Errno::EINVAL)
    );
}

#[test]
fn queue_is_fifo_and_stack_is_lifo() {
    let p = TestPlatform::new(1);
    for (t, order) in [(MapType::Queue, [1u64, 2, 3]), (MapType::Stack, [3, 2, 1])] {
        let m = create(p, MapAttr::new(t, 0, 8, 3));
        for v in 1..=3u64 {
            update_u64(&m, &[], v, BPF_ANY).unwrap();
        }
        assert_eq!(
            update_u64(&m, &[], 4, BPF_ANY),
            Err(Errno::E2BIG),
            "{t:?} full"
        );
        assert_eq!(update_u64(&m, &[], 4, BPF_NOEXIST), Err(Errno::EINVAL));
        assert_eq!(lookup_u64(&m, &[]), Ok(order[0]), "peek");
        let mut v = [0u8; 8];
        for want in order {
            m.lookup_and_delete(&[], &mut v, 0).unwrap();
            assert_eq!(u64::from_ne_bytes(v), want, "{t:?}");
        }
        assert_eq!(m.lookup_and_delete(&[], &mut v, 0), Err(Errno::ENOENT));
        assert_eq!(lookup_u64(&m, &[]), Err(Errno::ENOENT));
        assert_eq!(m.delete(&[]), Err(Errno::EINVAL));
        assert_eq!(m.get_next_key(None, &mut []), Err(Errno::EINVAL));
        // BPF_EXIST makes room by dropping the oldest.
        for v in 1..=4u64 {
            update_u64(&m, &[], v, BPF_EXIST).unwrap();
        }
        let mut got = Vec::new();
        while m.lookup_and_delete(&[], &mut v, 0).is_ok() {
            got.push(u64::from_ne_bytes(v));
        }
        let want: Vec<u64> = if t == MapType::Queue {
            vec![2, 3, 4]
        } else {
            vec![4, 3, 2]
        };
        assert_eq!(got, want, "{t:?}");
    }
    p.assert_no_leaks();
}

fn consume_all(m: &Map) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    m.ringbuf().unwrap().consume(&mut |r| {
        out.push(r.to_vec());
        true
    });
    out
}

#[test]
fn ringbuf_orders_records_wraps_and_skips_discarded() {
    let p = TestPlatform::new(1);
    let m = create(p, MapAttr::new(MapType::RingBuf, 0, 0, 4096));
    let rb = m.ringbuf().unwrap();
    assert_eq!(rb.query(1), 4096, "BPF_RB_RING_SIZE");
    rb.output(b"first").unwrap();
    let a = rb.reserve(3).unwrap();
    let b = rb.reserve(4).unwrap();
    // SAFETY: reserved records of 3 and 4 bytes.
    unsafe {
        std::ptr::copy(b"bbbb".as_ptr(), b as *mut u8, 4);
        std::ptr::copy(b"aaa".as_ptr(), a as *mut u8, 3);
    }
    rb.commit(b, false);
    assert_eq!(
        consume_all(&m),
        vec![b"first".to_vec()],
        "a busy record blocks the ones after it"
    );
    rb.commit(a, true);
    assert_eq!(
        consume_all(&m),
        vec![b"bbbb".to_vec()],
        "the discarded record is skipped"
    );
    assert_eq!(rb.query(0), 0, "nothing left");
    // Wrap around many times with records that do not divide the size.
    let mut expected = 0u32;
    for round in 0..50u32 {
        for i in 0..3u32 {
            let n = round * 3 + i;
            let rec = vec![n as u8; 1000 + (n % 7) as usize];
            rb.output(&rec).unwrap();
        }
        for r in consume_all(&m) {
            assert_eq!(r.len(), 1000 + (expected % 7) as usize);
            assert!(r.iter().all(|&x| x == expected as u8));
            expected += 1;
        }
    }
    assert_eq!(expected, 150);
    // Full: no room for a record of the whole size.
    assert!(rb.reserve(4096).is_none());
    // Two records of 1200 bytes always fit (with at most one padding
    // record before them); a third of 2000 cannot.
    rb.output(&[0; 1200]).unwrap();
    rb.output(&[0; 1200]).unwrap();
    assert_eq!(rb.output(&[0; 2000]), Err(Errno::EAGAIN), "full");
    assert_eq!(consume_all(&m).len(), 2);
    rb.output(&[0; 2000]).expect("room again once consumed");
    assert_eq!(rb.query(0), rb.query(3) - rb.query(2));
    assert_eq!(m.lookup(&[], &mut [], 0), Err(Errno::ENOTSUPP));
}

#[test]
fn bpf_f_lock_needs_a_lock_and_hides_it() {
    let p = TestPlatform::new(1);
    let plain = create(p, MapAttr::new(MapType::Hash, 4, 16, 2));
    assert_eq!(
        plain.update(&k32(1), &[1; 16], BPF_ANY | BPF_F_LOCK),
        Err(Errno::EINVAL)
    );
    let mut attr = MapAttr::new(MapType::Hash, 4, 16, 2);
    attr.record = ebpf_core::graph::types::Record::spin_lock_at(0, 16).unwrap();
    let m = create(p, attr);
    m.update(&k32(1), &[7; 16], BPF_ANY).unwrap();
    m.update(&k32(1), &[9; 16], BPF_EXIST | BPF_F_LOCK).unwrap();
    let mut out = [0u8; 16];
    m.lookup(&k32(1), &mut out, BPF_F_LOCK).unwrap();
    assert_eq!(&out[..4], &[0; 4], "the lock word reads as zero");
    assert_eq!(&out[4..], &[9; 12]);
    assert_eq!(
        m.lookup(&k32(1), &mut out, 8),
        Err(Errno::EINVAL),
        "unknown lookup flag"
    );
}

#[test]
fn maps_of_objects_own_their_objects() {
    let p = TestPlatform::new(1);
    {
        let inner_attr = MapAttr::new(MapType::Array, 4, 8, 2);
        let mut outer_attr = MapAttr::new(MapType::ArrayOfMaps, 4, 4, 2);
        outer_attr.inner = Some(InnerTemplate {
            map_type: MapType::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 2,
            flags: 0,
            record: Default::default(),
        });
        let outer = create(p, outer_attr);
        let inner = Shared::try_new(Map::create(p, &inner_attr, 42).unwrap()).unwrap();
        let wrong =
            Shared::try_new(Map::create(p, &MapAttr::new(MapType::Array, 4, 4, 2), 43).unwrap())
                .unwrap();
        assert_eq!(
            outer.update_object(&k32(0), MapObject::Map(wrong.clone()), BPF_ANY),
            Err(Errno::EINVAL),
            "template mismatch"
        );
        outer
            .update_object(&k32(0), MapObject::Map(inner.clone()), BPF_ANY)
            .unwrap();
        assert_eq!(Shared::count(&inner), 2, "the slot holds a reference");
        let mut id = [0u8; 4];
        outer.lookup(&k32(0), &mut id, 0).unwrap();
        assert_eq!(
            u32::from_ne_bytes(id),
            42,
            "userspace sees the inner map's id"
        );
        assert_eq!(outer.prog_lookup(&k32(0), 0), Shared::as_ptr(&inner) as u64);
        assert_eq!(outer.lookup(&k32(1), &mut id, 0), Err(Errno::ENOENT));
        let before = p.synchronizes.load(std::sync::atomic::Ordering::SeqCst);
        outer.delete(&k32(0)).unwrap();
        assert!(
            p.synchronizes.load(std::sync::atomic::Ordering::SeqCst) > before,
            "waits a grace period"
        );
        assert_eq!(Shared::count(&inner), 1);

        let mut hattr = outer_attr;
        hattr.map_type = MapType::HashOfMaps;
        let hom = create(p, hattr);
        hom.update_object(&k32(7), MapObject::Map(inner.clone()), BPF_NOEXIST)
            .unwrap();
        assert_eq!(
            hom.update_object(&k32(7), MapObject::Map(inner.clone()), BPF_NOEXIST),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            Shared::count(&inner),
            2,
            "a failed update keeps no reference"
        );
        hom.lookup(&k32(7), &mut id, 0).unwrap();
        assert_eq!(u32::from_ne_bytes(id), 42);
        outer
            .update_object(&k32(1), MapObject::Map(inner.clone()), BPF_ANY)
            .unwrap();
        assert_eq!(Shared::count(&inner), 3);
        drop(outer);
        hom.release_objects();
        assert_eq!(
            Shared::count(&inner),
            1,
            "dropping or clearing releases the objects"
        );
    }
    p.assert_no_leaks();
}

/// The footprint accounting charges before creating a map is exactly the
/// storage the map then allocates (locks aside), for every type.
#[test]
fn footprint_is_what_creation_allocates() {
    use std::sync::atomic::Ordering;
    let p = TestPlatform::new(3);
    let template = InnerTemplate {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        record: Default::default(),
    };
    let mut shapes = vec![
        MapAttr::new(MapType::Array, 4, 12, 10),
        MapAttr::new(MapType::PercpuArray, 4, 12, 10),
        MapAttr::new(MapType::Hash, 6, 12, 100),
        MapAttr::new(MapType::PercpuHash, 6, 12, 100),
        MapAttr::new(MapType::LruHash, 8, 3, 7),
        MapAttr::new(MapType::LruPercpuHash, 8, 3, 7),
        MapAttr::new(MapType::LpmTrie, 8, 12, 5).with_flags(BPF_F_NO_PREALLOC),
        MapAttr::new(MapType::Queue, 0, 12, 9),
        MapAttr::new(MapType::Stack, 0, 12, 9),
        MapAttr::new(MapType::RingBuf, 0, 0, 4096),
        MapAttr::new(MapType::ProgArray, 4, 4, 5),
    ];
    for t in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
        let mut a = MapAttr::new(t, 4, 4, 33);
        a.inner = Some(template);
        shapes.push(a);
    }
    for attr in shapes {
        let before = p.live_bytes.load(Ordering::SeqCst);
        let expected = Map::footprint(p, &attr).unwrap();
        let m = create(p, attr);
        let allocated = p.live_bytes.load(Ordering::SeqCst) - before;
        assert_eq!(allocated as u64, expected, "{:?}", attr.map_type);
        assert_eq!(m.memory_bytes(), expected);
    }
    assert_eq!(
        Map::footprint(p, &MapAttr::new(MapType::Array, 4, 8, 1 << 28)),
        Err(Errno::E2BIG),
        "over the per-map cap"
    );
    p.assert_no_leaks();
}
