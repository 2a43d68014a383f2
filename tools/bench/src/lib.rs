//! Programs and measurement helpers shared by the benchmarks.
//!
//! Every program here uses only what the peer runtimes also support (no
//! helpers, r1 = memory), so the very same bytes run on each of them.

use std::hint::black_box;
use std::time::Instant;

use ebpf_core::{asm, insn, Insn, LoadOptions, MemoryMap, NoHelpers, Program, RegionKind, Stack};

/// A benchmark program and the memory it runs on.
pub struct Workload {
    /// Short name, used in reports.
    pub name: &'static str,
    /// The program.
    pub insns: Vec<Insn>,
    /// Its memory (r1).
    pub memory: Vec<u8>,
}

impl Workload {
    /// The program's encoded bytes, for peers that take raw bytecode.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        insn::encode_into(&self.insns, &mut out);
        out
    }

    /// Loads the program into ebpf-core.
    pub fn load(&self) -> Program {
        Program::load(&self.insns, &LoadOptions::default()).expect("benchmark program loads")
    }

    /// The program without run-time memory checks and budget, as a
    /// program the verifier accepted runs. The workloads touch only their
    /// memory and end (the checked runs of the same programs prove it).
    pub fn load_unchecked(&self) -> Program {
        // SAFETY: every access of these programs lies in the memory they
        // run on and they end: their checked runs, which the benchmarks
        // also make, would stop otherwise.
        let opts = unsafe { LoadOptions::default().unchecked() }.budget(u64::MAX);
        Program::load(&self.insns, &opts).expect("benchmark program loads")
    }

    /// Instructions one run executes, found as the smallest budget that
    /// lets the run finish.
    pub fn executed_insns(&self) -> u64 {
        let (mut lo, mut hi) = (1u64, 1u64 << 32);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let p = Program::load(&self.insns, &LoadOptions::default().budget(mid)).unwrap();
            if p.run_on(&mut self.memory.clone()).is_ok() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

fn assemble(src: &str) -> Vec<Insn> {
    asm::assemble(src).expect("benchmark program assembles")
}

/// A tight three-instruction ALU loop, 10 000 iterations.
pub fn alu_loop() -> Workload {
    Workload {
        name: "alu_loop",
        insns: assemble(
            "mov %r0, 0\nmov %r1, 10000\nloop: add %r0, %r1\nsub %r1, 1\njne %r1, 0, loop\nexit",
        ),
        memory: vec![0; 8],
    }
}

/// Sums 4096 bytes of memory, one byte load per five instructions.
pub fn memory_loop() -> Workload {
    Workload {
        name: "memory_loop",
        insns: assemble(
            "mov %r0, 0\nmov %r2, 4096\n\
             loop: ldxb %r3, [%r1]\nadd %r0, %r3\nadd %r1, 1\nsub %r2, 1\njne %r2, 0, loop\nexit",
        ),
        memory: (0..4096).map(|i| i as u8).collect(),
    }
}

/// The classic port filter on one packet: Ethernet, IPv4 (with options
/// length), TCP destination port 80 or 8080 -> drop (1), otherwise pass (2).
pub fn packet_filter() -> Workload {
    let mut pkt = vec![0u8; 64];
    pkt[12] = 0x08; // IPv4
    pkt[14] = 0x45; // version 4, IHL 5
    pkt[23] = 6; // TCP
    pkt[36] = 0x1f; // dst port 8080
    pkt[37] = 0x90;
    Workload {
        name: "packet_filter",
        insns: assemble(
            "ldxh %r2, [%r1+12]\njne %r2, 0x0008, pass\n\
             ldxb %r3, [%r1+14]\nand %r3, 0x0f\nlsh %r3, 2\n\
             ldxb %r4, [%r1+23]\njne %r4, 6, pass\n\
             mov %r5, %r1\nadd %r5, 14\nadd %r5, %r3\n\
             ldxh %r6, [%r5+2]\nbe16 %r6\n\
             jeq %r6, 80, drop\njeq %r6, 8080, drop\n\
             pass: mov %r0, 2\nexit\n\
             drop: mov %r0, 1\nexit",
        ),
        memory: pkt,
    }
}

/// All workloads.
pub fn workloads() -> Vec<Workload> {
    vec![alu_loop(), memory_loop(), packet_filter()]
}

/// Median wall time of one call of `f`, over `rounds` batches sized to take
/// about a millisecond each.
pub fn median_ns(rounds: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed().as_micros() < 1000 {
        f();
        calls += 1;
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    black_box(samples[samples.len() / 2])
}

/// The maps of an ELF object, made in the host kernel through `bpf(2)`.
pub fn host_maps(obj: &libebpf_ioctl::elf::BpfObject) -> Result<Vec<host_bpf::Map>, String> {
    obj.maps
        .iter()
        .map(|m| {
            let s = &m.spec;
            host_bpf::Map::create_with_flags(
                s.map_type,
                s.key_size,
                s.value_size,
                s.max_entries,
                s.flags,
            )
            .map_err(|e| format!("map {}: {e}", m.name))
        })
        .collect()
}

/// A program of an ELF object loaded into the host kernel through
/// `bpf(2)` with `maps` ([`host_maps`]; its `map_idx` references turned
/// into their fds), or the host's reason for refusing it (from its log at
/// `log_level` 1 or more).
pub fn host_program(
    p: &libebpf_ioctl::elf::ProgDef,
    maps: &[host_bpf::Map],
    log_level: u32,
) -> Result<host_bpf::Program, String> {
    use ebpf_core::opcode::{
        BPF_DW, BPF_IMM, BPF_LD, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
        BPF_PSEUDO_MAP_VALUE,
    };
    let mut insns = p.insns.clone();
    for i in insns
        .iter_mut()
        .filter(|i| i.opcode == BPF_LD | BPF_IMM | BPF_DW)
    {
        let to = match i.src {
            BPF_PSEUDO_MAP_IDX => BPF_PSEUDO_MAP_FD,
            BPF_PSEUDO_MAP_IDX_VALUE => BPF_PSEUDO_MAP_VALUE,
            _ => continue,
        };
        i.src = to;
        i.imm = maps
            .get(i.imm as usize)
            .ok_or("map index out of range")?
            .fd();
    }
    let mut code = Vec::new();
    insn::encode_into(&insns, &mut code);
    host_bpf::Program::load(p.prog_type as u32, &code, log_level).map_err(|e| {
        e.log
            .lines()
            .rev()
            .nth(1)
            .map_or_else(|| e.error.to_string(), str::to_string)
    })
}

/// An Ethernet + IPv4 + TCP frame to `port` (the port filter's input).
pub fn tcp_frame(port: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 20];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[14 + 9] = 6;
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&port.to_be_bytes());
    f
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The port filter's verdicts: (packet name, destination port, XDP
/// action).
pub const PORT_FILTER_CASES: [(&str, u16, u32); 2] = [("drop", 80, 1), ("pass", 22, 2)];

/// Loads the first program of `obj` (with fresh maps) through `e`.
pub fn load_first(e: &libebpf_ioctl::Ebpf, obj: &libebpf_ioctl::elf::BpfObject) -> u32 {
    load_first_with_maps(e, obj).0
}

/// Loads the first program of `obj` (with fresh maps) through `e`; returns
/// its handle and the maps' handles.
pub fn load_first_with_maps(
    e: &libebpf_ioctl::Ebpf,
    obj: &libebpf_ioctl::elf::BpfObject,
) -> (u32, Vec<u32>) {
    let p = &obj.programs[0];
    let mut code = Vec::new();
    insn::encode_into(&p.insns, &mut code);
    let maps: Vec<u32> = obj
        .maps
        .iter()
        .map(|m| e.map_create(&m.spec).expect("map"))
        .collect();
    let spec = libebpf_ioctl::ProgSpec {
        name: "port_filter",
        prog_type: p.prog_type as u32,
        bytecode: &code,
        license: &obj.license,
        maps: &maps,
        obj_types: &[],
    };
    let prog = e
        .prog_load_with(&spec, Default::default())
        .expect("program loads")
        .0;
    (prog, maps)
}

/// Runs `prog` the way an embedder does: one reused stack, the memory map
/// built once over `mem` (r1 = mem, r2 = its length). Returns a closure
/// that performs one run and gives `r0`.
pub fn embedder_run<'a>(
    prog: &'a Program,
    stack: &'a mut Stack,
    mem: &'a mut [u8],
) -> impl FnMut() -> u64 + 'a {
    let len = mem.len() as u64;
    let mut map = MemoryMap::new();
    let addr = map.add_mut(mem, RegionKind::Packet).unwrap();
    move || {
        prog.run(stack, &map, [addr, len, 0, 0, 0], &mut NoHelpers)
            .unwrap()
    }
}

/// Where the example objects are: `EBPF_EXAMPLES`, else `target/bpf`
/// (`make examples`).
pub fn examples_dir() -> std::path::PathBuf {
    std::env::var("EBPF_EXAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bpf")
        })
}
