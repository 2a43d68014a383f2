//! Instruction to text.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{ALU_OPS, ATOMIC_OPS, JMP_OPS, LDDW_PSEUDOS, SIZES};
use crate::insn::Insn;
use crate::opcode::*;

/// Disassembles a program, one line per instruction (an `LD_IMM64` takes
/// one line for its two slots). Jump targets are relative offsets, so that
/// `assemble(disassemble(p)) == p` for every program.
pub fn disassemble(insns: &[Insn]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < insns.len() {
        let next = insns.get(pc + 1).copied();
        let (text, slots) = disassemble_one(insns[pc], next);
        out.push(text);
        pc += slots;
    }
    out
}

/// Disassembles the instruction `insn` (with `next`, the following slot,
/// for `LD_IMM64`). Returns the text and the number of slots it used.
///
/// Anything without a mnemonic whose re-assembly gives back exactly these
/// bits (unknown opcodes, non-zero reserved fields) is written as a raw
/// `.insn` line.
pub fn disassemble_one(insn: Insn, next: Option<Insn>) -> (String, usize) {
    if let Some((text, slots)) = mnemonic(insn, next) {
        let want: &[Insn] = match next {
            Some(n) if slots == 2 => &[insn, n],
            _ => core::slice::from_ref(&insn),
        };
        if super::assemble(&text).is_ok_and(|got| got == want) {
            return (text, slots);
        }
    }
    (raw(insn), 1)
}

fn raw(insn: Insn) -> String {
    format!(
        ".insn {:#04x}, {}, {}, {}, {}",
        insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    )
}

fn offset(off: i64) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

fn mem(base: u8, off: i16) -> String {
    match off {
        0 => format!("[%r{base}]"),
        o if o < 0 => format!("[%r{base}{o}]"),
        o => format!("[%r{base}+{o}]"),
    }
}

fn size_name(op: u8) -> &'static str {
    SIZES
        .iter()
        .find(|(_, s)| *s == size(op))
        .map_or("?", |(n, _)| n)
}

fn mnemonic(insn: Insn, next: Option<Insn>) -> Option<(String, usize)> {
    let op = insn.opcode;
    let (d, s) = (insn.dst, insn.src);
    let one = |t: String| Some((t, 1));
    match class(op) {
        BPF_ALU | BPF_ALU64 => {
            let w = if class(op) == BPF_ALU { "32" } else { "" };
            match operation(op) {
                BPF_NEG => one(format!("neg{w} %r{d}")),
                BPF_END => {
                    let name = match (class(op), source(op)) {
                        (BPF_ALU64, _) => "bswap",
                        (_, BPF_TO_BE) => "be",
                        _ => "le",
                    };
                    one(format!("{name}{} %r{d}", insn.imm))
                }
                BPF_MOV if source(op) == BPF_X && insn.off != 0 => {
                    let name = if w.is_empty() { "movsx" } else { "mov32sx" };
                    one(format!("{name}{} %r{d}, %r{s}", insn.off))
                }
                o => {
                    let off = if matches!(o, BPF_DIV | BPF_MOD) {
                        insn.off
                    } else {
                        0
                    };
                    let (name, _, _) = ALU_OPS.iter().find(|(_, c, f)| *c == o && *f == off)?;
                    if source(op) == BPF_X {
                        one(format!("{name}{w} %r{d}, %r{s}"))
                    } else {
                        one(format!("{name}{w} %r{d}, {}", insn.imm))
                    }
                }
            }
        }
        BPF_JMP | BPF_JMP32 => {
            let w = if class(op) == BPF_JMP32 { "32" } else { "" };
            match operation(op) {
                BPF_JA if w.is_empty() => one(format!("ja {}", offset(insn.off.into()))),
                BPF_JA => one(format!("gotol {}", offset(insn.imm.into()))),
                BPF_CALL if source(op) == BPF_X => one(format!("callx %r{d}")),
                BPF_CALL if s == BPF_PSEUDO_CALL => {
                    one(format!("call {}", offset(insn.imm.into())))
                }
                BPF_CALL => one(format!("call {}", insn.imm)),
                BPF_EXIT => one("exit".into()),
                o => {
                    let (name, _) = JMP_OPS.iter().find(|(_, c)| *c == o)?;
                    let target = offset(insn.off.into());
                    if source(op) == BPF_X {
                        one(format!("{name}{w} %r{d}, %r{s}, {target}"))
                    } else {
                        one(format!("{name}{w} %r{d}, {}, {target}", insn.imm))
                    }
                }
            }
        }
        BPF_LDX => {
            let sx = if mode(op) == BPF_MEMSX { "s" } else { "" };
            one(format!(
                "ldx{sx}{} %r{d}, {}",
                size_name(op),
                mem(s, insn.off)
            ))
        }
        BPF_ST => one(format!(
            "st{} {}, {}",
            size_name(op),
            mem(d, insn.off),
            insn.imm
        )),
        BPF_STX if mode(op) == BPF_ATOMIC => {
            let (name, _) = ATOMIC_OPS.iter().find(|(_, i)| *i == insn.imm)?;
            let w = if size(op) == BPF_W { "32" } else { "" };
            one(format!("lock {name}{w} {}, %r{s}", mem(d, insn.off)))
        }
        BPF_STX => one(format!("stx{} {}, %r{s}", size_name(op), mem(d, insn.off))),
        _ => match mode(op) {
            BPF_IMM => {
                let next = next?;
                let text = match s {
                    0 => format!(
                        "lddw %r{d}, {:#x}",
                        (insn.imm as u32 as u64) | ((next.imm as u32 as u64) << 32)
                    ),
                    BPF_PSEUDO_FUNC => format!("lddw %r{d}, func({})", offset(insn.imm.into())),
                    _ => {
                        let (name, _, two) = LDDW_PSEUDOS.iter().find(|(_, src, _)| *src == s)?;
                        if *two {
                            format!("lddw %r{d}, {name}({}, {})", insn.imm, next.imm)
                        } else {
                            format!("lddw %r{d}, {name}({})", insn.imm)
                        }
                    }
                };
                Some((text, 2))
            }
            BPF_ABS => one(format!("ldabs{} {}", size_name(op), insn.imm)),
            BPF_IND => one(format!("ldind{} %r{s}, {}", size_name(op), insn.imm)),
            _ => None,
        },
    }
}
