//! Shared helpers of the integration tests.
#![allow(dead_code)]

use ebpf_core::{asm, Insn, LoadError, LoadOptions, Program, RunError};

/// Assembles `src`, panicking with the assembler's message on error.
pub fn assemble(src: &str) -> Vec<Insn> {
    asm::assemble(src).unwrap_or_else(|e| panic!("assembly failed: {e}\n{src}"))
}

/// Loads `src` with default options.
pub fn load(src: &str) -> Program {
    Program::load(&assemble(src), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("load failed: {e}\n{src}"))
}

/// Runs `src` on `mem` (r1 = mem, r2 = len) in the interpreter, with
/// run-time checks; when that run ends well, also compiled
/// ([`jit_agrees`]).
pub fn try_run_mem(src: &str, mem: &mut [u8]) -> Result<u64, RunError> {
    let insns = assemble(src);
    let mut copy = mem.to_vec();
    let result = load(src).run_on(mem);
    if let Ok(r0) = result {
        jit_agrees(&insns, &mut copy, r0, mem);
    }
    result
}

/// Runs `insns` compiled on `mem` and asserts it returns `r0` and leaves
/// `mem` as `expected`. Only for programs whose checked run ended well:
/// compiled code has no run-time checks.
pub fn jit_agrees(insns: &[Insn], mem: &mut [u8], r0: u64, expected: &[u8]) {
    // SAFETY: the caller ran the same program on the same memory with
    // run-time checks, and it ended without a fault.
    let opts = unsafe { LoadOptions::default().unchecked() }.budget(u64::MAX);
    let mut prog = Program::load(insns, &opts).expect("loads unchecked");
    prog.compile(platform::ExecPlatform::get())
        .expect("compiles");
    let got = prog.run_on(mem).expect("compiled run");
    assert_eq!(
        got, r0,
        "compiled code returned {got:#x}, the interpreter {r0:#x}"
    );
    assert_eq!(mem, expected, "compiled code left other memory");
}

/// Runs `src` on `mem` and returns r0.
pub fn run_mem(src: &str, mem: &mut [u8]) -> u64 {
    try_run_mem(src, mem).unwrap_or_else(|e| panic!("run failed: {e}\n{src}"))
}

/// Runs `src` with no memory and returns r0.
pub fn run(src: &str) -> u64 {
    run_mem(src, &mut [])
}

/// The error loading `src` gives.
pub fn load_err(src: &str) -> LoadError {
    load_insns_err(&assemble(src))
}

/// The error loading `insns` gives.
pub fn load_insns_err(insns: &[Insn]) -> LoadError {
    match Program::load(insns, &LoadOptions::default()) {
        Ok(_) => panic!("load unexpectedly succeeded: {insns:?}"),
        Err(e) => e,
    }
}
pub mod jit_gen;
pub mod platform;
pub mod reference;
