//! The JIT against the interpreter: generated programs over the whole
//! instruction set (`common/jit_gen.rs`, also the `jit` fuzz target), and
//! the cases where x86 and eBPF part ways (division traps, shift counts in
//! `cl`, 32-bit `cmpxchg`, `r0` in atomics, call depth, `callx`).

mod common;

use common::jit_gen::{self, Rng, Verdict};
use common::platform::ExecPlatform;
use ebpf_core::{LoadOptions, Program, RunError};

#[test]
fn generated_programs_agree() {
    let platform = ExecPlatform::get();
    let mut agreed = 0;
    let total: u64 = 3000;
    for seed in 1..=total {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let len = 10 + rng.below(60) as usize;
        let insns = jit_gen::program(&mut rng, len);
        let memory: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
        if jit_gen::compare(platform, &insns, &memory) == Verdict::Agreed {
            agreed += 1;
        }
    }
    // The generator keeps most programs runnable: a comparison that
    // compared little would prove little.
    eprintln!("{agreed} of {total} generated programs compared");
    assert!(
        agreed * 2 > total,
        "only {agreed} of {total} programs compared"
    );
}

/// Runs `src` compiled with r1 = `memory`; the interpreter's result too.
fn both(src: &str, memory: &[u8]) -> (Result<u64, RunError>, Result<u64, RunError>) {
    let insns = common::assemble(src);
    let checked = Program::load(&insns, &LoadOptions::default()).unwrap();
    let mut m = memory.to_vec();
    let interpreted = checked.run_on(&mut m);
    // SAFETY: the programs below stay inside their memory and stack.
    let opts = unsafe { LoadOptions::default().unchecked() }.budget(u64::MAX);
    let mut compiled = Program::load(&insns, &opts).unwrap();
    compiled.compile(ExecPlatform::get()).unwrap();
    assert!(compiled.native_len().unwrap() > 0);
    let mut m = memory.to_vec();
    (interpreted, compiled.run_on(&mut m))
}

fn agree(src: &str, expected: u64) {
    let (i, n) = both(src, &[0; 16]);
    assert_eq!(i, Ok(expected), "interpreter:\n{src}");
    assert_eq!(n, Ok(expected), "compiled:\n{src}");
}

#[test]
fn division_where_x86_would_trap() {
    let min = i64::MIN as u64;
    agree(
        "lddw %r0, 0x8000000000000000\nmov %r2, -1\nsdiv %r0, %r2\nexit",
        min,
    );
    agree(
        "lddw %r0, 0x8000000000000000\nmov %r2, -1\nsmod %r0, %r2\nexit",
        0,
    );
    agree("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit", 0x8000_0000);
    agree("mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit", 0);
    agree("mov %r0, 7\nmov %r2, 0\ndiv %r0, %r2\nexit", 0);
    agree("mov %r0, -7\nmov %r2, 0\nmod %r0, %r2\nexit", -7i64 as u64);
    agree("mov %r0, -7\nmov %r2, 0\nmod32 %r0, %r2\nexit", 0xffff_fff9);
    agree("mov %r0, -7\nmov %r2, 0\nsdiv32 %r0, %r2\nexit", 0);
    // rax and rdx are r0 and r3: dividing them, by them, keeps the others.
    agree(
        "mov %r0, 100\nmov %r3, 7\ndiv %r3, %r0\nmov %r0, %r3\nexit",
        0,
    );
    agree(
        "mov %r0, 100\nmov %r3, 7\nmod %r0, %r3\nadd %r0, %r3\nexit",
        9,
    );
    agree(
        "mov %r0, 100\nmov %r3, 7\nmov %r4, 9\nsdiv %r4, %r3\nadd %r0, %r4\nadd %r0, %r3\nexit",
        108,
    );
}

#[test]
fn shifts_through_cl() {
    // r4 is rcx: as count, as operand, as both.
    agree(
        "mov %r4, 3\nmov %r0, 1\nlsh %r0, %r4\nadd %r0, %r4\nexit",
        11,
    );
    agree(
        "mov %r4, 3\nmov %r2, 2\nlsh %r4, %r2\nmov %r0, %r4\nexit",
        12,
    );
    agree("mov %r4, 65\nlsh %r4, %r4\nmov %r0, %r4\nexit", 130);
    agree(
        "mov %r0, -1\nmov %r2, 32\nlsh32 %r0, %r2\nexit",
        0xffff_ffff,
    );
    agree(
        "lddw %r0, 0xffffffff00000001\nmov %r2, 0\nrsh32 %r0, %r2\nexit",
        1,
    );
    agree(
        "mov %r0, -16\nmov %r2, 66\narsh %r0, %r2\nexit",
        -4i64 as u64,
    );
}

#[test]
fn atomics_with_r0() {
    // 32-bit cmpxchg that succeeds still zero-extends r0.
    agree(
        "stw [%r1], 5\nlddw %r0, 0xffffffff00000005\nmov %r2, 9\nlock cmpxchg32 [%r1], %r2\nldxw %r3, [%r1]\nadd %r0, %r3\nexit",
        14,
    );
    // r0 as the source of a fetching or.
    agree(
        "stdw [%r1], 6\nmov %r0, 1\nlock fetch_or [%r1], %r0\nldxdw %r2, [%r1]\nlsh %r0, 8\nadd %r0, %r2\nexit",
        0x607,
    );
    // r0 as the base.
    agree(
        "mov %r0, %r1\nstdw [%r1+8], 3\nmov %r2, 4\nlock fetch_xor [%r0+8], %r2\nldxdw %r0, [%r1+8]\nadd %r0, %r2\nexit",
        10,
    );
}

#[test]
fn call_depth_and_callx() {
    // Endless recursion stops at the last frame, as in the interpreter.
    let (i, n) = both("call f\nexit\nf:\ncall f\nexit", &[]);
    assert!(
        matches!(i, Err(RunError::CallDepthExceeded { .. })),
        "{i:?}"
    );
    assert_eq!(i, n);
    // callx to a function, then to something that is not one.
    let (i, n) = both(
        "lddw %r2, func(f)\ncallx %r2\nexit\nf:\nmov %r0, 42\nexit",
        &[],
    );
    assert_eq!((i, n), (Ok(42), Ok(42)));
    let (i, n) = both("mov %r2, 5\ncallx %r2\nexit", &[]);
    assert!(
        matches!(i, Err(RunError::BadCallTarget { value: 5, .. })),
        "{i:?}"
    );
    assert_eq!(i, n);
}

#[test]
fn legacy_packet_loads() {
    let packet = [0x12, 0x34, 0x56, 0x78, 0x9a];
    let src = "mov %r6, %r1\nldabsh 1\nmov %r7, %r0\nmov %r2, 1\nldindw %r2, 0\nadd %r0, %r7\nexit";
    let (i, n) = both(src, &packet);
    assert_eq!(i, Ok(0x3456 + 0x3456_789a));
    assert_eq!(i, n);
    // Out of bounds: the program ends with 0.
    let (i, n) = both(
        "mov %r6, %r1\nmov %r0, 5\nldabsw 3\nmov %r0, 7\nexit",
        &packet,
    );
    assert_eq!((i, n), (Ok(0), Ok(0)));
}

/// Helper 1 calls the function its first argument names; helper 2 ends
/// the program with 42 ([`Flow::Exit`]), wherever it is called.
struct Unwinding;

impl ebpf_core::Helpers for Unwinding {
    fn supports(&self, id: u32) -> bool {
        id == 1 || id == 2
    }

    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &ebpf_core::ProgramMemory<'_, '_>,
    ) -> Result<ebpf_core::Flow, ebpf_core::HelperError> {
        match id {
            1 => mem
                .call_function(&mut Unwinding, args[0], [0; 5])
                .map(ebpf_core::Flow::Return),
            _ => Ok(ebpf_core::Flow::Exit(42)),
        }
    }
}

#[test]
fn a_helper_ends_the_program_from_a_callback() {
    let src = "lddw %r1, func(cb)\ncall 1\nmov %r0, 5\nexit\ncb:\ncall f\nmov %r0, 6\nexit\nf:\ncall 2\nmov %r0, 7\nexit";
    let insns = common::assemble(src);
    let checked = Program::load(&insns, &LoadOptions::default().helpers(&Unwinding)).unwrap();
    assert_eq!(checked.run_on_with(&mut [], &mut Unwinding), Ok(42));
    // SAFETY: the program touches nothing but its stack.
    let opts = unsafe { LoadOptions::default().helpers(&Unwinding).unchecked() }.budget(u64::MAX);
    let mut compiled = Program::load(&insns, &opts).unwrap();
    compiled.compile(ExecPlatform::get()).unwrap();
    assert_eq!(compiled.run_on_with(&mut [], &mut Unwinding), Ok(42));
}

#[test]
fn generated_programs_agree_with_constants_blinded() {
    let platform = ExecPlatform::blinding();
    let mut agreed = 0;
    let total: u64 = 1500;
    for seed in 1..=total {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let len = 10 + rng.below(60) as usize;
        let insns = jit_gen::program(&mut rng, len);
        let memory: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
        if jit_gen::compare(platform, &insns, &memory) == Verdict::Agreed {
            agreed += 1;
        }
    }
    assert!(
        agreed * 2 > total,
        "only {agreed} of {total} programs compared"
    );
}

#[test]
fn blinded_code_holds_none_of_the_programs_constants() {
    // Each constant where an instruction carries one: ALU (mov, add, mul,
    // or), a comparison, a store, lddw, a division.
    let src = "mov %r0, 0x5a5a1234\nadd %r0, 0x71727374\nmul %r0, 0x21222324\nor32 %r0, 0x13141516\n\
               jeq %r0, 0x61626364, +1\nstw [%r10-4], 0x41424344\nldxw %r2, [%r10-4]\nadd %r0, %r2\n\
               lddw %r3, 0x1122334455667788\nadd %r0, %r3\ndiv %r0, 0x31323334\nexit";
    let constants: [&[u8]; 8] = [
        &0x5a5a1234u32.to_le_bytes(),
        &0x71727374u32.to_le_bytes(),
        &0x21222324u32.to_le_bytes(),
        &0x13141516u32.to_le_bytes(),
        &0x61626364u32.to_le_bytes(),
        &0x41424344u32.to_le_bytes(),
        &0x55667788u32.to_le_bytes(),
        &0x31323334u32.to_le_bytes(),
    ];
    let insns = common::assemble(src);
    // SAFETY: the program stays inside its stack.
    let opts = unsafe { LoadOptions::default().unchecked() }.budget(u64::MAX);
    let compile = |platform: &'static ExecPlatform| {
        let mut p = Program::load(&insns, &opts).unwrap();
        p.compile(platform).unwrap();
        let code = p.native_code().unwrap().to_vec();
        let r0 = p.run_on(&mut [0u8; 16]);
        (code, r0)
    };
    let contains = |code: &[u8], c: &[u8]| code.windows(c.len()).any(|w| w == c);
    let (plain, plain_r0) = compile(ExecPlatform::get());
    let (blinded, blinded_r0) = compile(ExecPlatform::blinding());
    // Without blinding the constants are there as written (so the search
    // below finds what it looks for).
    for c in constants {
        assert!(contains(&plain, c), "{c:x?} not in the plain code");
        assert!(!contains(&blinded, c), "{c:x?} in the blinded code");
    }
    assert_eq!(plain_r0, blinded_r0);
    let interpreted = Program::load(&insns, &LoadOptions::default())
        .unwrap()
        .run_on(&mut [0u8; 16]);
    assert_eq!(blinded_r0, interpreted);
}
