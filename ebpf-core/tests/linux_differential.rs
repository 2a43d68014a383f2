//! Differential test against the host kernel: generated programs run both
//! here and through the kernel's BPF_PROG_TEST_RUN, and must return the same
//! r0 (both 32-bit halves, since the kernel reports only 32 bits).
//!
//! Skips, saying why, where bpf(2) is unusable (not root, no bpf(2)).

#![cfg(target_os = "linux")]

mod common;

use ebpf_core::{asm, LoadOptions, Program};
use host_bpf::{unavailable, Program as KernelProgram, PROG_TYPE_SOCKET_FILTER};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn value(&mut self) -> u64 {
        const EDGES: [u64; 8] = [
            0,
            1,
            u64::MAX,
            0x8000_0000,
            0xffff_ffff,
            0x8000_0000_0000_0000,
            0x7fff_ffff_ffff_ffff,
            0x1_0000_0000,
        ];
        match self.below(3) {
            0 => EDGES[self.below(8) as usize],
            1 => self.below(300),
            _ => self.next(),
        }
    }
}

const ALU: &[&str] = &[
    "add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor", "lsh", "rsh", "arsh",
    "mov",
];
const JMP: &[&str] = &[
    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle",
];

/// A verifier-friendly body: all registers initialised, then ALU, byte
/// swaps, sign-extending moves, forward jumps, stack spills with plain,
/// sign-extending and atomic accesses. Leaves its result in r0.
fn body(rng: &mut Rng) -> String {
    let mut s = String::new();
    for r in 0..6 {
        s += &format!("lddw %r{r}, {:#x}\n", rng.value());
    }
    let n = 4 + rng.below(12);
    for _ in 0..n {
        let d = rng.below(6);
        let r = rng.below(6);
        let w = if rng.below(2) == 0 { "" } else { "32" };
        match rng.below(10) {
            0..=3 => s += &format!("{}{w} %r{d}, %r{r}\n", rng.pick(ALU)),
            4 | 5 => {
                let op = rng.pick(ALU);
                let mut imm = rng.value() as u32 as i32;
                if matches!(op, "lsh" | "rsh" | "arsh") {
                    imm = imm.rem_euclid(if w.is_empty() { 64 } else { 32 });
                }
                if matches!(op, "div" | "sdiv" | "mod" | "smod") && imm == 0 {
                    imm = 3;
                }
                s += &format!("{op}{w} %r{d}, {imm}\n");
            }
            6 => {
                let op = rng.pick(&[
                    "le16", "le32", "le64", "be16", "be32", "be64", "bswap16", "bswap32",
                    "bswap64", "neg", "neg32",
                ]);
                s += &format!("{op} %r{d}\n");
            }
            7 => {
                let op = rng.pick(&["movsx8", "movsx16", "movsx32", "mov32sx8", "mov32sx16"]);
                s += &format!("{op} %r{d}, %r{r}\n");
            }
            8 => {
                let op = rng.pick(JMP);
                s += &format!("{op}{w} %r{d}, %r{r}, +1\nxor %r{d}, {}\n", rng.below(1000));
            }
            _ => {
                let load = rng.pick(&["ldxb", "ldxh", "ldxw", "ldxdw", "ldxsb", "ldxsh", "ldxsw"]);
                let atomic = rng.pick(&[
                    "lock fetch_add",
                    "lock fetch_or",
                    "lock fetch_and",
                    "lock fetch_xor",
                    "lock xchg",
                    "lock fetch_add32",
                    "lock xchg32",
                ]);
                s += &format!(
                    "stxdw [%r10-8], %r{d}\n{atomic} [%r10-8], %r{r}\n{load} %r{d}, [%r10-8]\n"
                );
            }
        }
    }
    s += &format!("mov %r0, %r{}\n", rng.below(6));
    s
}

#[test]
fn generated_programs_agree_with_the_host_kernel() {
    if let Some(why) = unavailable() {
        println!("skipping the bpf(2) differential test: {why}");
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut compared = 0;
    for case in 0..300 {
        let body = body(&mut rng);
        let ours = |tail: &str| {
            let insns = asm::assemble(&format!("{body}{tail}exit")).unwrap();
            let prog = Program::load(&insns, &LoadOptions::default()).unwrap();
            (insns, prog.run_on(&mut [0u8; 64]).unwrap())
        };
        let (lo_insns, ours_full) = ours("");
        let (hi_insns, _) = ours("rsh %r0, 32\n");
        let kernel = |insns: &[ebpf_core::Insn]| {
            let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
            KernelProgram::load(PROG_TYPE_SOCKET_FILTER, &bytes, 1)
                .unwrap_or_else(|e| panic!("case {case}: kernel refused:\n{body}\n{e}"))
                .test_run(&mut [0u8; 64], 1)
                .unwrap()
                .retval
        };
        let theirs = (kernel(&hi_insns) as u64) << 32 | kernel(&lo_insns) as u64;
        assert_eq!(
            ours_full, theirs,
            "case {case}: ours {ours_full:#x}, kernel {theirs:#x}\n{body}"
        );
        compared += 1;
    }
    println!("{compared} programs agree with the host kernel");
}
