//! Map operations: lookup and update on array and hash maps, from a program
//! and from the userspace API, with the host kernel's own maps (bpf(2)) in
//! the same run where it is usable. Criterion reports each case; the
//! summary after it gives ns per operation and the ratio to Linux.
//!
//! Read the ratios with their setting in mind: the userspace API here is
//! the embedded backend (a function call), Linux's is a system call; from a
//! program, ours is interpreted and Linux's is JIT-compiled, and Linux's
//! time is the kernel's own BPF_PROG_TEST_RUN measurement.

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use ebpf_bench::median_ns;
use ebpf_core::maps::{Map, MapAttr, MapType};
use ebpf_core::{asm, LoadOptions, LoadedProgram, MemoryMap, Shared, Stack};
use host_bpf::{Map as KernelMap, Program as KernelProgram, PROG_TYPE_SOCKET_FILTER};
use libebpf_ioctl::UserPlatform;

const ENTRIES: u32 = 1024;

/// Looks key 0 up and adds 1 to the value atomically.
fn lookup_program(map: &str) -> String {
    format!(
        "stw [%r10-4], 0
         mov %r2, %r10
         add %r2, -4
         lddw %r1, {map}
         call 1
         jeq %r0, 0, +2
         mov %r1, 1
         lock add [%r0], %r1
         mov %r0, 0
         exit"
    )
}

const EMPTY_PROGRAM: &str = "mov %r0, 0\n exit";

struct Case {
    name: &'static str,
    map_type: MapType,
}

const CASES: [Case; 2] = [
    Case {
        name: "array",
        map_type: MapType::Array,
    },
    Case {
        name: "hash",
        map_type: MapType::Hash,
    },
];

fn our_map(t: MapType) -> Shared<Map> {
    let m = Map::create(UserPlatform::get(), &MapAttr::new(t, 4, 8, ENTRIES), 1).unwrap();
    for k in 0..ENTRIES {
        m.update(&k.to_ne_bytes(), &[0; 8], 0).unwrap();
    }
    Shared::try_new(m).unwrap()
}

fn our_program(src: &str, maps: &[Shared<Map>]) -> LoadedProgram {
    let insns = asm::assemble(src).unwrap();
    LoadedProgram::load(
        UserPlatform::get(),
        1,
        ebpf_core::ProgType::SocketFilter,
        &insns,
        ebpf_core::ProgramMaps::from_list(maps.to_vec()),
        LoadOptions::default(),
    )
    .unwrap()
}

fn kernel_map(t: MapType) -> Option<KernelMap> {
    let m = KernelMap::create(t as u32, 4, 8, ENTRIES).ok()?;
    for k in 0..ENTRIES {
        m.update(&k.to_ne_bytes(), &[0; 8], 0).ok()?;
    }
    Some(m)
}

fn kernel_program(src: &str) -> Option<KernelProgram> {
    let bytes: Vec<u8> = asm::assemble(src)
        .ok()?
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect();
    KernelProgram::load(PROG_TYPE_SOCKET_FILTER, &bytes, 1).ok()
}

/// Mean ns of one kernel run of `prog`, median of a few TEST_RUN calls.
fn kernel_run_ns(prog: &KernelProgram) -> f64 {
    let mut data = [0u8; 64];
    let mut v: Vec<u32> = (0..7)
        .filter_map(|_| prog.test_run(&mut data, 200_000).ok())
        .map(|r| r.duration_ns)
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).map_or(f64::NAN, |&x| x as f64)
}

fn bench(c: &mut Criterion) {
    let mut stack = Stack::new();
    let mem = MemoryMap::new();
    for case in &CASES {
        let map = our_map(case.map_type);
        let kmap = kernel_map(case.map_type);
        let mut group = c.benchmark_group(format!("map_{}", case.name));
        let key = 7u32.to_ne_bytes();
        let mut value = [0u8; 8];
        group.bench_function("user_lookup/ebpf-kmod", |b| {
            b.iter(|| map.lookup(black_box(&key), &mut value, 0).unwrap())
        });
        group.bench_function("user_update/ebpf-kmod", |b| {
            b.iter(|| map.update(black_box(&key), &value, 0).unwrap())
        });
        if let Some(k) = &kmap {
            group.bench_function("user_lookup/linux", |b| {
                b.iter(|| k.lookup(black_box(&key), &mut value).unwrap())
            });
            group.bench_function("user_update/linux", |b| {
                b.iter(|| k.update(black_box(&key), &value, 0).unwrap())
            });
        }
        let prog = our_program(&lookup_program("map_idx(0)"), std::slice::from_ref(&map));
        group.bench_function("prog_lookup/ebpf-kmod", |b| {
            b.iter(|| prog.run(&mut stack, &mem, [0; 5]).unwrap())
        });
        group.finish();
    }
}

fn summary() {
    println!("\nsummary: ns per operation (median of batches), ratio = Linux / ebpf-kmod (> 1: we are faster)");
    let mut stack = Stack::new();
    let mem = MemoryMap::new();
    let empty = our_program(EMPTY_PROGRAM, &[]);
    let our_empty = median_ns(9, || {
        black_box(empty.run(&mut stack, &mem, [0; 5]).unwrap());
    });
    let k_empty = kernel_program(EMPTY_PROGRAM).map(|p| kernel_run_ns(&p));
    println!(
        "  empty program run: ebpf-kmod {our_empty:.1} ns, linux {}",
        fmt(k_empty)
    );
    for case in &CASES {
        let map = our_map(case.map_type);
        let kmap = kernel_map(case.map_type);
        let key = 7u32.to_ne_bytes();
        let mut value = [0u8; 8];
        let ours = [
            median_ns(9, || map.lookup(black_box(&key), &mut value, 0).unwrap()),
            median_ns(9, || map.update(black_box(&key), &[1; 8], 0).unwrap()),
        ];
        let theirs = kmap.as_ref().map(|k| {
            [
                median_ns(9, || k.lookup(black_box(&key), &mut value).unwrap()),
                median_ns(9, || k.update(black_box(&key), &[1; 8], 0).unwrap()),
            ]
        });
        for (i, op) in ["user lookup", "user update"].iter().enumerate() {
            row(case.name, op, ours[i], theirs.map(|t| t[i]));
        }
        let prog = our_program(&lookup_program("map_idx(0)"), std::slice::from_ref(&map));
        let our_prog = median_ns(9, || {
            black_box(prog.run(&mut stack, &mem, [0; 5]).unwrap());
        }) - our_empty;
        let k_prog = kmap.as_ref().and_then(|k| {
            let p = kernel_program(&lookup_program(&format!("map_fd({})", k.fd())))?;
            Some(kernel_run_ns(&p) - k_empty?)
        });
        row(
            case.name,
            "prog lookup+add (minus empty run)",
            our_prog,
            k_prog,
        );
    }
    if kernel_map(MapType::Array).is_none() {
        println!("  (the host's bpf(2) is not usable here: no Linux column)");
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1} ns"))
}

fn row(map: &str, op: &str, ours: f64, linux: Option<f64>) {
    let ratio = linux.map_or("n/a".into(), |l| format!("{:.2}x", l / ours));
    println!(
        "  {map:<6} {op:<36} ebpf-kmod {ours:>7.1} ns   linux {:>10}   ratio {ratio}",
        fmt(linux)
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
