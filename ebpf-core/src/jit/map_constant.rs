//! Which map `r1` holds at a helper call, where the code makes it plain:
//! an `lddw` of the map into `r1` earlier in the same basic block, with
//! nothing writing `r1` since. Both back ends use it to look such maps up
//! without the helper table.

use alloc::vec::Vec;

use super::JitError;
use crate::decoded::{Op, Slot};

/// Follows the constant in `r1` through a program's slots, in order.
pub(crate) struct R1Constant {
    /// Slots some jump or call lands on: a basic block starts there.
    targets: Vec<bool>,
    value: Option<u64>,
}

impl R1Constant {
    /// For `code`, whose functions start at `functions`.
    pub(crate) fn new(code: &[Slot], functions: &[u32]) -> Result<Self, JitError> {
        let mut targets = Vec::new();
        targets
            .try_reserve_exact(code.len())
            .map_err(|_| JitError::OutOfMemory)?;
        targets.resize(code.len(), false);
        for s in code {
            if s.op.is_jump() || s.op == Op::CallLocal {
                if let Some(t) = targets.get_mut(s.off as usize) {
                    *t = true;
                }
            }
        }
        for &f in functions {
            if let Some(t) = targets.get_mut(f as usize) {
                *t = true;
            }
        }
        Ok(R1Constant {
            targets,
            value: None,
        })
    }

    /// The constant `r1` holds when slot `pc` starts (call before `after`).
    pub(crate) fn at(&mut self, pc: usize) -> Option<u64> {
        if self.targets.get(pc).copied().unwrap_or(true) {
            self.value = None;
        }
        self.value
    }

    /// Updates what is known after slot `s`.
    pub(crate) fn after(&mut self, s: Slot) {
        let keeps = match s.op {
            Op::LdImm64 if s.dst == 1 => {
                self.value = Some(s.imm);
                return;
            }
            // Stores and jumps write no register; an atomic writes its
            // source register only.
            Op::LddwHigh
            | Op::StB
            | Op::StH
            | Op::StW
            | Op::StDW
            | Op::StxB
            | Op::StxH
            | Op::StxW
            | Op::StxDW => true,
            Op::AtomicW | Op::AtomicDW => s.src != 1,
            op if op.is_jump() => true,
            // Calls and legacy packet loads clobber r1-r5.
            Op::CallHelper
            | Op::CallLocal
            | Op::CallReg
            | Op::Exit
            | Op::LdAbsB
            | Op::LdAbsH
            | Op::LdAbsW
            | Op::LdIndB
            | Op::LdIndH
            | Op::LdIndW => false,
            // Anything else writes its destination only.
            _ => s.dst != 1,
        };
        if !keeps {
            self.value = None;
        }
    }
}
