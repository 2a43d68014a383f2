//! The interpreter's internal instruction form: one dense operation code per
//! distinct behaviour (width and operand kind folded in), immediates already
//! extended to 64 bits and jump targets already absolute, so that the hot
//! loop does no decoding.

/// One distinct behaviour of the interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub(crate) enum Op {
    // 64-bit arithmetic; `Imm` forms take the sign-extended immediate.
    Add64Imm,
    Add64Reg,
    Sub64Imm,
    Sub64Reg,
    Mul64Imm,
    Mul64Reg,
    Div64Imm,
    Div64Reg,
    Sdiv64Imm,
    Sdiv64Reg,
    Mod64Imm,
    Mod64Reg,
    Smod64Imm,
    Smod64Reg,
    Or64Imm,
    Or64Reg,
    And64Imm,
    And64Reg,
    Lsh64Imm,
    Lsh64Reg,
    Rsh64Imm,
    Rsh64Reg,
    Arsh64Imm,
    Arsh64Reg,
    Xor64Imm,
    Xor64Reg,
    Mov64Imm,
    Mov64Reg,
    Movsx64B,
    Movsx64H,
    Movsx64W,
    Neg64,
    // 32-bit arithmetic; results are zero-extended to 64 bits.
    Add32Imm,
    Add32Reg,
    Sub32Imm,
    Sub32Reg,
    Mul32Imm,
    Mul32Reg,
    Div32Imm,
    Div32Reg,
    Sdiv32Imm,
    Sdiv32Reg,
    Mod32Imm,
    Mod32Reg,
    Smod32Imm,
    Smod32Reg,
    Or32Imm,
    Or32Reg,
    And32Imm,
    And32Reg,
    Lsh32Imm,
    Lsh32Reg,
    Rsh32Imm,
    Rsh32Reg,
    Arsh32Imm,
    Arsh32Reg,
    Xor32Imm,
    Xor32Reg,
    Mov32Imm,
    Mov32Reg,
    Movsx32B,
    Movsx32H,
    Neg32,
    // Byte order.
    Le16,
    Le32,
    Le64,
    Be16,
    Be32,
    Be64,
    Bswap16,
    Bswap32,
    Bswap64,
    // Loads and stores; `off` is the memory offset.
    LdImm64,
    LdxB,
    LdxH,
    LdxW,
    LdxDW,
    LdxsB,
    LdxsH,
    LdxsW,
    StB,
    StH,
    StW,
    StDW,
    StxB,
    StxH,
    StxW,
    StxDW,
    AtomicW,
    AtomicDW,
    LdAbsB,
    LdAbsH,
    LdAbsW,
    LdIndB,
    LdIndH,
    LdIndW,
    // Jumps; `off` is the absolute target.
    Ja,
    Jeq64Imm,
    Jeq64Reg,
    Jgt64Imm,
    Jgt64Reg,
    Jge64Imm,
    Jge64Reg,
    Jset64Imm,
    Jset64Reg,
    Jne64Imm,
    Jne64Reg,
    Jsgt64Imm,
    Jsgt64Reg,
    Jsge64Imm,
    Jsge64Reg,
    Jlt64Imm,
    Jlt64Reg,
    Jle64Imm,
    Jle64Reg,
    Jslt64Imm,
    Jslt64Reg,
    Jsle64Imm,
    Jsle64Reg,
    Jeq32Imm,
    Jeq32Reg,
    Jgt32Imm,
    Jgt32Reg,
    Jge32Imm,
    Jge32Reg,
    Jset32Imm,
    Jset32Reg,
    Jne32Imm,
    Jne32Reg,
    Jsgt32Imm,
    Jsgt32Reg,
    Jsge32Imm,
    Jsge32Reg,
    Jlt32Imm,
    Jlt32Reg,
    Jle32Imm,
    Jle32Reg,
    Jslt32Imm,
    Jslt32Reg,
    Jsle32Imm,
    Jsle32Reg,
    // Calls; `imm` is the helper id, `off` the local target.
    CallHelper,
    CallLocal,
    CallReg,
    Exit,
    /// Second slot of an `LD_IMM64`; never executed (no jump may land here
    /// and the first slot skips it).
    LddwHigh,
}

impl Op {
    /// Whether it is a jump (`Ja` through `Jsle32Reg`, declared in a row
    /// above): its target is in `off`, and it writes no register.
    pub(crate) fn is_jump(self) -> bool {
        (Op::Ja as u8..=Op::Jsle32Reg as u8).contains(&(self as u8))
    }
}

/// One pre-decoded instruction slot (16 bytes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Slot {
    pub op: Op,
    pub dst: u8,
    pub src: u8,
    /// Memory offset, or absolute jump/call target.
    pub off: i32,
    /// Immediate, already extended as the operation needs (sign-extended for
    /// 64-bit operations, zero-extended 32 bits for 32-bit ones); the full
    /// 64-bit constant for `LD_IMM64`.
    pub imm: u64,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 16);
