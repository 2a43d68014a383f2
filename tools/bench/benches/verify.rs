//! Load time: every XDP, tc and socket filter program of the example
//! objects, through the embedded backend's `PROG_LOAD` (the structural
//! checks, the verifier, the rewrite and pre-decoding) against the host
//! kernel's `BPF_PROG_LOAD` of the same instructions with the same maps
//! (the verifier, its rewrites and the JIT), side by side in one run.
//! Prints the median of each and the ratio; the host column is missing
//! where `bpf(2)` is unusable.

use std::path::PathBuf;
use std::time::Instant;

use ebpf_core::ProgType;
use libebpf_ioctl::elf::{BpfObject, ProgDef};
use libebpf_ioctl::{Admission, Ebpf, ProgSpec};

const ROUNDS: usize = 31;

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[ROUNDS / 2]
}

fn bytes_of(insns: &[ebpf_core::Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Ours: the program's maps made once, then `PROG_LOAD` and close.
fn ours(obj: &BpfObject, p: &ProgDef) -> Option<f64> {
    let e = Ebpf::embedded().ok()?;
    let maps: Vec<u32> = obj
        .maps
        .iter()
        .map(|m| e.map_create(&m.spec).ok())
        .collect::<Option<_>>()?;
    let code = bytes_of(&p.insns);
    let spec = ProgSpec {
        name: "bench",
        prog_type: p.prog_type as u32,
        bytecode: &code,
        license: &obj.license,
        maps: &maps,
        obj_types: &[],
    };
    let how = Admission {
        log_level: 0,
        ..Default::default()
    };
    e.prog_load_with(&spec, how).ok()?;
    Some(median_us(|| {
        let (h, _) = e.prog_load_with(&spec, how).unwrap();
        e.close(h).unwrap();
    }))
}

/// The host's: the same maps in the kernel, made once, `map_idx`
/// references turned into their fds ([`ebpf_bench::host_program`]).
fn host(obj: &BpfObject, p: &ProgDef) -> Option<f64> {
    let maps = ebpf_bench::host_maps(obj).ok()?;
    if let Err(why) = ebpf_bench::host_program(p, &maps, 1) {
        eprintln!("{}: the host refused: {why}", p.name);
        return None;
    }
    Some(median_us(|| {
        drop(ebpf_bench::host_program(p, &maps, 0).unwrap());
    }))
}

fn main() {
    let dir = ebpf_bench::examples_dir();
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `make examples` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    objects.sort();
    let host_usable = host_bpf::unavailable();
    if let Some(why) = &host_usable {
        println!("no host column: {why}");
    }
    println!(
        "\n{:<32} {:>6} {:>12} {:>12} {:>11}",
        "object/program", "insns", "ours (us)", "host (us)", "host/ours"
    );
    for path in objects {
        let obj = BpfObject::parse(&std::fs::read(&path).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for p in &obj.programs {
            let verified = matches!(
                p.prog_type,
                ProgType::Xdp | ProgType::SchedCls | ProgType::SchedAct | ProgType::SocketFilter
            );
            if p.unsupported.is_some() || !verified {
                continue;
            }
            let name = format!("{stem}/{}", p.name);
            let ours = ours(&obj, p);
            let host = host_usable.is_none().then(|| host(&obj, p)).flatten();
            let show = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{t:.1}"));
            let ratio = match (ours, host) {
                (Some(o), Some(h)) => format!("{:.1}x", h / o),
                _ => "-".into(),
            };
            println!(
                "{name:<32} {:>6} {:>12} {:>12} {:>11}",
                p.insns.len(),
                show(ours),
                show(host),
                ratio
            );
        }
    }
}
