//! Interpreter speed: ebpf-core against the rbpf crate's interpreter on the
//! same bytecode, in the same run. Criterion reports time per run of each;
//! the summary after it gives ns per executed instruction and the ratio.

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use ebpf_bench::{embedder_run, median_ns, workloads};
use ebpf_core::Stack;

fn interpreters(c: &mut Criterion) {
    for w in workloads() {
        let mut group = c.benchmark_group(w.name);
        let prog = w.load();
        let (mut stack, mut mem) = (Stack::new(), w.memory.clone());
        let mut run = embedder_run(&prog, &mut stack, &mut mem);
        group.bench_function("ebpf-core", |b| b.iter(|| black_box(run())));
        let verified = w.load_unchecked();
        let (mut stack, mut mem) = (Stack::new(), w.memory.clone());
        let mut run = embedder_run(&verified, &mut stack, &mut mem);
        group.bench_function("ebpf-core-verified", |b| b.iter(|| black_box(run())));
        let bytes = w.bytes();
        let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
        let mut mem = w.memory.clone();
        group.bench_function("rbpf", |b| {
            b.iter(|| black_box(vm.execute_program(black_box(&mut mem)).unwrap()))
        });
        group.finish();
    }
}

/// Interleaved side-by-side measurement, printed as ns/insn and a ratio.
fn summary() {
    println!(
        "\n{:<14} {:>8} {:>14} {:>14} {:>14} {:>10} {:>12}",
        "workload", "insns", "ebpf-core", "verified", "rbpf", "rbpf/ours", "checked/ver."
    );
    for w in workloads() {
        let insns = w.executed_insns() as f64;
        let prog = w.load();
        let bytes = w.bytes();
        let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
        let (mut stack, mut a) = (Stack::new(), w.memory.clone());
        let mut run = embedder_run(&prog, &mut stack, &mut a);
        let verified = w.load_unchecked();
        let (mut vstack, mut va) = (Stack::new(), w.memory.clone());
        let mut vrun = embedder_run(&verified, &mut vstack, &mut va);
        let mut b = w.memory.clone();
        // Alternate them so all see the same machine conditions.
        let (mut ours, mut ver, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            ours.push(median_ns(5, || {
                black_box(run());
            }));
            ver.push(median_ns(5, || {
                black_box(vrun());
            }));
            theirs.push(median_ns(5, || {
                black_box(vm.execute_program(black_box(&mut b)).unwrap());
            }));
        }
        ours.sort_by(f64::total_cmp);
        ver.sort_by(f64::total_cmp);
        theirs.sort_by(f64::total_cmp);
        let (o, v, t) = (ours[2] / insns, ver[2] / insns, theirs[2] / insns);
        println!(
            "{:<14} {:>8} {:>9.2} ns/i {:>9.2} ns/i {:>9.2} ns/i {:>9.2}x {:>11.2}x",
            w.name,
            insns as u64,
            o,
            v,
            t,
            t / o,
            o / v
        );
    }
}

criterion_group!(benches, interpreters);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
