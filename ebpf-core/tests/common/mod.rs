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

/// Runs `src` on `mem` (r1 = mem, r2 = len).
pub fn try_run_mem(src: &str, mem: &mut [u8]) -> Result<u64, RunError> {
    load(src).run_on(mem)
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
pub mod platform;
pub mod reference;
