//! Contexts: the structure a program's `r1` points to, as the program
//! sees it ([`ContextLayout`]: which fields exist, which are readable and
//! writable), and the load-time conversion of its accesses to the
//! structure the runtime really passes, as Linux's verifier does it
//! (`convert_ctx_access`).
//!
//! The conversion finds every access whose base register surely holds the
//! context pointer (a forward data-flow analysis over registers and 8-byte
//! stack slots, across BPF-to-BPF calls) and rewrites it to the native
//! field. An access through a register that only may hold the context is
//! refused, as Linux refuses it.

use alloc::vec::Vec;

use crate::error::LoadError;
use crate::insn::Insn;
use crate::opcode::*;

/// One field of a context as programs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxField {
    /// The field's name in the C structure.
    pub name: &'static str,
    /// Its offset in the structure programs see.
    pub offset: i16,
    /// Its size there, in bytes.
    pub size: u8,
    /// Programs may write it.
    pub writable: bool,
    /// What a load of it yields.
    pub kind: CtxFieldKind,
    /// Where the runtime's structure keeps it: offset and size in bytes.
    pub native: (i16, u8),
    /// Which accesses of part of it are allowed.
    pub narrow: Narrow,
}

impl CtxField {
    /// A read-only 32-bit field, read whole, kept at `native` (offset and
    /// size) in the runtime's structure: `xdp_md`'s fields, `__sk_buff`'s
    /// packet pointers.
    pub const fn read_only(
        name: &'static str,
        offset: i16,
        kind: CtxFieldKind,
        native: (i16, u8),
    ) -> CtxField {
        CtxField {
            name,
            offset,
            size: 4,
            writable: false,
            kind,
            native,
            narrow: Narrow::Exact,
        }
    }
}

/// Accesses of part of a field (naturally aligned, of 1, 2, 4 or 8
/// bytes), as Linux's `bpf_ctx_narrow_access_ok` allows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Narrow {
    /// Only the whole field.
    Exact,
    /// Reads of part of it.
    Reads,
    /// Reads and writes of any part (`__sk_buff.cb[]`).
    Any,
}

/// What a context field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxFieldKind {
    /// A number.
    Scalar,
    /// A pointer to the first byte of the packet.
    PacketStart,
    /// A pointer one past the packet's last byte.
    PacketEnd,
    /// A pointer to the packet's metadata (before the packet).
    PacketMeta,
}

/// A context structure: its C name, size and fields.
#[derive(Debug)]
pub struct ContextLayout {
    /// The C structure, e.g. `struct xdp_md`.
    pub name: &'static str,
    /// Its size as programs see it.
    pub size: u16,
    /// Its fields; any other access is refused.
    pub fields: &'static [CtxField],
}

impl ContextLayout {
    /// The field a `size`-byte access at `offset` reads (or writes, if
    /// `write`), if the layout allows it: the whole field, or part of it
    /// as its [`Narrow`] says; always naturally aligned.
    pub fn access(&self, offset: i16, size: u8, write: bool) -> Option<&CtxField> {
        if offset < 0 || size == 0 || offset % size as i16 != 0 {
            return None;
        }
        let end = offset + size as i16;
        self.fields.iter().find(|f| {
            let exact = f.offset == offset && f.size == size;
            let inside = offset >= f.offset && end <= f.offset + f.size as i16;
            let part = inside
                && size.is_power_of_two()
                && match f.narrow {
                    Narrow::Exact => false,
                    Narrow::Reads => !write,
                    Narrow::Any => true,
                };
            (exact || part) && (!write || f.writable)
        })
    }

    /// Whether the runtime keeps `f` where programs see it (no rewrite).
    pub fn in_place(f: &CtxField) -> bool {
        f.native == (f.offset, f.size)
    }
}

fn size_code(bytes: u8) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

/// Which registers and stack slots hold the context: `sure` on every path,
/// `maybe` on some.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct State {
    sure_regs: u16,
    maybe_regs: u16,
    sure_slots: u64,
    maybe_slots: u64,
}

impl State {
    fn join(&self, o: &State) -> State {
        State {
            sure_regs: self.sure_regs & o.sure_regs,
            maybe_regs: self.maybe_regs | o.maybe_regs,
            sure_slots: self.sure_slots & o.sure_slots,
            maybe_slots: self.maybe_slots | o.maybe_slots,
        }
    }

    fn set_reg(&mut self, r: u8, sure: bool, maybe: bool) {
        let bit = 1u16 << (r & 15);
        assign(&mut self.sure_regs, bit, sure);
        assign(&mut self.maybe_regs, bit, maybe);
    }

    fn set_slot(&mut self, k: u32, sure: bool, maybe: bool) {
        let bit = 1u64 << k;
        assign(&mut self.sure_slots, bit, sure);
        assign(&mut self.maybe_slots, bit, maybe);
    }

    fn reg(&self, r: u8) -> (bool, bool) {
        let bit = 1u16 << (r & 15);
        (self.sure_regs & bit != 0, self.maybe_regs & bit != 0)
    }
}

/// Sets or clears `bit` in `word`.
fn assign<T>(word: &mut T, bit: T, on: bool)
where
    T: Copy
        + core::ops::BitOr<Output = T>
        + core::ops::BitAnd<Output = T>
        + core::ops::Not<Output = T>,
{
    *word = if on { *word | bit } else { *word & !bit };
}

/// The 8-byte stack slot `[r10 + off]` names, if aligned and in the frame.
fn slot(off: i16) -> Option<u32> {
    let off = i32::from(off);
    ((-512..0).contains(&off) && off % 8 == 0).then(|| (-off / 8 - 1) as u32)
}

fn size_bytes(size: u8) -> i16 {
    match size {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// Successor instructions of `pc` (fall-through, jump target, call
/// target), given the whole program.
fn successors(insns: &[Insn], pc: usize) -> ([Option<usize>; 2], Option<usize>) {
    let insn = insns[pc];
    let class = insn.opcode & 7;
    let op = insn.opcode & 0xf0;
    let next = Some(pc + 1);
    let rel = |d: i64| usize::try_from(pc as i64 + 1 + d).ok();
    if insn.opcode == BPF_LD | BPF_IMM | BPF_DW {
        return ([Some(pc + 2), None], None);
    }
    if class != BPF_JMP && class != BPF_JMP32 {
        return ([next, None], None);
    }
    match op {
        BPF_EXIT => ([None, None], None),
        BPF_CALL if insn.src == BPF_PSEUDO_CALL && class == BPF_JMP => {
            ([next, None], rel(insn.imm as i64))
        }
        BPF_CALL => ([next, None], None),
        BPF_JA if class == BPF_JMP32 => ([rel(insn.imm as i64), None], None),
        BPF_JA => ([rel(insn.off as i64), None], None),
        _ => ([next, rel(insn.off as i64)], None),
    }
}

/// Rewrites the context accesses of a program whose `r1` points to a
/// `layout` context, in place.
pub(crate) fn convert(insns: &mut [Insn], layout: &ContextLayout) -> Result<(), LoadError> {
    let n = insns.len();
    let mut states: Vec<Option<State>> = Vec::new();
    states
        .try_reserve_exact(n)
        .map_err(|_| LoadError::OutOfMemory)?;
    states.resize(n, None);
    let mut entry = State::default();
    entry.set_reg(1, true, true);
    if let Some(first) = states.first_mut() {
        *first = Some(entry);
    }
    let mut work: Vec<usize> = Vec::new();
    work.try_reserve(16).map_err(|_| LoadError::OutOfMemory)?;
    work.push(0);
    let mut visits = 0usize;
    while let Some(pc) = work.pop() {
        visits += 1;
        if visits > 64 * n + 1024 {
            return Err(LoadError::Unsupported {
                pc,
                what: "context analysis did not converge",
            });
        }
        let Some(mut s) = states[pc] else { continue };
        let insn = insns[pc];
        let class = insn.opcode & 7;
        let (succ, callee) = successors(insns, pc);
        // Transfer.
        match class {
            BPF_ALU64 if insn.opcode == BPF_ALU64 | BPF_MOV | BPF_X && insn.off == 0 => {
                let (sure, maybe) = s.reg(insn.src);
                s.set_reg(insn.dst, sure, maybe);
            }
            BPF_LDX => {
                let base_is_stack = insn.src == 10;
                let (sure, maybe) = match (base_is_stack, insn.opcode & 0x18, slot(insn.off)) {
                    (true, BPF_DW, Some(k)) => {
                        (s.sure_slots >> k & 1 != 0, s.maybe_slots >> k & 1 != 0)
                    }
                    _ => (false, false),
                };
                s.set_reg(insn.dst, sure, maybe);
            }
            BPF_STX | BPF_ST if insn.dst == 10 => {
                let (sure, maybe) = if class == BPF_STX && insn.opcode & 0x18 == BPF_DW {
                    s.reg(insn.src)
                } else {
                    (false, false)
                };
                // In i32: `off` may be near i16::MAX (then no slot matches).
                let first = i32::from(insn.off);
                let last = first + i32::from(size_bytes(insn.opcode & 0x18)) - 1;
                for k in 0..64u32 {
                    let lo = -8 * (k as i32 + 1);
                    if lo <= last && first <= lo + 7 {
                        let exact = Some(k) == slot(insn.off) && insn.opcode & 0x18 == BPF_DW;
                        let (ss, mm) = if exact { (sure, maybe) } else { (false, false) };
                        s.set_slot(k, ss, mm);
                    }
                }
            }
            BPF_JMP if insn.opcode & 0xf0 == BPF_CALL => {
                if let Some(target) = callee {
                    // The callee starts with the arguments; its own stack.
                    let mut c = State::default();
                    for r in 1..=5 {
                        let (sure, maybe) = s.reg(r);
                        c.set_reg(r, sure, maybe);
                    }
                    merge(&mut states, &mut work, target, c)?;
                }
                for r in 0..=5 {
                    s.set_reg(r, false, false);
                }
            }
            BPF_JMP | BPF_JMP32 | BPF_ST | BPF_STX => {}
            _ => {
                // Any other write of dst (ALU, lddw) makes it a non-context.
                if insn.opcode != 0 {
                    s.set_reg(insn.dst, false, false);
                }
            }
        }
        for next in succ.into_iter().flatten() {
            merge(&mut states, &mut work, next, s)?;
        }
    }
    for pc in 0..n {
        let Some(s) = states[pc] else { continue };
        let insn = insns[pc];
        let class = insn.opcode & 7;
        let base = match class {
            BPF_LDX => insn.src,
            BPF_ST | BPF_STX => insn.dst,
            _ => continue,
        };
        let (sure, maybe) = s.reg(base);
        if !maybe {
            continue;
        }
        if !sure {
            return Err(LoadError::Unsupported {
                pc,
                what: "access through a register that holds the context on some paths only",
            });
        }
        let write = class != BPF_LDX;
        if class == BPF_ST {
            return Err(LoadError::Unsupported {
                pc,
                what: "BPF_ST store of an immediate into the context",
            });
        }
        let sign_extending = class == BPF_LDX && insn.opcode & 0xe0 == BPF_MEMSX;
        if insn.opcode & 0xe0 != BPF_MEM && !sign_extending {
            return Err(LoadError::Unsupported {
                pc,
                what: "atomic access to the context",
            });
        }
        let size = size_bytes(insn.opcode & 0x18) as u8;
        let field = layout
            .access(insn.off, size, write)
            .ok_or(LoadError::Unsupported {
                pc,
                what: "context access the program type does not allow",
            })?;
        if ContextLayout::in_place(field) {
            continue;
        }
        if insn.off != field.offset || size != field.size {
            return Err(LoadError::Unsupported {
                pc,
                what: "context access that is not one whole field",
            });
        }
        let (native_off, native_size) = field.native;
        if sign_extending && native_size != size {
            // Sign-extending the wider native copy would not extend the
            // field's own sign bit.
            return Err(LoadError::Unsupported {
                pc,
                what: "sign-extending load of a context field the runtime keeps wider",
            });
        }
        insns[pc].opcode = (insn.opcode & !0x18) | size_code(native_size);
        insns[pc].off = native_off;
    }
    Ok(())
}

fn merge(
    states: &mut [Option<State>],
    work: &mut Vec<usize>,
    at: usize,
    s: State,
) -> Result<(), LoadError> {
    let Some(slot) = states.get_mut(at) else {
        // The loader reports jumps out of range with a precise error.
        return Ok(());
    };
    let joined = match slot {
        Some(old) => old.join(&s),
        None => s,
    };
    if *slot != Some(joined) {
        *slot = Some(joined);
        work.try_reserve(1).map_err(|_| LoadError::OutOfMemory)?;
        work.push(at);
    }
    Ok(())
}
