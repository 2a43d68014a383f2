//! The JIT: a verified program's slots compiled to machine code, run
//! instead of the interpreter.
//!
//! Only programs that run without run-time checks are compiled (verified
//! ones, or those an embedder loaded with [`LoadOptions::unchecked`]);
//! programs admitted unverified keep the interpreter, whose checks the
//! code would otherwise have to repeat. Compiled code has no instruction
//! budget: the verifier proved the program ends.
//!
//! The code lives in executable memory from the [`Platform`]
//! ([`ExecMemory`]): written while writable, then sealed read-execute, and
//! freed with the program (after a grace period, like the program). A
//! platform without executable memory, or a machine other than x86-64,
//! keeps the interpreter.
//!
//! [`LoadOptions::unchecked`]: crate::LoadOptions::unchecked
//! [`Platform`]: crate::Platform

pub mod kernel;
mod map_constant;
pub(crate) mod run;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use alloc::vec::Vec;
use core::fmt;

use crate::platform::{ExecMemory, PlatformRef};

/// Why a program was not compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitError {
    /// This machine has no JIT back end.
    Unsupported,
    /// The platform gives no executable memory.
    NoExecutableMemory,
    /// The program runs with run-time checks (admitted unverified).
    Checked,
    /// Memory ran out while compiling.
    OutOfMemory,
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JitError::Unsupported => "no JIT for this machine or instruction",
            JitError::NoExecutableMemory => "the platform gives no executable memory",
            JitError::Checked => "programs with run-time checks are interpreted",
            JitError::OutOfMemory => "out of memory while compiling",
        })
    }
}

/// What a back end produces: the code, and where each function starts.
pub(crate) struct Compiled {
    pub(crate) code: Vec<u8>,
    /// (slot index of a function, its offset in the code), sorted.
    pub(crate) functions: Vec<(u32, u32)>,
}

/// A program's machine code in executable memory.
pub(crate) struct Image {
    memory: ExecMemory,
    functions: Vec<(u32, u32)>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Image({} bytes)", self.memory.len())
    }
}

impl Image {
    /// Compiles `program`'s slots into memory from `platform`.
    pub(crate) fn compile(
        platform: PlatformRef,
        program: &crate::Program,
        maps: &[crate::Shared<crate::Map>],
    ) -> Result<Image, JitError> {
        if program.checked {
            return Err(JitError::Checked);
        }
        // A fresh key per program (never 0, which would blind nothing).
        let blind = platform.jit_blinding().then(|| platform.random_u32() | 1);
        let compiled = backend(program, maps, blind)?;
        let memory = ExecMemory::with_code(platform, &compiled.code).map_err(|e| match e {
            crate::Errno::ENOMEM => JitError::OutOfMemory,
            _ => JitError::NoExecutableMemory,
        })?;
        Ok(Image {
            memory,
            functions: compiled.functions,
        })
    }

    /// The code's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.memory.len()
    }

    /// The machine code.
    pub(crate) fn code(&self) -> &[u8] {
        // SAFETY: the executable memory holds `len` bytes of code, readable
        // and never written after it was sealed, for as long as `self`.
        unsafe { core::slice::from_raw_parts(self.memory.as_ptr(), self.memory.len()) }
    }

    /// The start of the code (the entry).
    pub(crate) fn entry(&self) -> *const u8 {
        self.memory.as_ptr()
    }

    /// The address of the code of the function starting at `slot`.
    pub(crate) fn function(&self, slot: usize) -> Option<u64> {
        let i = self
            .functions
            .binary_search_by_key(&(slot as u32), |&(s, _)| s)
            .ok()?;
        Some(self.memory.as_ptr() as u64 + u64::from(self.functions[i].1))
    }
}

/// How compiled code does a `bpf_map_lookup_elem` on a map the program
/// references by constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirectLookup {
    /// A call of the map's lookup, without the helper table
    /// ([`run::lookup_direct`]): arrays and hashes of one value per key.
    Call,
    /// The value's address computed in line, as Linux's JIT does for
    /// arrays (`array_map_gen_lookup`): `base + index * stride` for an
    /// index below `max_entries`, else NULL.
    Array(crate::maps::InlineArray),
}

/// How compiled code may look up in `value` (what an `lddw` loads), if it
/// is one of `maps` whose lookups it may do directly (not per-CPU, not maps
/// of maps).
pub(crate) fn direct_lookup(
    maps: &[crate::Shared<crate::Map>],
    value: u64,
) -> Option<DirectLookup> {
    use crate::maps::MapType;
    let map = maps
        .iter()
        .find(|m| crate::Shared::as_ptr(m) as u64 == value)?;
    if let Some(array) = map.inline_array().filter(|a| a.stride <= i32::MAX as u32) {
        return Some(DirectLookup::Array(array));
    }
    matches!(
        map.map_type(),
        MapType::Array | MapType::Hash | MapType::LruHash
    )
    .then_some(DirectLookup::Call)
}

#[cfg(target_arch = "x86_64")]
fn backend(
    program: &crate::Program,
    maps: &[crate::Shared<crate::Map>],
    blind: Option<u32>,
) -> Result<Compiled, JitError> {
    x86_64::compile(
        &program.code,
        &program.functions,
        program.callx_helpers,
        &|value| direct_lookup(maps, value),
        blind,
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn backend(
    _: &crate::Program,
    _: &[crate::Shared<crate::Map>],
    _: Option<u32>,
) -> Result<Compiled, JitError> {
    Err(JitError::Unsupported)
}
