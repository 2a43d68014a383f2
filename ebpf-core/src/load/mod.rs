//! The load pipeline: from the instructions a request carries to a program
//! ready to run, in named steps.
//!
//! 1. **parse** ([`parse`]): the request's bytes become instructions (the
//!    dispatcher copies them in; [`Program::from_bytes`] does the same for
//!    embedders);
//! 2. **resolve** ([`resolve`]): the maps the program references, found
//!    once, and the value each `lddw` of a map loads;
//! 3. **check** ([`check`]): whether the program may be admitted at all:
//!    opcodes, registers, reserved fields, jumps, calls and the helpers its
//!    type may call. This is where the verifier's analysis belongs;
//! 4. **rewrite** ([`ProgType::rewrite`]): the program type's context
//!    accesses converted to the structure the runtime passes;
//! 5. **decode** ([`Program::load`]): pre-decoded slots for the interpreter.
//!
//! [`LoadedProgram::load`] runs the steps after parsing.

pub mod resolve;

use alloc::vec::Vec;

use crate::error::LoadError;
use crate::insn::{Insn, INSN_SIZE};
use crate::platform::PlatformRef;
use crate::prog_type::ProgType;
use crate::program::{LoadOptions, Program};
use crate::runtime::LoadedProgram;

pub use resolve::ProgramMaps;

/// Step 1: `bytes` (8-byte little-endian slots) as instructions, in
/// fallibly allocated memory.
pub fn parse(bytes: &[u8]) -> Result<Vec<Insn>, LoadError> {
    let decoded =
        crate::insn::decode(bytes).map_err(|e| LoadError::PartialInstruction { bytes: e.len })?;
    let mut insns = Vec::new();
    insns
        .try_reserve_exact(bytes.len() / INSN_SIZE)
        .map_err(|_| LoadError::OutOfMemory)?;
    insns.extend(decoded);
    Ok(insns)
}

/// Step 3: whether `insns` may be loaded with `opts` (its helpers and map
/// references resolved).
pub fn check(insns: &[Insn], opts: &LoadOptions<'_>) -> Result<(), LoadError> {
    Program::check(insns, opts)
}

impl LoadedProgram {
    /// Loads `insns` as a program of `prog_type` bound to `maps`: resolve,
    /// check, rewrite, decode. `options` sets the budget and limits (its
    /// helpers and resolver are replaced by the type's helpers and `maps`).
    pub fn load(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        insns: &[Insn],
        maps: ProgramMaps,
        options: LoadOptions<'_>,
    ) -> Result<Self, LoadError> {
        let helpers = prog_type.helpers();
        let opts = options.helpers(&helpers).resolver(&maps);
        check(insns, &opts)?;
        let program = match prog_type.rewrite(insns)? {
            Some(rewritten) => Program::load(&rewritten, &opts)?,
            None => Program::load(insns, &opts)?,
        };
        Ok(LoadedProgram::new(
            platform,
            id,
            prog_type,
            program,
            maps.into_maps(),
        ))
    }
}
