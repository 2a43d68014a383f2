//! ebpf-core: the platform-neutral heart of ebpf-kmod.
//!
//! It holds the BPF instruction set ([`insn`], [`opcode`]), load-time
//! validation and pre-decoding ([`Program`]), the interpreter
//! ([`Program::run`]) with run-time memory checks ([`MemoryMap`]), the
//! helper interface ([`Helpers`]) and, with the `asm` feature, a text
//! assembler and disassembler ([`asm`]).
//!
//! The crate is `no_std` and allocates only when a program is loaded
//! (fallibly, through `try_reserve`); running a program never allocates.
//!
//! ```
//! use ebpf_core::{asm, LoadOptions, Program};
//!
//! let insns = asm::assemble("mov %r0, 6\nmul %r0, 7\nexit").unwrap();
//! let prog = Program::load(&insns, &LoadOptions::default()).unwrap();
//! assert_eq!(prog.run_on(&mut []).unwrap(), 42);
//! ```
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(feature = "asm")]
pub mod asm;
mod decoded;
pub mod error;
pub mod helpers;
pub mod insn;
mod interp;
pub mod memory;
pub mod opcode;
pub mod program;

pub use error::{AccessKind, HelperError, LoadError, RunError};
pub use helpers::{Helpers, NoHelpers};
pub use insn::Insn;
pub use interp::Stack;
pub use memory::{MemoryMap, ProgramMemory, Region, RegionKind};
pub use program::{LoadOptions, Program, PseudoResolver};
