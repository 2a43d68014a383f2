//! Errors reported when a program is loaded and when it runs.

use core::fmt;

/// Why a program was refused at load time. Every variant names the
/// instruction index (`pc`) it concerns, where there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The program has no instructions.
    Empty,
    /// The program's byte length is not a multiple of the instruction size.
    PartialInstruction {
        /// Length in bytes.
        bytes: usize,
    },
    /// The program has more instructions than the limit.
    TooLarge {
        /// Number of instruction slots.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The opcode is not part of the instruction set.
    UnknownOpcode {
        /// Instruction index.
        pc: usize,
        /// The opcode.
        opcode: u8,
    },
    /// A register number above 10.
    BadRegister {
        /// Instruction index.
        pc: usize,
        /// The register number.
        reg: u8,
    },
    /// The instruction writes the read-only frame pointer r10.
    FramePointerWrite {
        /// Instruction index.
        pc: usize,
    },
    /// A field that must be zero for this opcode is not.
    ReservedField {
        /// Instruction index.
        pc: usize,
        /// Name of the field (`src`, `dst`, `off`, `imm`).
        field: &'static str,
    },
    /// An immediate outside the values the opcode accepts (shift count,
    /// byte-swap width, atomic operation, division by constant zero).
    BadImmediate {
        /// Instruction index.
        pc: usize,
        /// The immediate.
        imm: i32,
    },
    /// A jump or call whose target lies outside the program.
    JumpOutOfRange {
        /// Instruction index.
        pc: usize,
        /// The target, relative to the start of the program.
        target: i64,
    },
    /// A jump or call into the second slot of an `LD_IMM64`.
    JumpIntoLddw {
        /// Instruction index.
        pc: usize,
        /// The target.
        target: usize,
    },
    /// An `LD_IMM64` whose second slot is missing.
    LddwTruncated {
        /// Instruction index.
        pc: usize,
    },
    /// An `LD_IMM64` whose second slot is not all zero but for `imm`.
    BadLddwSecondSlot {
        /// Instruction index of the first slot.
        pc: usize,
    },
    /// The last instruction is neither `exit` nor an unconditional jump, so
    /// execution could run off the end of the program.
    FallsOffEnd {
        /// Index of the last instruction.
        pc: usize,
    },
    /// A call of a helper the embedder does not provide.
    UnknownHelper {
        /// Instruction index.
        pc: usize,
        /// The helper id.
        id: i32,
    },
    /// A call of a kernel function (kfunc) the runtime does not provide.
    UnknownKfunc {
        /// Instruction index.
        pc: usize,
        /// The kfunc id.
        id: i32,
    },
    /// The exception callback named is not the start of an instruction.
    BadExceptionCallback {
        /// The instruction index given.
        pc: usize,
    },
    /// A call of a socket helper on a platform whose sockets the runtime
    /// does not see ([`Platform::socket_lookups`](crate::platform::Platform::socket_lookups)).
    SocketsHidden {
        /// Instruction index.
        pc: usize,
        /// The helper's name.
        name: &'static str,
    },
    /// A call of a kernel function the program's type may not call.
    KfuncNotAllowed {
        /// Instruction index.
        pc: usize,
        /// Its name.
        name: &'static str,
    },
    /// A call kind or `LD_IMM64` pseudo source this runtime does not support,
    /// or an `LD_IMM64` map reference nothing resolved.
    Unsupported {
        /// Instruction index.
        pc: usize,
        /// What is not supported.
        what: &'static str,
    },
    /// Memory for the program could not be allocated.
    OutOfMemory,
    /// An `LD_IMM64` names a map the program was not given, or a value
    /// offset outside the map's value.
    BadMapReference {
        /// Index of the `lddw`.
        pc: usize,
        /// The map fd or index in the instruction.
        map: i32,
        /// The value offset (for `map_value`), else 0.
        offset: i32,
    },
    /// The verifier refused the program.
    Rejected(crate::verifier::VerifyError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::Empty => write!(f, "program is empty"),
            LoadError::Rejected(e) => write!(f, "{e}"),
            LoadError::PartialInstruction { bytes } => write!(
                f,
                "program of {bytes} bytes is not a whole number of 8-byte instructions"
            ),
            LoadError::TooLarge { len, max } => {
                write!(f, "program has {len} instructions, the limit is {max}")
            }
            LoadError::UnknownOpcode { pc, opcode } => {
                write!(f, "insn {pc}: unknown opcode {opcode:#04x}")
            }
            LoadError::BadRegister { pc, reg } => write!(f, "insn {pc}: invalid register r{reg}"),
            LoadError::FramePointerWrite { pc } => {
                write!(f, "insn {pc}: frame pointer r10 is read only")
            }
            LoadError::ReservedField { pc, field } => {
                write!(f, "insn {pc}: reserved field '{field}' must be zero")
            }
            LoadError::BadImmediate { pc, imm } => {
                write!(f, "insn {pc}: invalid immediate {imm} for this opcode")
            }
            LoadError::JumpOutOfRange { pc, target } => {
                write!(f, "insn {pc}: jump target {target} is out of range")
            }
            LoadError::JumpIntoLddw { pc, target } => write!(
                f,
                "insn {pc}: jump target {target} is the second half of an lddw"
            ),
            LoadError::LddwTruncated { pc } => {
                write!(f, "insn {pc}: lddw is missing its second slot")
            }
            LoadError::BadLddwSecondSlot { pc } => {
                write!(f, "insn {pc}: second slot of lddw must be zero but for imm")
            }
            LoadError::FallsOffEnd { pc } => write!(
                f,
                "insn {pc}: last instruction is not exit or jump; execution would fall off the end"
            ),
            LoadError::UnknownHelper { pc, id } => {
                let n = id as u32;
                let linux_only = crate::helpers::ids::LINUX_ONLY
                    .iter()
                    .find(|&&(known, _, _)| known == n);
                // Kfuncs are served under helper ids, but are no helpers.
                let proto = crate::helpers::proto::proto_of(n)
                    .filter(|_| n < crate::helpers::ids::KFUNC_BASE);
                match (proto, linux_only) {
                    (Some(p), _) => write!(
                        f,
                        "insn {pc}: helper {} (id {id}) is not one this program may call",
                        p.name
                    ),
                    (None, Some((_, name, needs))) => write!(
                        f,
                        "insn {pc}: helper {name} (id {id}) needs the Linux kernel's {needs}: not provided by this runtime"
                    ),
                    (None, None) => write!(f, "insn {pc}: unknown helper id {id}"),
                }
            }
            LoadError::BadExceptionCallback { pc } => write!(
                f,
                "exception callback at insn {pc}: not the start of an instruction of the program"
            ),
            LoadError::SocketsHidden { pc, name } => write!(
                f,
                "insn {pc}: helper {name} needs the kernel's sockets, which this platform does not show the runtime: not provided here"
            ),
            LoadError::KfuncNotAllowed { pc, name } => {
                write!(f, "insn {pc}: calling kernel function {name} is not allowed")
            }
            LoadError::UnknownKfunc { pc, id } => write!(
                f,
                "insn {pc}: kernel function id {id} is not one this runtime provides"
            ),
            LoadError::Unsupported { pc, what } => write!(f, "insn {pc}: unsupported: {what}"),
            LoadError::OutOfMemory => write!(f, "out of memory"),
            LoadError::BadMapReference { pc, map, offset } => write!(
                f,
                "insn {pc}: map reference {map} (value offset {offset}) is not a map of this program"
            ),
        }
    }
}

/// The kind of memory access that failed a run-time check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// A load (`ldx`, helper argument read).
    Load,
    /// A store (`st`, `stx`, helper argument write).
    Store,
    /// An atomic read-modify-write.
    Atomic,
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Load => "load",
            AccessKind::Store => "store",
            AccessKind::Atomic => "atomic",
        })
    }
}

/// Why a run stopped before the program returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// A memory access outside every region granted to the program, or a
    /// store into a read-only region. Nothing was read or written.
    OutOfBounds {
        /// Instruction index.
        pc: usize,
        /// First byte of the access.
        addr: u64,
        /// Bytes accessed.
        size: usize,
        /// Load, store or atomic.
        kind: AccessKind,
    },
    /// An atomic access that is not naturally aligned.
    Misaligned {
        /// Instruction index.
        pc: usize,
        /// First byte of the access.
        addr: u64,
        /// Bytes accessed.
        size: usize,
    },
    /// A bpf-to-bpf call would exceed the call-frame limit.
    CallDepthExceeded {
        /// Instruction index of the call.
        pc: usize,
        /// The frame limit.
        max: usize,
    },
    /// `callx` through a register that holds no function address.
    BadCallTarget {
        /// Instruction index.
        pc: usize,
        /// The register's value.
        value: u64,
    },
    /// The program executed more instructions than its budget.
    BudgetExhausted {
        /// Instruction index where the budget ran out.
        pc: usize,
        /// The budget.
        budget: u64,
    },
    /// No memory for the run's stack.
    OutOfMemory,
    /// A helper made a tail call where nothing follows it: in a callback,
    /// or in a program run without the runtime ([`crate::Program::run`]).
    UnfollowedTailCall,
    /// A helper ended the program with this value ([`crate::Flow::Exit`]),
    /// on its way out of the activations it was called in; the outermost
    /// one turns it into the run's result, so runs never return it.
    Unwound {
        /// The run's result.
        value: u64,
    },
    /// A helper failed in a way that ends the program (not an errno the
    /// program sees as a return value).
    Helper {
        /// Instruction index of the call.
        pc: usize,
        /// The helper id.
        id: u32,
        /// The helper's own error.
        error: HelperError,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunError::OutOfBounds {
                pc,
                addr,
                size,
                kind,
            } => write!(
                f,
                "insn {pc}: {kind} of {size} bytes at {addr:#x} is outside the program's memory"
            ),
            RunError::Misaligned { pc, addr, size } => write!(
                f,
                "insn {pc}: atomic access of {size} bytes at {addr:#x} is misaligned"
            ),
            RunError::CallDepthExceeded { pc, max } => {
                write!(f, "insn {pc}: call exceeds the limit of {max} frames")
            }
            RunError::BadCallTarget { pc, value } => {
                write!(f, "insn {pc}: callx target {value:#x} is not a function")
            }
            RunError::BudgetExhausted { pc, budget } => {
                write!(f, "insn {pc}: instruction budget of {budget} exhausted")
            }
            RunError::Helper { pc, id, error } => {
                write!(f, "insn {pc}: helper {id} failed: {error}")
            }
            RunError::OutOfMemory => f.write_str("no memory for the program's stack"),
            RunError::UnfollowedTailCall => {
                f.write_str("a tail call was made where no runtime follows it")
            }
            RunError::Unwound { value } => {
                write!(f, "a helper ended the program with {value:#x}")
            }
        }
    }
}

/// A helper's fatal error; the interpreter adds the pc and helper id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperError {
    /// A pointer argument does not lie in the program's memory.
    BadPointer {
        /// The address.
        addr: u64,
        /// The length the helper needed.
        len: usize,
    },
    /// The helper is not available in this run.
    NotAvailable,
    /// A value passed as a callback is not one of the program's functions.
    BadCallback(u64),
    /// A BPF function the helper called back failed; the run ends with
    /// that function's error.
    Callback,
    /// The work the helper does for the program (scanning a map, spinning
    /// on a lock) spent the run's instruction budget.
    BudgetExhausted,
    /// Another failure, described by a static message.
    Other(&'static str),
}

impl fmt::Display for HelperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HelperError::BadPointer { addr, len } => write!(
                f,
                "argument {addr:#x} (+{len} bytes) is outside the program's memory"
            ),
            HelperError::NotAvailable => f.write_str("not available"),
            HelperError::BadCallback(v) => write!(f, "callback {v:#x} is not a BPF function"),
            HelperError::Callback => f.write_str("callback failed"),
            HelperError::BudgetExhausted => {
                f.write_str("the work it does spent the instruction budget")
            }
            HelperError::Other(msg) => f.write_str(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn unknown_helpers_say_why() {
        let msg = |id| LoadError::UnknownHelper { pc: 3, id }.to_string();
        assert_eq!(
            msg(86),
            "insn 3: helper bpf_sk_release (id 86) is not one this program may call"
        );
        assert_eq!(
            msg(69),
            "insn 3: helper bpf_fib_lookup (id 69) needs the Linux kernel's routing tables: not provided by this runtime"
        );
        assert_eq!(msg(100_000), "insn 3: unknown helper id 100000");
    }
}
