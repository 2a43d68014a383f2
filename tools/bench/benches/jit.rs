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
//!    slower than ebpf-core's JIT;
//! 3. likewise an XDP program counting packets in an array map, whose
//!    lookup both JITs compute in line.

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
    let cases: Vec<(&str, Vec<u8>, u32)> = ebpf_bench::PORT_FILTER_CASES
        .iter()
        .map(|&(name, port, verdict)| (name, ebpf_bench::tcp_frame(port), verdict))
        .collect();
    side_by_side("port filter", &obj, &cases);
}

/// An XDP program counting packets per the first byte of the frame in an
/// array (Linux's JIT, like ours, computes the lookup in line).
fn array_counter() {
    use libebpf_ioctl::elf::{MapDef, MapOrigin, ProgDef};
    let insns = ebpf_core::asm::assemble(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\n\
         jgt %r4, %r3, out\nldxb %r5, [%r2+0]\nstxw [%r10-4], %r5\nmov %r2, %r10\n\
         add %r2, -4\nlddw %r1, map_idx(0)\ncall 1\njeq %r0, 0, out\nmov %r1, 1\n\
         lock add [%r0], %r1\nout: mov %r0, 2\nexit",
    )
    .unwrap();
    let obj = BpfObject {
        license: "GPL".into(),
        maps: vec![MapDef {
            name: "counts".into(),
            spec: libebpf_ioctl::MapSpec {
                map_type: 2,
                key_size: 4,
                value_size: 8,
                max_entries: 256,
                name: "counts".into(),
                ..Default::default()
            },
            pin_by_name: false,
            origin: MapOrigin::Defined,
            initial_programs: Vec::new(),
            inner: None,
            initial_maps: Vec::new(),
        }],
        programs: vec![ProgDef {
            name: "array_counter".into(),
            section: "xdp".into(),
            prog_type: ebpf_core::ProgType::Xdp,
            expected_attach_type: 0,
            unsupported: None,
            problem: None,
            insns,
            exception_cb: None,
            obj_types: Vec::new(),
        }],
    };
    side_by_side("array counter", &obj, &[("count", vec![7u8; 64], 2)]);
}

/// `obj`'s first program per packet of `cases` (name, frame, verdict):
/// the embedded backend compiled and interpreted, and the host's bpf(2).
fn side_by_side(title: &str, obj: &BpfObject, cases: &[(&str, Vec<u8>, u32)]) {
    let p = &obj.programs[0];
    let e = Ebpf::embedded().unwrap();
    let load = |jit: bool| {
        UserPlatform::get().set_jit(jit);
        ebpf_bench::load_first(&e, obj)
    };
    let compiled = load(true);
    let interpreted = load(false);
    UserPlatform::get().set_jit(true);
    let jited = e.prog_info(compiled).unwrap().jited_len;
    let host = match host_bpf::unavailable() {
        Some(why) => Err(why),
        None => ebpf_bench::host_maps(obj)
            .and_then(|maps| Ok((ebpf_bench::host_program(p, &maps, 1)?, maps))),
    };
    println!(
        "\n{title} per packet ({REPEAT} runs per sample, median of 7; ebpf JIT code {jited} bytes)"
    );
    println!(
        "{:<8} {:>12} {:>14} {:>12} {:>12} {:>14}",
        "packet", "ebpf JIT", "interpreter", "host JIT", "host/JIT", "interp./JIT"
    );
    for (name, frame, verdict) in cases {
        let ours = |h: u32| {
            median(
                (0..7)
                    .map(|_| {
                        let r = e.prog_test_run(h, frame, REPEAT).unwrap();
                        assert_eq!(r.retval, *verdict);
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
                        assert_eq!(r.retval, *verdict);
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
    array_counter();
}
