//! Opcode fields of the BPF instruction set (RFC 9669, section 3).
//!
//! The 8-bit opcode is split into a 3-bit class and five bits whose meaning
//! depends on the class: for arithmetic and jump classes a 4-bit operation
//! and a 1-bit source, for load and store classes a 3-bit mode and a 2-bit
//! size.
//!
//! Constants named as in Linux's `uapi/linux/bpf.h`; those without their own
//! doc line are grouped under the comment above them.
#![allow(missing_docs)]

/// Non-standard load operations (`LD_IMM64`, legacy packet loads).
pub const BPF_LD: u8 = 0x00;
/// Load into a register from memory.
pub const BPF_LDX: u8 = 0x01;
/// Store an immediate to memory.
pub const BPF_ST: u8 = 0x02;
/// Store a register to memory (and atomics).
pub const BPF_STX: u8 = 0x03;
/// 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// 64-bit jumps, calls and exit.
pub const BPF_JMP: u8 = 0x05;
/// 32-bit jumps.
pub const BPF_JMP32: u8 = 0x06;
/// 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

/// Source operand is the 32-bit immediate.
pub const BPF_K: u8 = 0x00;
/// Source operand is the source register.
pub const BPF_X: u8 = 0x08;

/// Arithmetic operation codes (upper four bits).
pub const BPF_ADD: u8 = 0x00;
pub const BPF_SUB: u8 = 0x10;
pub const BPF_MUL: u8 = 0x20;
pub const BPF_DIV: u8 = 0x30;
pub const BPF_OR: u8 = 0x40;
pub const BPF_AND: u8 = 0x50;
pub const BPF_LSH: u8 = 0x60;
pub const BPF_RSH: u8 = 0x70;
pub const BPF_NEG: u8 = 0x80;
pub const BPF_MOD: u8 = 0x90;
pub const BPF_XOR: u8 = 0xa0;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_ARSH: u8 = 0xc0;
pub const BPF_END: u8 = 0xd0;

/// Byte-order conversion to little endian (source bit of `BPF_END`).
pub const BPF_TO_LE: u8 = 0x00;
/// Byte-order conversion to big endian (source bit of `BPF_END`).
pub const BPF_TO_BE: u8 = 0x08;

/// Jump operation codes (upper four bits).
pub const BPF_JA: u8 = 0x00;
pub const BPF_JEQ: u8 = 0x10;
pub const BPF_JGT: u8 = 0x20;
pub const BPF_JGE: u8 = 0x30;
pub const BPF_JSET: u8 = 0x40;
pub const BPF_JNE: u8 = 0x50;
pub const BPF_JSGT: u8 = 0x60;
pub const BPF_JSGE: u8 = 0x70;
pub const BPF_CALL: u8 = 0x80;
pub const BPF_EXIT: u8 = 0x90;
pub const BPF_JLT: u8 = 0xa0;
pub const BPF_JLE: u8 = 0xb0;
pub const BPF_JSLT: u8 = 0xc0;
pub const BPF_JSLE: u8 = 0xd0;

/// Access sizes of load and store instructions.
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;

/// Load and store modes.
pub const BPF_IMM: u8 = 0x00;
pub const BPF_ABS: u8 = 0x20;
pub const BPF_IND: u8 = 0x40;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_MEMSX: u8 = 0x80;
pub const BPF_ATOMIC: u8 = 0xc0;

/// Atomic operations (in the immediate of an atomic instruction).
pub const BPF_FETCH: i32 = 0x01;
pub const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
pub const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;

/// `src_reg` values of `call`.
pub const BPF_PSEUDO_HELPER: u8 = 0;
/// Call of a BPF function in the same program, `imm` is the relative target.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// Call of a kernel function by BTF id (not supported by this runtime).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// `src_reg` values of `LD_IMM64` (RFC 9669, section 5.4).
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
pub const BPF_PSEUDO_FUNC: u8 = 4;
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// Class of an opcode.
#[inline]
pub const fn class(op: u8) -> u8 {
    op & 0x07
}

/// Source bit of an arithmetic or jump opcode.
#[inline]
pub const fn source(op: u8) -> u8 {
    op & 0x08
}

/// Operation of an arithmetic or jump opcode.
#[inline]
pub const fn operation(op: u8) -> u8 {
    op & 0xf0
}

/// Size field of a load or store opcode.
#[inline]
pub const fn size(op: u8) -> u8 {
    op & 0x18
}

/// Mode field of a load or store opcode.
#[inline]
pub const fn mode(op: u8) -> u8 {
    op & 0xe0
}

/// Number of bytes accessed by a load or store of size field `size`.
#[inline]
pub const fn size_bytes(size: u8) -> usize {
    match size {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}
