//! A text assembler and disassembler in the uBPF/LLVM-style syntax.
//!
//! One instruction per line; `#`, `;` and `//` start comments; `name:`
//! defines a label that jumps and local calls may name instead of a
//! relative offset. Registers are written `%r0`..`%r10` (the `%` is
//! optional). Immediates are decimal or `0x` hexadecimal, optionally
//! negative.
//!
//! | form | meaning |
//! |---|---|
//! | `add %r1, 2` / `add32 %r1, %r2` | ALU64 / ALU32 (`add sub mul div sdiv mod smod or and lsh rsh arsh xor mov`) |
//! | `neg %r1`, `neg32 %r1` | negation |
//! | `movsx8 %r1, %r2` (`16`, `32`), `mov32sx8` (`16`); `movsx3264` (`864 1664 832 1632`) | sign-extending moves |
//! | `le16 %r1`, `be32 %r1`, `bswap64 %r1` (or `swap64`) | byte order |
//! | `lddw %r1, 0x1122334455667788` | 64-bit immediate |
//! | `lddw %r1, map_fd(3)`, `map_value(3, 8)`, `map_idx(0)`, `map_idx_value(0, 8)`, `btf_id(5, 0)`, `func(label)` | `LD_IMM64` pseudo sources |
//! | `ldxw %r0, [%r1+4]` (`b h w dw`), `ldxsb` (`sh sw`) | loads, sign-extending loads |
//! | `stw [%r1+4], 5`, `stxdw [%r10-8], %r1` | stores |
//! | `lock add [%r1], %r2`, `lock fetch_or32 [%r1+8], %r2` (or `lock fetch or32`), `lock xchg`, `lock cmpxchg` | atomics (`32` suffix: 32-bit) |
//! | `ldabsw 12`, `ldindh %r1, 2` | legacy packet loads |
//! | `ja +3`, `gotol label` (or `ja32 label`), `jeq %r1, 0, +3`, `jslt32 %r1, %r2, label`; `exit` as a target: the closing `exit` | jumps |
//! | `call 1` (helper), `call label` / `call local label` / `call +4` (BPF function), `callx %r5` / `call %r5`, `call runtime 42` (kfunc), `exit` | calls |
//! | `.insn 0x95, 0, 0, 0, 0` | any raw slot (opcode, dst, src, off, imm) |

mod disasm;
mod parse;

pub use disasm::{disassemble, disassemble_one};
pub use parse::{assemble, AsmError};

use crate::opcode::*;

/// ALU operations with an `Imm` and a `Reg` form: mnemonic, opcode
/// operation, `off` (1 selects the signed division forms).
const ALU_OPS: &[(&str, u8, i16)] = &[
    ("add", BPF_ADD, 0),
    ("sub", BPF_SUB, 0),
    ("mul", BPF_MUL, 0),
    ("div", BPF_DIV, 0),
    ("sdiv", BPF_DIV, 1),
    ("or", BPF_OR, 0),
    ("and", BPF_AND, 0),
    ("lsh", BPF_LSH, 0),
    ("rsh", BPF_RSH, 0),
    ("mod", BPF_MOD, 0),
    ("smod", BPF_MOD, 1),
    ("xor", BPF_XOR, 0),
    ("mov", BPF_MOV, 0),
    ("arsh", BPF_ARSH, 0),
];

/// Conditional jumps: mnemonic and opcode operation.
const JMP_OPS: &[(&str, u8)] = &[
    ("jeq", BPF_JEQ),
    ("jgt", BPF_JGT),
    ("jge", BPF_JGE),
    ("jset", BPF_JSET),
    ("jne", BPF_JNE),
    ("jsgt", BPF_JSGT),
    ("jsge", BPF_JSGE),
    ("jlt", BPF_JLT),
    ("jle", BPF_JLE),
    ("jslt", BPF_JSLT),
    ("jsle", BPF_JSLE),
];

/// Access-size suffixes of loads and stores.
const SIZES: &[(&str, u8)] = &[("b", BPF_B), ("h", BPF_H), ("w", BPF_W), ("dw", BPF_DW)];

/// Atomic operations: mnemonic (without the `32` suffix) and immediate.
const ATOMIC_OPS: &[(&str, i32)] = &[
    ("add", BPF_ADD as i32),
    ("or", BPF_OR as i32),
    ("and", BPF_AND as i32),
    ("xor", BPF_XOR as i32),
    ("fetch_add", BPF_ADD as i32 | BPF_FETCH),
    ("fetch_or", BPF_OR as i32 | BPF_FETCH),
    ("fetch_and", BPF_AND as i32 | BPF_FETCH),
    ("fetch_xor", BPF_XOR as i32 | BPF_FETCH),
    ("xchg", BPF_XCHG),
    ("cmpxchg", BPF_CMPXCHG),
];

/// `LD_IMM64` pseudo sources with their function-like names and whether
/// they carry a second argument (the next slot's `imm`).
const LDDW_PSEUDOS: &[(&str, u8, bool)] = &[
    ("map_fd", BPF_PSEUDO_MAP_FD, false),
    ("map_value", BPF_PSEUDO_MAP_VALUE, true),
    ("btf_id", BPF_PSEUDO_BTF_ID, true),
    ("map_idx", BPF_PSEUDO_MAP_IDX, false),
    ("map_idx_value", BPF_PSEUDO_MAP_IDX_VALUE, true),
];
