//! Compiled code against the interpreter: a generator of valid programs
//! over the whole instruction set (no helpers) and a check that runs each
//! in the checking interpreter and, when that run ends well, compiled on
//! the same memory and stack, comparing `r0`, the memory and the stack.
//!
//! `r1` keeps pointing at a 64-byte buffer and `r10` at the stack, so that
//! loads, stores and atomics through them (at offsets inside) mostly run;
//! jumps go mostly forward; the program may end with a local function it
//! calls. Used by `tests/jit.rs` and the `jit` fuzz target.

use ebpf_core::opcode::*;
use ebpf_core::platform::PlatformRef;
use ebpf_core::{Insn, LoadOptions, MemoryMap, NoHelpers, Program, RegionKind, RunError, Stack};

/// A tiny deterministic generator (xorshift), seeded from the input.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn ins(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(opcode, dst, src, off, imm)
}

/// Interesting constants: edges of every width, and small numbers.
fn constant(r: &mut Rng) -> i32 {
    match r.below(6) {
        0 => r.pick(&[
            0,
            1,
            -1,
            i32::MIN,
            i32::MAX,
            0x80,
            0xff,
            0x8000,
            0xffff,
            31,
            32,
            63,
            64,
        ]),
        1 => r.below(16) as i32 - 8,
        _ => r.next() as i32,
    }
}

/// A register to write: never `r1` (the buffer) or `r10`.
fn dst(r: &mut Rng) -> u8 {
    r.pick(&[0, 2, 3, 4, 5, 6, 7, 8, 9])
}

fn src(r: &mut Rng) -> u8 {
    r.below(11) as u8
}

const ALU: [u8; 12] = [
    BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR,
    BPF_MOV, BPF_ARSH,
];
const JUMPS: [u8; 11] = [
    BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE, BPF_JSLT,
    BPF_JSLE,
];
const SIZES: [(u8, i16); 4] = [(BPF_B, 1), (BPF_H, 2), (BPF_W, 4), (BPF_DW, 8)];

/// A memory operand: `(base register, offset)` inside the buffer or the
/// frame, aligned to `size`.
fn place(r: &mut Rng, size: i16) -> (u8, i16) {
    let slot = |n: i16, r: &mut Rng| (r.below((n / size) as u64) as i16) * size;
    if r.below(2) == 0 {
        (1, slot(64, r))
    } else {
        (10, -512 + slot(512, r))
    }
}

/// One program of about `len` instructions.
pub fn program(r: &mut Rng, len: usize) -> Vec<Insn> {
    let mut p = Vec::new();
    // Registers start defined, some with the buffer's length.
    for reg in [0u8, 3, 4, 5, 6, 7, 8, 9] {
        p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, reg, 0, 0, constant(r)));
    }
    let with_function = r.below(4) == 0;
    while p.len() < len {
        let here = p.len();
        match r.below(16) {
            0..=4 => {
                let class = r.pick(&[BPF_ALU, BPF_ALU64]);
                let op = r.pick(&ALU);
                let (source, s, imm) = if r.below(2) == 0 {
                    (BPF_X, src(r), 0)
                } else {
                    (BPF_K, 0, constant(r))
                };
                let signed = matches!(op, BPF_DIV | BPF_MOD) && r.below(2) == 0;
                let off = if signed { 1 } else { 0 };
                p.push(ins(class | op | source, dst(r), s, off, imm));
            }
            5 => {
                // neg, byte swaps, sign-extending moves.
                let d = dst(r);
                match r.below(4) {
                    0 => p.push(ins(r.pick(&[BPF_ALU, BPF_ALU64]) | BPF_NEG, d, 0, 0, 0)),
                    1 => {
                        let class = r.pick(&[BPF_ALU | BPF_TO_LE, BPF_ALU | BPF_TO_BE, BPF_ALU64]);
                        p.push(ins(class | BPF_END, d, 0, 0, r.pick(&[16, 32, 64])));
                    }
                    2 => p.push(ins(
                        BPF_ALU64 | BPF_MOV | BPF_X,
                        d,
                        src(r),
                        r.pick(&[8, 16, 32]),
                        0,
                    )),
                    _ => p.push(ins(
                        BPF_ALU | BPF_MOV | BPF_X,
                        d,
                        src(r),
                        r.pick(&[8, 16]),
                        0,
                    )),
                }
            }
            6 => {
                let v = r.next();
                p.push(ins(BPF_LD | BPF_DW | BPF_IMM, dst(r), 0, 0, v as i32));
                p.push(ins(0, 0, 0, 0, (v >> 32) as i32));
            }
            7 | 8 => {
                let (size, n) = r.pick(&SIZES);
                let (base, off) = place(r, n);
                let mode = if n < 8 && r.below(3) == 0 {
                    BPF_MEMSX
                } else {
                    BPF_MEM
                };
                p.push(ins(BPF_LDX | mode | size, dst(r), base, off, 0));
            }
            9 | 10 => {
                let (size, n) = r.pick(&SIZES);
                let (base, off) = place(r, n);
                if r.below(2) == 0 {
                    p.push(ins(BPF_ST | BPF_MEM | size, base, 0, off, constant(r)));
                } else {
                    p.push(ins(BPF_STX | BPF_MEM | size, base, src(r), off, 0));
                }
            }
            11 => {
                let (size, n) = r.pick(&[(BPF_W, 4), (BPF_DW, 8)]);
                let (base, off) = place(r, n);
                let op = r.pick(&[
                    BPF_ADD as i32,
                    BPF_OR as i32,
                    BPF_AND as i32,
                    BPF_XOR as i32,
                    BPF_ADD as i32 | BPF_FETCH,
                    BPF_OR as i32 | BPF_FETCH,
                    BPF_AND as i32 | BPF_FETCH,
                    BPF_XOR as i32 | BPF_FETCH,
                    BPF_XCHG,
                    BPF_CMPXCHG,
                ]);
                // The source register must not be the base (it may be
                // overwritten with the old value).
                let s = loop {
                    let s = dst(r);
                    if s != base {
                        break s;
                    }
                };
                p.push(ins(BPF_STX | BPF_ATOMIC | size, base, s, off, op));
            }
            12..=14 => {
                let class = r.pick(&[BPF_JMP, BPF_JMP32]);
                let op = r.pick(&JUMPS);
                let forward = r.below(8) != 0;
                let off = if forward {
                    r.below(8) as i16
                } else {
                    -(r.below(here.min(12) as u64 + 1) as i16) - 1
                };
                if r.below(2) == 0 {
                    p.push(ins(class | op | BPF_X, src(r), src(r), off, 0));
                } else {
                    p.push(ins(class | op | BPF_K, src(r), 0, off, constant(r)));
                }
            }
            _ => {
                if with_function {
                    // Called below: its offset is fixed at the end.
                    p.push(ins(BPF_JMP | BPF_CALL, 0, 1, i16::MAX, 0));
                } else {
                    p.push(ins(BPF_JMP | BPF_JA, 0, 0, r.below(4) as i16, 0));
                }
            }
        }
    }
    p.push(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    // Forward jumps past the end land on the exit.
    let end = p.len() - 1;
    for (i, insn) in p.iter_mut().enumerate() {
        let class = insn.opcode & 7;
        let is_jump = (class == BPF_JMP || class == BPF_JMP32)
            && insn.opcode & 0xf0 != BPF_CALL
            && insn.opcode & 0xf0 != BPF_EXIT;
        if is_jump && i as i64 + 1 + insn.off as i64 > end as i64 {
            insn.off = (end - i - 1) as i16;
        }
    }
    if with_function {
        let start = p.len();
        for (i, insn) in p.iter_mut().enumerate() {
            if insn.opcode == BPF_JMP | BPF_CALL && insn.src == 1 {
                insn.imm = (start - i - 1) as i32;
                insn.off = 0;
            }
        }
        // The function: a little arithmetic on its arguments and its own
        // frame, then r0.
        p.push(ins(BPF_STX | BPF_MEM | BPF_DW, 10, 2, -8, 0));
        p.push(ins(BPF_ALU64 | BPF_ADD | BPF_X, 0, 3, 0, 0));
        p.push(ins(BPF_LDX | BPF_MEM | BPF_DW, 6, 10, -8, 0));
        p.push(ins(BPF_ALU64 | BPF_MUL | BPF_K, 0, 0, 0, 3));
        p.push(ins(BPF_ALU64 | BPF_XOR | BPF_X, 0, 6, 0, 0));
        p.push(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    p
}

/// What one comparison found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The loader refused the program.
    Refused,
    /// The checked run failed (out of bounds, budget...): not compared.
    Failed,
    /// Both ran and agreed.
    Agreed,
}

/// Runs `insns` on `memory` in the checking interpreter and, when that run
/// ends well, compiled (with `platform`'s executable memory) on the same
/// buffer and stack, restored; panics when the two disagree.
pub fn compare(platform: PlatformRef, insns: &[Insn], memory: &[u8]) -> Verdict {
    let opts = LoadOptions::default().budget(10_000);
    let checked = match Program::load(insns, &opts) {
        Ok(p) => p,
        Err(e) => {
            if std::env::var_os("JIT_GEN_DEBUG").is_some() {
                eprintln!("refused: {e}");
            }
            return Verdict::Refused;
        }
    };
    let mut stack = Stack::try_new_boxed().expect("stack");
    let mut buffer = memory.to_vec();
    let interpreted = run(&checked, &mut stack, &mut buffer);
    let r0 = match interpreted {
        Ok(r0) => r0,
        Err(e) => {
            if std::env::var_os("JIT_GEN_DEBUG").is_some() {
                eprintln!("failed: {e}");
            }
            return Verdict::Failed;
        }
    };
    let after = buffer.clone();
    let stack_after = stack.clone();
    // SAFETY: the same program on the same memory and stack just ran to
    // its end with every access checked; compiled code must take the same
    // path (what this check tests).
    let unchecked = unsafe { LoadOptions::default().unchecked() }.budget(u64::MAX);
    let mut compiled = Program::load(insns, &unchecked).expect("loads unchecked");
    compiled.compile(platform).expect("compiles");
    *stack = Stack::new();
    buffer.copy_from_slice(memory);
    let native = run(&compiled, &mut stack, &mut buffer);
    assert_eq!(
        native,
        Ok(r0),
        "compiled code returned {native:x?}, the interpreter {r0:#x}:\n{insns:?}"
    );
    assert_eq!(buffer, after, "memory differs:\n{insns:?}");
    assert!(
        stack_words(&stack) == stack_words(&stack_after),
        "stack differs:\n{insns:?}"
    );
    Verdict::Agreed
}

fn run(p: &Program, stack: &mut Stack, buffer: &mut [u8]) -> Result<u64, RunError> {
    let len = buffer.len() as u64;
    let mut map = MemoryMap::new();
    let addr = map.add_mut(buffer, RegionKind::Packet).expect("region");
    p.run(stack, &map, [addr, len, 0, 0, 0], &mut NoHelpers)
}

fn stack_words(s: &Stack) -> Vec<u8> {
    // SAFETY: a Stack is plain memory (an array of u64) of its size.
    unsafe {
        std::slice::from_raw_parts(
            (s as *const Stack).cast::<u8>(),
            std::mem::size_of::<Stack>(),
        )
    }
    .to_vec()
}
