//! Native speed, side by side in one run:
//!
//! 1. ns per executed instruction of the workloads: ebpf-core's
//!    interpreter (verified, no run-time checks), ebpf-core's JIT, rbpf's
//!    interpreter and JIT on the same bytes;
//! 2. the seed's port filter (`examples/c/port_filter.c`) per packet, a
//!    dropped one (IPv4 TCP to port 80) and a passed one (to port 22),
//!    through `PROG_TEST_RUN` with a repeat count: the embedded backend
//!    compiled and interpreted, against the host kernel's `bpf(2)` (its
//!    JIT) on the same object and packets. Ratios > 1 mean the peer is
//!    slower than ebpf-core's JIT.

use std::hint::black_box;

use ebpf_bench::{embedder_run, median, median_ns, workloads};
use ebpf_core::Stack;
use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::{Ebpf, UserPlatform};

fn per_instruction() {
    println!(
        "\n{:<14} {:>8} {:>12} {:>12} {:>12} {:>12} {:>11}",
        "workload", "insns", "interpreter", "ebpf JIT", "rbpf", "rbpf JIT", "rbpfJIT/JIT"
    );
    for w in workloads() {
        let insns = w.executed_insns() as f64;
        let interpreted = w.load_unchecked();
        let mut compiled = w.load_unchecked();
        compiled.compile(UserPlatform::get()).expect("compiles");
        let (mut s1, mut m1) = (Stack::new(), w.memory.clone());
        let (mut s2, mut m2) = (Stack::new(), w.memory.clone());
        let mut interp = embedder_run(&interpreted, &mut s1, &mut m1);
        let mut native = embedder_run(&compiled, &mut s2, &mut m2);
        let bytes = w.bytes();
        let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
        let mut jvm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
        let rbpf_jit = jvm.jit_compile().is_ok();
        let (mut m3, mut m4) = (w.memory.clone(), w.memory.clone());
        let mut rows = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        // Interleaved, so all see the same machine conditions.
        for _ in 0..5 {
            rows[0].push(median_ns(5, || {
                black_box(interp());
            }));
            rows[1].push(median_ns(5, || {
                black_box(native());
            }));
            rows[2].push(median_ns(5, || {
                black_box(vm.execute_program(&mut m3).unwrap());
            }));
            if rbpf_jit {
                rows[3].push(median_ns(5, || {
                    // SAFETY: the workloads stay inside their memory (their
                    // checked runs in `executed_insns` prove it).
                    black_box(unsafe { jvm.execute_program_jit(&mut m4) }.unwrap());
                }));
            }
        }
        let mid = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).map(|t| t / insns)
        };
        let [a, b, c, d] = rows.each_mut().map(mid);
        let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3} ns/i"));
        let ratio = match (d, b) {
            (Some(d), Some(b)) => format!("{:.2}x", d / b),
            _ => "-".into(),
        };
        println!(
            "{:<14} {:>8} {:>12} {:>12} {:>12} {:>12} {:>11}",
            w.name,
            insns as u64,
            show(a),
            show(b),
            show(c),
            show(d),
            ratio
        );
    }
}

const REPEAT: u32 = 200_000;

fn port_filter() {
    let path = ebpf_bench::examples_dir().join("port_filter.o");
    let Ok(bytes) = std::fs::read(&path) else {
        println!("\nport filter: {} missing (make examples)", path.display());
        return;
    };
    let obj = BpfObject::parse(&bytes).unwrap();
    let p = &obj.programs[0];
    let e = Ebpf::embedded().unwrap();
    let load = |jit: bool| {
        UserPlatform::get().set_jit(jit);
        ebpf_bench::load_first(&e, &obj)
    };
    let compiled = load(true);
    let interpreted = load(false);
    UserPlatform::get().set_jit(true);
    let jited = e.prog_info(compiled).unwrap().jited_len;
    let host = match host_bpf::unavailable() {
        Some(why) => Err(why),
        None => ebpf_bench::host_maps(&obj)
            .and_then(|maps| Ok((ebpf_bench::host_program(p, &maps, 1)?, maps))),
    };
    println!("\nport filter per packet ({REPEAT} runs per sample, median of 7; ebpf JIT code {jited} bytes)");
    println!(
        "{:<8} {:>12} {:>14} {:>12} {:>12} {:>14}",
        "packet", "ebpf JIT", "interpreter", "host JIT", "host/JIT", "interp./JIT"
    );
    for (name, port, verdict) in ebpf_bench::PORT_FILTER_CASES {
        let frame = ebpf_bench::tcp_frame(port);
        let ours = |h: u32| {
            median(
                (0..7)
                    .map(|_| {
                        let r = e.prog_test_run(h, &frame, REPEAT).unwrap();
                        assert_eq!(r.retval, verdict);
                        f64::from(r.duration_ns)
                    })
                    .collect(),
            )
        };
        let (jit, interp) = (ours(compiled), ours(interpreted));
        let linux = host.as_ref().ok().map(|(prog, _)| {
            median(
                (0..7)
                    .map(|_| {
                        let mut data = frame.clone();
                        let r = prog.test_run(&mut data, REPEAT).unwrap();
                        assert_eq!(r.retval, verdict);
                        f64::from(r.duration_ns)
                    })
                    .collect(),
            )
        });
        let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ns"));
        println!(
            "{name:<8} {:>12} {:>14} {:>12} {:>12} {:>13.2}x",
            show(Some(jit)),
            show(Some(interp)),
            show(linux),
            linux.map_or("-".into(), |l| format!("{:.2}x", l / jit)),
            interp / jit
        );
    }
    if let Err(why) = host {
        println!("  (no host column: {why})");
    }
}

fn main() {
    per_instruction();
    port_filter();
}
