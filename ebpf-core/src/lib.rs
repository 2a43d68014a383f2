//! ebpf-core: the platform-neutral heart of ebpf-kmod.
//!
//! It holds the BPF instruction set ([`insn`], [`opcode`]), load-time
//! validation and pre-decoding ([`Program`]), the interpreter
//! ([`Program::run`]) with run-time memory checks ([`MemoryMap`]), the
//! helper interface ([`Helpers`]), the OS contract ([`Platform`]), maps
//! with Linux's semantics ([`maps`]), Linux's helpers and tail calls
//! ([`runtime`]) and, with the `asm` feature, a text assembler and
//! disassembler ([`asm`]).
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

pub mod abi;
#[cfg(feature = "asm")]
pub mod asm;
pub mod attach;
#[cfg(feature = "c-os")]
pub mod c_os;
mod decoded;
pub mod dispatch;
pub mod errno;
pub mod error;
mod fixed_vec;
pub mod graph;
pub mod helpers;
pub mod insn;
mod interp;
pub mod jit;
pub mod load;
pub mod maps;
pub mod memory;
pub mod opcode;
pub mod platform;
pub mod prog_type;
pub mod program;
pub mod quota;
pub mod runtime;
pub mod shared;
pub mod verifier;

pub use errno::Errno;
pub use error::{AccessKind, HelperError, LoadError, RunError};
pub use helpers::{Flow, Helpers, NoHelpers, ProgramMemory};
pub use insn::Insn;
pub use interp::{Exit, Stack};
pub use load::ProgramMaps;
pub use maps::{Map, MapAttr, MapObject, MapType};
pub use memory::{MemoryMap, Region, RegionKind};
pub use platform::{Platform, PlatformRef};
pub use prog_type::ProgType;
pub use program::{LoadOptions, Program, PseudoResolver};
pub use runtime::LoadedProgram;
pub use shared::Shared;
