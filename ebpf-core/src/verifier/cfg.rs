//! The program's control flow, before any state is explored: which
//! instructions start BPF functions, that every instruction is reachable
//! and no jump leaves its function (Linux's `check_cfg`), where states are
//! kept for pruning, and which registers each instruction may still read
//! (liveness), so that pruning ignores dead ones.

use alloc::vec::Vec;

use crate::insn::Insn;
use crate::opcode::*;

use super::VerifyError;

/// What the analysis found.
pub struct Cfg {
    /// Sorted first instructions of the BPF functions (0 first).
    pub functions: Vec<usize>,
    /// Instructions where states are kept: jump targets, and the
    /// instructions after a conditional jump and after a call.
    pub prune_point: Vec<bool>,
    /// Registers each instruction may read before writing them, on some
    /// path to an exit of its function (bit `r`).
    pub live_in: Vec<u16>,
}

fn is_lddw(i: &Insn) -> bool {
    i.opcode == BPF_LD | BPF_IMM | BPF_DW
}

/// Successors of `pc` within its function, and a callee's entry.
fn successors(insns: &[Insn], pc: usize) -> (Vec<usize>, Option<usize>) {
    let i = insns[pc];
    let class = i.opcode & 7;
    let rel = |d: i64| usize::try_from(pc as i64 + 1 + d).unwrap_or(usize::MAX);
    if is_lddw(&i) {
        return (alloc::vec![pc + 2], None);
    }
    if class != BPF_JMP && class != BPF_JMP32 {
        return (alloc::vec![pc + 1], None);
    }
    match i.opcode & 0xf0 {
        BPF_EXIT => (Vec::new(), None),
        BPF_CALL if i.src == BPF_PSEUDO_CALL => (alloc::vec![pc + 1], Some(rel(i.imm as i64))),
        BPF_CALL => (alloc::vec![pc + 1], None),
        BPF_JA if class == BPF_JMP32 => (alloc::vec![rel(i.imm as i64)], None),
        BPF_JA => (alloc::vec![rel(i.off as i64)], None),
        _ => (alloc::vec![pc + 1, rel(i.off as i64)], None),
    }
}

/// Registers `insn` reads and writes (bits), for liveness.
fn uses_defs(insn: &Insn, helper_args: &dyn Fn(u32) -> usize) -> (u16, u16) {
    let class = insn.opcode & 7;
    let bit = |r: u8| 1u16 << (r & 15);
    let src_is_reg = insn.opcode & BPF_X != 0;
    match class {
        BPF_ALU | BPF_ALU64 => {
            let op = insn.opcode & 0xf0;
            let src = if src_is_reg && op != BPF_END && op != BPF_NEG {
                bit(insn.src)
            } else {
                0
            };
            let dst_read = if op == BPF_MOV { 0 } else { bit(insn.dst) };
            (src | dst_read, bit(insn.dst))
        }
        BPF_LDX => (bit(insn.src), bit(insn.dst)),
        BPF_ST => (bit(insn.dst), 0),
        BPF_STX => {
            let atomic = insn.opcode & 0xe0 == BPF_ATOMIC;
            let writes = if atomic && insn.imm & BPF_FETCH != 0 {
                if insn.imm == BPF_CMPXCHG {
                    bit(0)
                } else {
                    bit(insn.src)
                }
            } else {
                0
            };
            let cmp = if atomic && insn.imm == BPF_CMPXCHG {
                bit(0)
            } else {
                0
            };
            (bit(insn.dst) | bit(insn.src) | cmp, writes)
        }
        BPF_LD if is_lddw(insn) => (0, bit(insn.dst)),
        // LD_ABS/LD_IND read the context in r6 (and src), clobber r0-r5.
        BPF_LD => {
            let ind = if insn.opcode & 0xe0 == BPF_IND {
                bit(insn.src)
            } else {
                0
            };
            (bit(6) | ind, 0b11_1111)
        }
        BPF_JMP | BPF_JMP32 => match insn.opcode & 0xf0 {
            BPF_EXIT => (bit(0), 0),
            BPF_JA => (0, 0),
            BPF_CALL => {
                let args = if insn.src == BPF_PSEUDO_CALL {
                    5
                } else if insn.src == 0 {
                    helper_args(insn.imm as u32)
                } else {
                    5
                };
                let callx = if class == BPF_JMP && insn.opcode & BPF_X != 0 {
                    bit(insn.dst)
                } else {
                    0
                };
                (((1u16 << (args + 1)) - 2) | callx, 0b11_1111)
            }
            _ => {
                let src = if src_is_reg { bit(insn.src) } else { 0 };
                (bit(insn.dst) | src, 0)
            }
        },
        _ => (0, 0),
    }
}

/// Analyses `insns` (structurally valid: checked by the loader first).
/// `helper_args` gives how many arguments a helper reads; `roots` are
/// functions entered from outside besides the program's start (its
/// exception callback).
pub fn analyse(
    insns: &[Insn],
    helper_args: &dyn Fn(u32) -> usize,
    roots: &[usize],
) -> Result<Cfg, VerifyError> {
    let n = insns.len();
    let mut functions = alloc::vec![0usize];
    for &r in roots {
        if r >= n || (r > 0 && is_lddw(&insns[r - 1])) {
            return Err(VerifyError::at(r, "invalid exception callback entry"));
        }
        functions.push(r);
    }
    for (pc, i) in insns.iter().enumerate() {
        let call = i.opcode == BPF_JMP | BPF_CALL && i.src == BPF_PSEUDO_CALL;
        let func_addr = is_lddw(i) && i.src == BPF_PSEUDO_FUNC;
        if call || func_addr {
            let target = pc as i64 + 1 + i.imm as i64;
            if target < 0 || target as usize >= n {
                return Err(VerifyError::at(pc, "call to invalid destination"));
            }
            functions.push(target as usize);
        }
    }
    functions.sort_unstable();
    functions.dedup();
    let function_of = |pc: usize| match functions.binary_search(&pc) {
        Ok(i) => i,
        Err(i) => i - 1,
    };
    // Reachability from every function's entry, jumps inside the function.
    let mut seen = alloc::vec![false; n];
    let mut prune_point = alloc::vec![false; n];
    let mut work: Vec<usize> = functions.clone();
    let mut preds: Vec<Vec<usize>> = alloc::vec![Vec::new(); n];
    for &f in &functions {
        seen[f] = true;
        // Callbacks are entered again and again: keep states there.
        prune_point[f] = true;
    }
    while let Some(pc) = work.pop() {
        let (succ, callee) = successors(insns, pc);
        let class = insns[pc].opcode & 7;
        let conditional = succ.len() == 2;
        let is_call = (class == BPF_JMP) && insns[pc].opcode & 0xf0 == BPF_CALL;
        for &s in &succ {
            if s >= n {
                return Err(VerifyError::at(pc, "jump out of range"));
            }
            if function_of(s) != function_of(pc) {
                let what = if s == pc + 1 && !conditional {
                    "last insn is not an exit or jmp"
                } else {
                    "jump out of range"
                };
                return Err(VerifyError::at(pc, what));
            }
            if conditional || is_call || s != pc + 1 {
                prune_point[s] = true;
            }
            preds[s].push(pc);
            if !seen[s] {
                seen[s] = true;
                work.push(s);
            }
        }
        if let Some(c) = callee {
            if !seen[c] {
                seen[c] = true;
                work.push(c);
            }
        }
    }
    let mut pc = 0;
    while pc < n {
        if !seen[pc] {
            return Err(VerifyError::at(pc, "unreachable insn"));
        }
        pc += if is_lddw(&insns[pc]) { 2 } else { 1 };
    }
    // Liveness: backward, to a fixed point.
    let mut live_in = alloc::vec![0u16; n];
    let mut work: Vec<usize> = (0..n).filter(|&pc| seen[pc]).collect();
    let mut queued = seen.clone();
    while let Some(pc) = work.pop() {
        queued[pc] = false;
        let (succ, _) = successors(insns, pc);
        let out = succ
            .iter()
            .filter(|&&s| s < n)
            .fold(0u16, |acc, &s| acc | live_in[s]);
        let (uses, defs) = uses_defs(&insns[pc], helper_args);
        let new = uses | (out & !defs);
        if new != live_in[pc] {
            live_in[pc] = new;
            for &p in &preds[pc] {
                if !queued[p] {
                    queued[p] = true;
                    work.push(p);
                }
            }
        }
    }
    Ok(Cfg {
        functions,
        prune_point,
        live_in,
    })
}
