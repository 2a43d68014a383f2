//! Running compiled code: the run record the code and Rust share, the entry
//! call, and the Rust functions the code calls (helpers, legacy packet
//! loads, `callx` targets).

use core::cell::Cell;

use crate::error::RunError;
use crate::helpers::Flow;
use crate::helpers::{Helpers, ProgramMemory};
use crate::interp::{call_helper as interpret_helper_call, Exit};
use crate::memory::MemoryMap;
use crate::program::{Program, MAX_CALL_FRAMES, STACK_SIZE};

/// Why compiled code left a run early (the record's `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Status {
    /// Still running (or returned normally).
    Running = 0,
    /// A helper failed: the error is in the record.
    Failed = 1,
    /// A helper made a tail call.
    TailCall = 2,
    /// A legacy packet load was out of bounds: the program returns 0.
    ReturnZero = 3,
    /// A local call would go below the last frame.
    CallDepth = 4,
    /// `callx` with a value that is not a function.
    BadCallTarget = 5,
}

/// What compiled code and Rust share during one activation. The code
/// reaches the first fields by offset (`#[repr(C)]`); the rest is Rust's.
#[repr(C)]
pub(crate) struct RunRecord<'r, 'a> {
    pub(crate) status: u64,
    /// The stack pointer after the entry's prologue, for unwinding.
    pub(crate) saved_rsp: u64,
    /// The lowest address of the eBPF stack: no frame may start at or
    /// below it.
    pub(crate) stack_base: u64,
    /// `r10` at the last helper call.
    pub(crate) frame_pointer: u64,
    /// The helper being called.
    pub(crate) call_id: u32,
    /// The instruction of the call (or `callx`) being made.
    pub(crate) call_pc: u32,
    /// The instruction a run-ending check failed at.
    pub(crate) fail_pc: u32,
    fail_value_pad: u32,
    /// The value a failing `callx` held.
    fail_value: u64,
    stack_hi: u64,
    program: &'r Program,
    mem: &'r MemoryMap<'a>,
    helpers: &'r mut dyn Helpers,
    budget: &'r Cell<u64>,
    failure: &'r Cell<Option<RunError>>,
    error: Option<RunError>,
}

/// Where an activation starts and what it runs with.
pub(crate) struct Activation<'r, 'a> {
    pub(crate) function: usize,
    pub(crate) frame_pointer: u64,
    pub(crate) stack_base: u64,
    pub(crate) stack_hi: u64,
    pub(crate) args: [u64; 5],
    pub(crate) mem: &'r MemoryMap<'a>,
    pub(crate) budget: &'r Cell<u64>,
    pub(crate) failure: &'r Cell<Option<RunError>>,
}

/// The entry's signature.
type Entry = unsafe extern "sysv64" fn(*mut RunRecord<'_, '_>, u64, *const u64, u64) -> u64;

/// Runs `program`'s compiled code from the function at slot `function`.
pub(crate) fn enter(
    program: &Program,
    code: *const u8,
    target: u64,
    at: Activation<'_, '_>,
    helpers: &mut dyn Helpers,
) -> Result<Exit, RunError> {
    let mut record = RunRecord {
        status: Status::Running as u64,
        saved_rsp: 0,
        stack_base: at.stack_base,
        frame_pointer: at.frame_pointer,
        call_id: 0,
        call_pc: at.function as u32,
        fail_pc: 0,
        fail_value_pad: 0,
        fail_value: 0,
        stack_hi: at.stack_hi,
        program,
        mem: at.mem,
        helpers,
        budget: at.budget,
        failure: at.failure,
        error: None,
    };
    // SAFETY: `code` starts an image the compiler made, whose first bytes
    // are the entry with this signature (`x86_64::Compiler::entry`); the
    // image lives as long as `program`, which the caller borrows.
    let entry: Entry = unsafe { core::mem::transmute::<*const u8, Entry>(code) };
    // SAFETY: the record outlives the call; `target` is the address of one
    // of the image's functions; `args` holds five values; the frame
    // pointer is the top of a frame of the run's stack, which the code
    // (verified, or trusted by the unchecked load) stays within.
    let r0 = unsafe { entry(&mut record, target, at.args.as_ptr(), at.frame_pointer) };
    match record.status {
        s if s == Status::Running as u64 => Ok(Exit::Return(r0)),
        s if s == Status::TailCall as u64 => Ok(Exit::TailCall),
        s if s == Status::ReturnZero as u64 => Ok(Exit::Return(0)),
        s if s == Status::CallDepth as u64 => Err(RunError::CallDepthExceeded {
            pc: record.fail_pc as usize,
            max: MAX_CALL_FRAMES,
        }),
        s if s == Status::BadCallTarget as u64 => Err(RunError::BadCallTarget {
            pc: record.call_pc as usize,
            value: record.fail_value,
        }),
        _ => Err(record.error.take().unwrap_or(RunError::UnfollowedTailCall)),
    }
}

/// Called by the code for a helper call: `a1`-`a5` are `r1`-`r5`.
pub(super) extern "sysv64" fn call_helper(
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    record: *mut RunRecord<'_, '_>,
) -> u64 {
    // SAFETY: the code passes the record `enter` made, live for the run,
    // and nothing else touches it during the call.
    let record = unsafe { &mut *record };
    let stack_lo = record.frame_pointer - STACK_SIZE as u64;
    let depth = ((record.stack_hi - record.frame_pointer) / STACK_SIZE as u64) as usize;
    let view = ProgramMemory {
        map: record.mem,
        stack_lo,
        stack_hi: record.stack_hi,
        stack_base: record.stack_base,
        depth,
        budget: record.budget,
        callee: Some(record.program),
        failure: record.failure,
    };
    let args = [a1, a2, a3, a4, a5];
    match interpret_helper_call(
        record.helpers,
        record.call_id,
        args,
        &view,
        record.call_pc as usize,
    ) {
        Ok(Flow::Return(r0)) => r0,
        Ok(Flow::TailCall) => {
            record.status = Status::TailCall as u64;
            0
        }
        Ok(Flow::Exit(value)) => {
            record.error = Some(RunError::Unwound { value });
            record.status = Status::Failed as u64;
            0
        }
        Err(e) => {
            record.error = Some(e);
            record.status = Status::Failed as u64;
            0
        }
    }
}

/// Called by the code for `LD_ABS`/`LD_IND`: `size` bytes at `offset` of
/// the packet (Linux's negative offsets included), big-endian.
pub(super) extern "sysv64" fn legacy_load(
    offset: u64,
    size: u64,
    _: u64,
    _: u64,
    _: u64,
    record: *mut RunRecord<'_, '_>,
) -> u64 {
    // SAFETY: as for `call_helper`.
    let record = unsafe { &mut *record };
    match legacy_value(record.mem, offset, size) {
        Some(value) => value,
        None => {
            record.status = Status::ReturnZero as u64;
            0
        }
    }
}

/// What `LD_ABS`/`LD_IND` of `size` bytes at `offset` loads from the
/// run's packet (big-endian), or `None` out of it (the program then ends
/// with 0).
pub(super) fn legacy_value(mem: &MemoryMap<'_>, offset: u64, size: u64) -> Option<u64> {
    let at = mem.legacy_packet_load(offset as u32 as i32, size)?;
    let mut bytes = [0u8; 8];
    let n = size.min(8) as usize;
    // SAFETY: `legacy_packet_load` checked that `size` bytes at `at` lie in
    // the packet or the link-layer header in front of it, both granted.
    unsafe { core::ptr::copy_nonoverlapping(at as *const u8, bytes[8 - n..].as_mut_ptr(), n) };
    Some(u64::from_be_bytes(bytes))
}

/// What [`resolve_call`] returns for a `callx` of a helper id (programs
/// loaded with [`crate::LoadOptions::callx_helpers`]): no code address.
pub(super) const CALLX_HELPER: u64 = 1;

/// Called by the code for `callx`: the address of the function `value`
/// names; [`CALLX_HELPER`] when it names none but helpers may be called
/// so; else 0 (and the run ends).
pub(super) extern "sysv64" fn resolve_call(value: u64, record: *mut RunRecord<'_, '_>) -> u64 {
    // SAFETY: as for `call_helper`.
    let record = unsafe { &mut *record };
    let native = record
        .program
        .function_index(value)
        .and_then(|index| record.program.native_function(index));
    match native {
        Some(address) => address,
        None if record.program.callx_helpers => CALLX_HELPER,
        None => {
            record.fail_value = value;
            record.status = Status::BadCallTarget as u64;
            0
        }
    }
}

/// `bpf_map_lookup_elem` on a map the compiler knew (an array or hash of
/// one value per key, referenced by the program): called by the code with
/// the map's address in `r1` and the key's in `r2`, without the helper
/// table. Returns the value's address, or 0.
pub(super) extern "sysv64" fn lookup_direct(map: u64, key: u64) -> u64 {
    // SAFETY: the compiler emits this call only where `r1` holds the
    // address of one of the program's maps (loaded by an `lddw` it saw),
    // which the program keeps alive while it can run.
    let map = unsafe { &*(map as *const crate::Map) };
    let len = map.attr().key_size as usize;
    // SAFETY: the verifier proved `key_size` bytes at `key` readable (the
    // helper's key argument), for the length of the call.
    let key = unsafe { core::slice::from_raw_parts(key as *const u8, len) };
    map.prog_lookup(key, 0)
}
