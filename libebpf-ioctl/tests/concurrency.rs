//! Many threads on the userspace platform operating the same maps at once,
//! programs and userspace requests mixed, with invariants checked during
//! and after the run (docs/maps.md explains why they hold).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use ebpf_core::maps::update::{BPF_ANY, BPF_NOEXIST};
use ebpf_core::maps::{InnerTemplate, Map, MapAttr, MapObject, MapType};
use ebpf_core::{asm, Errno, LoadOptions, LoadedProgram, MemoryMap, Shared, Stack};
use libebpf_ioctl::UserPlatform;

const THREADS: usize = 4;

fn map(attr: MapAttr, id: u32) -> Shared<Map> {
    Shared::try_new(Map::create(UserPlatform::get(), &attr, id).unwrap()).unwrap()
}

fn program(src: &str, maps: &[&Shared<Map>]) -> Shared<LoadedProgram> {
    let insns = asm::assemble(src).unwrap();
    let maps: Vec<_> = maps.iter().map(|m| (*m).clone()).collect();
    let p = LoadedProgram::load(
        UserPlatform::get(),
        1,
        ebpf_core::ProgType::Generic,
        &insns,
        ebpf_core::ProgramMaps::from_list(maps),
        LoadOptions::default(),
    )
    .unwrap();
    Shared::try_new(p).unwrap()
}

fn run(prog: &LoadedProgram, stack: &mut Stack, arg: u64) -> u64 {
    prog.run(stack, &MemoryMap::new(), [arg, 0, 0, 0, 0])
        .unwrap()
}

/// A map-in-map of type `t`, one slot, holding arrays of one 8-byte value.
fn map_of_arrays(t: MapType) -> Shared<Map> {
    let mut attr = MapAttr::new(t, 4, 4, 1);
    attr.inner = Some(InnerTemplate {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        record: Default::default(),
    });
    map(attr, 1)
}

/// An inner map for [`map_of_arrays`], id `id`, its element 0 = `value`.
fn inner_array(id: u32, value: u64) -> MapObject {
    let m = map(MapAttr::new(MapType::Array, 4, 8, 1), id);
    m.update(&0u32.to_ne_bytes(), &value.to_ne_bytes(), BPF_ANY)
        .unwrap();
    MapObject::Map(m)
}

/// A program that looks `key` up in `outer` (a map of arrays) and returns
/// element 0 of the inner map it finds, or 0 when there is none.
fn read_inner(outer: &Shared<Map>, key: u32) -> Shared<LoadedProgram> {
    let src = format!(
        "stw [%r10-4], {key}
         mov %r2, %r10
         add %r2, -4
         lddw %r1, map_idx(0)
         call 1
         jeq %r0, 0, out
         mov %r1, %r0
         stw [%r10-4], 0
         mov %r2, %r10
         add %r2, -4
         call 1
         jeq %r0, 0, out
         ldxdw %r0, [%r0]
         exit
     out:
         mov %r0, 0
         exit"
    );
    program(&src, &[outer])
}

#[test]
fn program_counters_lose_no_increment() {
    let shared = map(MapAttr::new(MapType::Array, 4, 8, 1), 1);
    let percpu = map(MapAttr::new(MapType::PercpuArray, 4, 8, 1), 2);
    let src = "
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx(0)
        call 1
        jeq %r0, 0, out
        mov %r1, 1
        lock add [%r0], %r1
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx(1)
        call 1
        jeq %r0, 0, out
        mov %r1, 1
        lock add [%r0], %r1       ; atomic: userspace threads share CPUs
    out:
        mov %r0, 0
        exit";
    let prog = program(src, &[&shared, &percpu]);
    const RUNS: u64 = 20_000;
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut stack = Stack::new();
                for _ in 0..RUNS {
                    run(&prog, &mut stack, 0);
                }
            });
        }
    });
    let mut v = [0u8; 8];
    shared.lookup(&0u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), RUNS * THREADS as u64, "atomic adds");
    let mut all = vec![0u8; percpu.user_value_size()];
    percpu.lookup(&0u32.to_ne_bytes(), &mut all, 0).unwrap();
    let per_cpu_sum: u64 = all
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .sum();
    assert_eq!(
        per_cpu_sum,
        RUNS * THREADS as u64,
        "per-CPU values sum to all runs"
    );
}

#[test]
fn hash_writers_and_readers_keep_the_map_consistent() {
    const CAP: u32 = 256;
    let h = map(MapAttr::new(MapType::Hash, 8, 8, CAP), 1);
    // Stable keys 0..64, replaced over and over; never absent.
    for k in 0..64u64 {
        h.update(&k.to_ne_bytes(), &(k << 32).to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let misses = AtomicU64::new(0);
    let full_errors = AtomicU64::new(0);
    thread::scope(|s| {
        // Replacers of the stable keys.
        s.spawn(|| {
            let mut version = 0u64;
            while !stop.load(Ordering::Relaxed) {
                version += 1;
                for k in 0..64u64 {
                    h.update(
                        &k.to_ne_bytes(),
                        &((k << 32) | (version & 0xffff_ffff)).to_ne_bytes(),
                        BPF_ANY,
                    )
                    .unwrap();
                }
            }
        });
        // Churners: insert and delete their own keys, racing for the
        // remaining capacity.
        for t in 0..2u64 {
            let h = &h;
            let full_errors = &full_errors;
            s.spawn(move || {
                for round in 0..300u64 {
                    let keys: Vec<u64> = (0..200).map(|i| (t + 1) << 40 | round << 8 | i).collect();
                    for k in &keys {
                        match h.update(&k.to_ne_bytes(), &k.to_ne_bytes(), BPF_NOEXIST) {
                            Ok(()) => {}
                            Err(Errno::E2BIG) => {
                                full_errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("insert: {e}"),
                        }
                    }
                    for k in &keys {
                        let _ = h.delete(&k.to_ne_bytes());
                    }
                }
            });
        }
        // Readers, as programs would: inside a read-side section.
        for _ in 0..2 {
            s.spawn(|| {
                let p = UserPlatform::get();
                while !stop.load(Ordering::Relaxed) {
                    for k in 0..64u64 {
                        let _section = ebpf_core::platform::ReadGuard::new(p);
                        if h.prog_lookup(&k.to_ne_bytes(), 0) == 0 {
                            misses.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "a replaced key was never absent"
    );
    assert!(
        full_errors.load(Ordering::Relaxed) > 0,
        "the churners did fill the map"
    );
    // Quiescent: exactly the stable keys, each visited once, with their own
    // values.
    let mut seen = Vec::new();
    let mut key: Option<[u8; 8]> = None;
    let mut next = [0u8; 8];
    while h
        .get_next_key(key.as_ref().map(|k| &k[..]), &mut next)
        .is_ok()
    {
        seen.push(u64::from_ne_bytes(next));
        key = Some(next);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..64).collect::<Vec<_>>());
    for k in 0..64u64 {
        let mut v = [0u8; 8];
        h.lookup(&k.to_ne_bytes(), &mut v, 0).unwrap();
        assert_eq!(u64::from_ne_bytes(v) >> 32, k);
    }
    // Capacity is exact after the churn: 256 - 64 more keys fit, no more.
    for k in 0..(CAP as u64 - 64) {
        h.update(&(1000 + k).to_ne_bytes(), &[0; 8], BPF_NOEXIST)
            .unwrap();
    }
    assert_eq!(
        h.update(&u64::MAX.to_ne_bytes(), &[0; 8], BPF_NOEXIST),
        Err(Errno::E2BIG)
    );
}

#[test]
fn ringbuf_producers_deliver_every_record_in_order() {
    let rb = map(MapAttr::new(MapType::RingBuf, 0, 0, 16384), 1);
    const PER_THREAD: u64 = 20_000;
    let done = AtomicU64::new(0);
    let mut next_seq = [0u64; THREADS];
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let rb = &rb;
            let done = &done;
            s.spawn(move || {
                let ring = rb.ringbuf().unwrap();
                let mut seq = 0;
                while seq < PER_THREAD {
                    let len = 8 + (seq % 5) as usize * 8;
                    let mut rec = vec![0u8; len];
                    rec[..8].copy_from_slice(&(t << 56 | seq).to_ne_bytes());
                    match ring.output(&rec) {
                        Ok(()) => seq += 1,
                        Err(_) => thread::yield_now(),
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let ring = rb.ringbuf().unwrap();
        let mut total = 0;
        loop {
            let finished = done.load(Ordering::SeqCst) == THREADS as u64;
            total += ring.consume(&mut |r| {
                let v = u64::from_ne_bytes(r[..8].try_into().unwrap());
                let (t, seq) = ((v >> 56) as usize, v & ((1 << 56) - 1));
                assert_eq!(seq, next_seq[t], "producer {t} out of order or lost");
                assert_eq!(r.len(), 8 + (seq % 5) as usize * 8);
                next_seq[t] += 1;
                true
            });
            if finished && ring.query(0) == 0 {
                break;
            }
        }
        assert_eq!(total as u64, PER_THREAD * THREADS as u64);
    });
}

#[test]
fn inner_maps_replaced_under_running_programs_stay_valid() {
    let outer = map_of_arrays(MapType::ArrayOfMaps);
    let make_inner = |id: u32| inner_array(id, id as u64 * 7);
    outer
        .update_object(&0u32.to_ne_bytes(), make_inner(100), BPF_ANY)
        .unwrap();
    let prog = read_inner(&outer, 0);
    let stop = AtomicBool::new(false);
    let swaps = Arc::new(AtomicU64::new(0));
    thread::scope(|s| {
        for _ in 0..THREADS - 1 {
            s.spawn(|| {
                let mut stack = Stack::new();
                while !stop.load(Ordering::Relaxed) {
                    let v = run(&prog, &mut stack, 0);
                    assert!(
                        v % 7 == 0 && (700..7 * 1000).contains(&v),
                        "read {v}: a freed inner map?"
                    );
                }
            });
        }
        for id in 101..600u32 {
            outer
                .update_object(&0u32.to_ne_bytes(), make_inner(id), BPF_ANY)
                .unwrap();
            swaps.fetch_add(1, Ordering::Relaxed);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(swaps.load(Ordering::Relaxed), 499);
}

/// A key deleted before the readers start, in a one-bucket map whose other
/// element is added and deleted without pause: the stale copy of the
/// deleted key sits on the free list, where a reader standing on the
/// churned element can be led. It must never be found again, by a program
/// or by userspace (docs/maps.md, "Hash maps in detail").
#[test]
fn deleted_hash_key_never_comes_back() {
    let h = map(MapAttr::new(MapType::Hash, 8, 8, 1), 1);
    let (k, j) = (7u64.to_ne_bytes(), 9u64.to_ne_bytes());
    h.update(&k, &1u64.to_ne_bytes(), BPF_ANY).unwrap();
    h.update(&k, &2u64.to_ne_bytes(), BPF_ANY).unwrap();
    h.delete(&k).unwrap();
    let stop = AtomicBool::new(false);
    let found = AtomicU64::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                h.update(&j, &3u64.to_ne_bytes(), BPF_ANY).unwrap();
                h.delete(&j).unwrap();
            }
        });
        for t in 0..THREADS - 1 {
            let (h, stop, found) = (&h, &stop, &found);
            s.spawn(move || {
                let p = UserPlatform::get();
                let mut v = [0u8; 8];
                while !stop.load(Ordering::Relaxed) {
                    let hit = if t % 2 == 0 {
                        let _section = ebpf_core::platform::ReadGuard::new(p);
                        h.prog_lookup(&k, 0) != 0
                    } else {
                        h.lookup(&k, &mut v, 0).is_ok()
                    };
                    if hit {
                        found.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(
        found.load(Ordering::Relaxed),
        0,
        "the deleted key was found"
    );
}

/// The inner-map use-after-free, reached as a program reaches it: an inner
/// map replaced and deleted from a one-bucket `HASH_OF_MAPS` is released
/// after its grace period; a program looking the key up while another key
/// is churned must never get it back (it would then read the freed map).
#[test]
fn hash_of_maps_never_returns_a_released_inner_map() {
    let outer = map_of_arrays(MapType::HashOfMaps);
    let inner = |id: u32| inner_array(id, 7);
    let (k, j) = (1u32.to_ne_bytes(), 2u32.to_ne_bytes());
    outer.update_object(&k, inner(10), BPF_ANY).unwrap();
    outer.update_object(&k, inner(11), BPF_ANY).unwrap();
    outer.delete(&k).unwrap();
    // 7 on a hit, 0 on a miss.
    let prog = read_inner(&outer, 1);
    let stop = AtomicBool::new(false);
    let hits = AtomicU64::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let mut id = 100;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                outer.update_object(&j, inner(id), BPF_ANY).unwrap();
                outer.delete(&j).unwrap();
            }
        });
        for _ in 0..THREADS - 1 {
            s.spawn(|| {
                let mut stack = Stack::new();
                while !stop.load(Ordering::Relaxed) {
                    if run(&prog, &mut stack, 0) != 0 {
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(
        hits.load(Ordering::Relaxed),
        0,
        "a released inner map was returned"
    );
}
