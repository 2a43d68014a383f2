//! The abstract state of a program at one instruction: what each register
//! and stack slot of each call frame holds, and which resources (ring
//! buffer records) are held. Also when one state covers another, which is
//! how exploration stops early (pruning).

use alloc::vec::Vec;
use core::fmt;

use super::scalar::Scalar;
use crate::helpers::proto::{DynptrKind, SockKind};

/// Bytes of stack one frame has.
pub const STACK_BYTES: i32 = 512;

/// What a pointer points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PtrKind {
    /// The program's context.
    Ctx,
    /// The stack of call frame `frame` (0 = the main program).
    Stack {
        /// Frame index.
        frame: u8,
    },
    /// The packet (`data`).
    Packet,
    /// The packet's metadata (`data_meta`).
    PacketMeta,
    /// One past the packet (`data_end`).
    PacketEnd,
    /// A map itself (`lddw` of a map).
    Map {
        /// The map's index in the program's list.
        map: u16,
    },
    /// A value of the map.
    MapValue {
        /// The map's index in the program's list.
        map: u16,
    },
    /// A key of the map (a `bpf_for_each_map_elem` callback's argument).
    MapKey {
        /// The map's index in the program's list.
        map: u16,
    },
    /// Memory of a known size a helper handed out (a ring buffer record).
    Mem {
        /// Its size in bytes.
        size: u32,
    },
    /// A slice of a dynamic pointer's packet (`bpf_dynptr_slice`): memory
    /// of a known size, read-only unless `writable`, stale once the packet
    /// may have moved (as packet pointers are).
    Slice {
        /// Its size in bytes.
        size: u32,
        /// The program may write through it.
        writable: bool,
    },
    /// A BPF function of the program (for callbacks).
    Func {
        /// Its first instruction.
        entry: u32,
    },
    /// A socket a lookup found, or a view of one (read-only fields).
    Socket {
        /// Which fields it has.
        kind: SockKind,
    },
    /// An object of the device's graph (`bpf_obj_new`): owned (with a
    /// reference) until pushed into a list, after which it is a
    /// non-owning pointer, good until the list's lock is released.
    Object {
        /// Its type's index in the graph.
        ty: u32,
        /// Pushed into a list: not the program's any more.
        non_owning: bool,
    },
    /// An object a kptr held when the program read it (Linux's
    /// `MEM_RCU` local kptr): readable and writable until the run ends
    /// (its block waits for the run, [`crate::graph::pool::Pool::retire`]),
    /// but not the program's: only `bpf_refcount_acquire` makes it so.
    RcuObject {
        /// Its type's index in the graph.
        ty: u32,
    },
}

impl PtrKind {
    /// Linux's name for the type, as logs print it.
    pub fn name(self) -> &'static str {
        match self {
            PtrKind::Ctx => "ctx",
            PtrKind::Stack { .. } => "fp",
            PtrKind::Packet => "pkt",
            PtrKind::PacketMeta => "pkt_meta",
            PtrKind::PacketEnd => "pkt_end",
            PtrKind::Map { .. } => "map_ptr",
            PtrKind::MapValue { .. } => "map_value",
            PtrKind::MapKey { .. } => "map_key",
            PtrKind::Mem { .. } => "mem",
            PtrKind::Slice { writable: true, .. } => "mem",
            PtrKind::Slice { .. } => "rdonly_mem",
            PtrKind::Func { .. } => "func",
            PtrKind::Socket {
                kind: SockKind::Sock,
            } => "sock",
            PtrKind::Socket {
                kind: SockKind::Common,
            } => "sock_common",
            PtrKind::Socket {
                kind: SockKind::Tcp,
            } => "tcp_sock",
            PtrKind::Object {
                non_owning: false, ..
            } => "ptr_alloc",
            PtrKind::Object { .. } => "ptr_non_own",
            PtrKind::RcuObject { .. } => "rcu_ptr_alloc",
        }
    }
}

/// A pointer: its kind, a constant offset and a variable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ptr {
    /// What it points into.
    pub kind: PtrKind,
    /// Constant offset.
    pub off: i32,
    /// Variable offset (known 0 for most pointers).
    pub var: Scalar,
    /// Identity: pointers with the same id share their variable offset
    /// (packet pointers) or their null-ness (maybe-null pointers).
    pub id: u32,
    /// Packet pointers: bytes known to be in the packet from
    /// `start + var` (comparisons with `data_end` prove them).
    pub range: i32,
    /// It may be NULL (a lookup's result before its check).
    pub maybe_null: bool,
    /// The reference it holds (ring buffer records), 0 for none.
    pub ref_id: u32,
}

impl Ptr {
    /// A pointer of `kind` at offset 0.
    pub fn to(kind: PtrKind) -> Ptr {
        Ptr {
            kind,
            off: 0,
            var: Scalar::known(0),
            id: 0,
            range: 0,
            maybe_null: false,
            ref_id: 0,
        }
    }

    /// Whether its variable offset is known (zero or a constant).
    pub fn fixed_offset(&self) -> Option<i64> {
        self.var
            .value()
            .and_then(|v| (v as i64).checked_add(self.off as i64))
    }
}

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// Nothing readable.
    NotInit,
    /// A number.
    Scalar(Scalar),
    /// A pointer.
    Ptr(Ptr),
}

impl Reg {
    /// Any number.
    pub const UNKNOWN: Reg = Reg::Scalar(Scalar::UNKNOWN);

    /// Exactly `v`.
    pub fn known(v: u64) -> Reg {
        Reg::Scalar(Scalar::known(v))
    }
}

/// What one byte of stack holds when no register is spilled over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Byte {
    /// Never written: reading it is an error.
    Invalid,
    /// Written with something not tracked.
    Misc,
    /// Written with zero.
    Zero,
}

/// One 8-byte stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// A register stored whole, aligned (read back as itself).
    Spill(Reg),
    /// A number stored with fewer than 8 bytes at the slot's start (Linux's
    /// narrow scalar spill): read back from there with at most `size`
    /// bytes, it is the number cut to the read's size; otherwise the
    /// slot's bytes (`bytes`) are what is there.
    Narrow {
        /// The number stored (a [`Reg::Scalar`]).
        reg: Reg,
        /// How many bytes were stored.
        size: u8,
        /// Each byte, as [`Slot::Bytes`] would hold it.
        bytes: [Byte; 8],
    },
    /// Bytes.
    Bytes([Byte; 8]),
    /// Half of a dynamic pointer (16 bytes at an 8-byte aligned offset,
    /// `first` the lower half): opaque to the program, which can only
    /// pass it to the dynptr helpers; a store into either half destroys
    /// it (Linux's `STACK_DYNPTR`).
    Dynptr {
        /// What it points into.
        kind: DynptrKind,
        /// The half at the lower address (where the pointer to it points).
        first: bool,
        /// The reference it holds (a ring buffer record's), else 0.
        id: u32,
    },
}

impl Slot {
    /// A slot never written.
    pub const INVALID: Slot = Slot::Bytes([Byte::Invalid; 8]);

    /// What each byte holds, forgetting a spilled register.
    pub fn bytes(&self) -> [Byte; 8] {
        match self {
            Slot::Bytes(b) | Slot::Narrow { bytes: b, .. } => *b,
            Slot::Spill(Reg::Scalar(s)) if s.value() == Some(0) => [Byte::Zero; 8],
            Slot::Spill(_) => [Byte::Misc; 8],
            // Not readable as bytes.
            Slot::Dynptr { .. } => [Byte::Invalid; 8],
        }
    }
}

/// One call frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// r0-r10.
    pub regs: [Reg; 11],
    /// Slot `i` holds bytes `[r10 - 8(i+1), r10 - 8i)`; grown on use.
    pub stack: Vec<Slot>,
    /// Where the caller continues when this frame exits (`None` for the
    /// main program).
    pub return_pc: Option<usize>,
    /// For a callback frame: what the helper called it with, so that
    /// another iteration can start the same way.
    pub callback: Option<Callback>,
    /// The first instruction of the function it runs.
    pub entry: usize,
    /// For a callback frame after the first iteration: its callers'
    /// stacks when this iteration began, to tell what the iteration
    /// changed.
    pub iteration_start: Vec<Vec<Slot>>,
}

/// A callback frame's origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Callback {
    /// The helper that calls it.
    pub helper: u32,
    /// The callback's first instruction.
    pub entry: usize,
    /// Its `r1`-`r5`.
    pub args: [Reg; 5],
    /// Which iteration: 0 the first, 1 the second, 2 any later one. A
    /// state of one is never the same as one of another, so that
    /// iterations alike are not taken for an infinite loop (Linux's
    /// `callback_unroll_depth`); later iterations alike are pruned where
    /// they start.
    pub iteration: u8,
    /// The lock held when the helper called it (a tree's `less` runs
    /// under the tree's lock), which it must leave held.
    pub lock: Option<(u16, u32)>,
}

impl Frame {
    /// A fresh frame of the function at `entry`, whose `r10` points to its
    /// own stack.
    pub fn new(index: u8, entry: usize, return_pc: Option<usize>) -> Frame {
        let mut regs = [Reg::NotInit; 11];
        regs[10] = Reg::Ptr(Ptr::to(PtrKind::Stack { frame: index }));
        Frame {
            regs,
            stack: Vec::new(),
            return_pc,
            callback: None,
            entry,
            iteration_start: Vec::new(),
        }
    }

    /// The slot holding byte offset `off` (negative, from r10), if written.
    pub fn slot(&self, off: i32) -> Slot {
        let i = ((-off - 1) / 8) as usize;
        self.stack.get(i).copied().unwrap_or(Slot::INVALID)
    }
}

/// A resource the program holds, to be released on every path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Its id (the pointer's `ref_id`).
    pub id: u32,
    /// The instruction that acquired it.
    pub pc: usize,
}

/// The whole abstract state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Call frames, the current one last.
    pub frames: Vec<Frame>,
    /// References held.
    pub refs: Vec<Reference>,
    /// The `bpf_spin_lock` held: the map, and the id of the value pointer
    /// it was taken through (Linux's `active_lock`).
    pub lock: Option<(u16, u32)>,
    /// `bpf_preempt_disable` calls not matched by an enable yet (Linux's
    /// `active_preempt_lock`).
    pub preempt: u32,
}

impl Frame {
    /// A copy, or `None` when memory is short.
    pub fn try_clone(&self) -> Option<Frame> {
        let mut stack = Vec::new();
        stack.try_reserve_exact(self.stack.len()).ok()?;
        stack.extend_from_slice(&self.stack);
        let mut iteration_start = Vec::new();
        iteration_start
            .try_reserve_exact(self.iteration_start.len())
            .ok()?;
        for s in &self.iteration_start {
            let mut copy = Vec::new();
            copy.try_reserve_exact(s.len()).ok()?;
            copy.extend_from_slice(s);
            iteration_start.push(copy);
        }
        Some(Frame {
            regs: self.regs,
            stack,
            return_pc: self.return_pc,
            callback: self.callback,
            entry: self.entry,
            iteration_start,
        })
    }
}

/// A quick hasher (FxHash's multiply-rotate), for finding equal states.
#[derive(Default)]
pub struct QuickHasher(u64);

impl core::hash::Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

impl State {
    /// A hash of the whole state: equal states hash equal.
    pub fn quick_hash(&self) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = QuickHasher::default();
        self.hash(&mut h);
        h.finish()
    }

    /// A copy, or `None` when memory is short.
    pub fn try_clone(&self) -> Option<State> {
        let mut frames = Vec::new();
        frames.try_reserve_exact(self.frames.len()).ok()?;
        for f in &self.frames {
            frames.push(f.try_clone()?);
        }
        let mut refs = Vec::new();
        refs.try_reserve_exact(self.refs.len()).ok()?;
        refs.extend_from_slice(&self.refs);
        Some(State {
            frames,
            refs,
            lock: self.lock,
            preempt: self.preempt,
        })
    }

    /// The current frame.
    pub fn frame(&self) -> &Frame {
        &self.frames[self.frames.len() - 1]
    }

    /// The current frame, to change.
    pub fn frame_mut(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// Register `r` of the current frame.
    pub fn reg(&self, r: u8) -> Reg {
        self.frame().regs[r as usize]
    }

    /// Sets register `r` of the current frame.
    pub fn set(&mut self, r: u8, value: Reg) {
        self.frame_mut().regs[r as usize] = value;
    }

    /// Applies `f` to every register and spilled register of every frame.
    pub fn for_each_reg(&mut self, f: &mut dyn FnMut(&mut Reg)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut *f);
            for slot in &mut frame.stack {
                if let Slot::Spill(r) | Slot::Narrow { reg: r, .. } = slot {
                    f(r);
                }
            }
        }
    }
}

/// A consistent renaming of ids, for comparing two states.
#[derive(Default)]
pub struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    /// Whether `old` may stand for `cur` (recording it the first time).
    pub fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 || cur == 0 {
            return old == cur;
        }
        for &(o, c) in &self.0 {
            if o == old || c == cur {
                return o == old && c == cur;
            }
        }
        self.0.push((old, cur));
        true
    }
}

/// Whether every value `cur` may hold is one `old` may hold, where `old`'s
/// exploration found no error (so exploring `cur` cannot either).
pub fn reg_covers(old: &Reg, cur: &Reg, ids: &mut IdMap) -> bool {
    match (old, cur) {
        // Reading it failed nowhere after `old`: it is not read.
        (Reg::NotInit, _) => true,
        // Numbers `old` had linked must be linked alike in `cur`.
        (Reg::Scalar(o), Reg::Scalar(c)) => o.contains(c) && (o.id == 0 || ids.check(o.id, c.id)),
        (Reg::Ptr(o), Reg::Ptr(c)) => {
            o.kind == c.kind
                && o.off == c.off
                && o.maybe_null == c.maybe_null
                && o.var.contains(&c.var)
                && o.range <= c.range
                && ids.check(o.id, c.id)
                && ids.check(o.ref_id, c.ref_id)
        }
        _ => false,
    }
}

fn bytes_cover(old: &[Byte; 8], cur: &[Byte; 8]) -> bool {
    old.iter().zip(cur.iter()).all(|(o, c)| match o {
        Byte::Invalid => true,
        Byte::Misc => *c != Byte::Invalid,
        Byte::Zero => *c == Byte::Zero,
    })
}

fn slot_covers(old: &Slot, cur: &Slot, ids: &mut IdMap) -> bool {
    match (old, cur) {
        (
            Slot::Narrow {
                reg: o,
                size: os,
                bytes: ob,
            },
            Slot::Narrow {
                reg: c,
                size: cs,
                bytes: cb,
            },
        ) => os == cs && reg_covers(o, c, ids) && bytes_cover(ob, cb),
        (Slot::Narrow { .. }, _) => false,
        (
            Slot::Dynptr {
                kind: ok,
                first: of,
                id: oi,
            },
            Slot::Dynptr {
                kind: ck,
                first: cf,
                id: ci,
            },
        ) => ok == ck && of == cf && ids.check(*oi, *ci),
        (Slot::Dynptr { .. }, _) => false,
        (Slot::Spill(o), Slot::Spill(c)) => reg_covers(o, c, ids),
        (Slot::Spill(Reg::Scalar(o)), Slot::Bytes(_)) if *o == Scalar::UNKNOWN => {
            cur.bytes().iter().all(|b| *b != Byte::Invalid)
        }
        (Slot::Spill(_), _) => false,
        (Slot::Bytes(o), _) => {
            let c = cur.bytes();
            if let (Slot::Spill(Reg::Ptr(_)), true) = (cur, o.iter().any(|b| *b != Byte::Invalid)) {
                // A pointer where `old` had data: reading it back as data
                // is different.
                return false;
            }
            o.iter().zip(c.iter()).all(|(o, c)| match o {
                Byte::Invalid => true,
                Byte::Misc => *c != Byte::Invalid,
                Byte::Zero => *c == Byte::Zero,
            })
        }
    }
}

/// Whether `old` covers `cur`, looking only at the registers `live`
/// says each frame may still read (bit `r` of the frame's mask).
pub fn state_covers(old: &State, cur: &State, live: &[u16]) -> bool {
    if old.frames.len() != cur.frames.len()
        || old.refs.len() != cur.refs.len()
        || old.preempt != cur.preempt
    {
        return false;
    }
    let mut ids = IdMap::default();
    match (old.lock, cur.lock) {
        (None, None) => {}
        (Some((om, oid)), Some((cm, cid))) if om == cm && ids.check(oid, cid) => {}
        _ => return false,
    }
    for (i, (o, c)) in old.frames.iter().zip(&cur.frames).enumerate() {
        if o.return_pc != c.return_pc || o.callback != c.callback {
            return false;
        }
        let mask = live.get(i).copied().unwrap_or(u16::MAX);
        for r in 0..11 {
            if mask & (1 << r) != 0 && !reg_covers(&o.regs[r], &c.regs[r], &mut ids) {
                return false;
            }
        }
        let n = o.stack.len().max(c.stack.len());
        for s in 0..n {
            let os = o.stack.get(s).copied().unwrap_or(Slot::INVALID);
            let cs = c.stack.get(s).copied().unwrap_or(Slot::INVALID);
            if !slot_covers(&os, &cs, &mut ids) {
                return false;
            }
        }
    }
    old.refs
        .iter()
        .zip(&cur.refs)
        .all(|(o, c)| ids.check(o.id, c.id))
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reg::NotInit => f.write_str("?"),
            Reg::Scalar(s) => match s.value() {
                Some(v) => write!(f, "{}", v as i64),
                None => write!(f, "scalar({s:?})"),
            },
            Reg::Ptr(p) => {
                let null = if p.maybe_null { "_or_null" } else { "" };
                write!(f, "{}{null}(", p.kind.name())?;
                let mut sep = "";
                if p.id != 0 {
                    write!(f, "id={}", p.id)?;
                    sep = ",";
                }
                if p.off != 0 {
                    write!(f, "{sep}off={}", p.off)?;
                    sep = ",";
                }
                if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
                    write!(f, "{sep}r={}", p.range)?;
                    sep = ",";
                }
                if p.var.value() != Some(0) {
                    write!(f, "{sep}{:?}", p.var)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.frames.len() - 1;
        for (i, frame) in self.frames.iter().enumerate() {
            if i != last {
                write!(f, "frame{i}: ")?;
            }
            for (r, reg) in frame.regs.iter().enumerate() {
                if *reg != Reg::NotInit {
                    write!(f, " R{r}={reg}")?;
                }
            }
            for (s, slot) in frame.stack.iter().enumerate() {
                match slot {
                    Slot::Spill(reg) => write!(f, " fp-{}={reg}", 8 * (s + 1))?,
                    Slot::Narrow { reg, size, .. } => {
                        write!(f, " fp-{}={reg}/{size}", 8 * (s + 1))?
                    }
                    Slot::Bytes(b) if b.iter().any(|b| *b != Byte::Invalid) => {
                        write!(f, " fp-{}=", 8 * (s + 1))?;
                        for byte in b.iter().rev() {
                            f.write_str(match byte {
                                Byte::Invalid => "?",
                                Byte::Misc => "m",
                                Byte::Zero => "0",
                            })?;
                        }
                    }
                    Slot::Bytes(_) => {}
                    Slot::Dynptr { kind, first, .. } => write!(
                        f,
                        " fp-{}=dynptr_{}{}",
                        8 * (s + 1),
                        match kind {
                            DynptrKind::Skb => "skb",
                            DynptrKind::Xdp => "xdp",
                            DynptrKind::Ringbuf => "ringbuf",
                            DynptrKind::Local => "local",
                        },
                        if *first { "" } else { "(2)" }
                    )?,
                }
            }
            if i != last {
                f.write_str(";")?;
            }
        }
        Ok(())
    }
}
