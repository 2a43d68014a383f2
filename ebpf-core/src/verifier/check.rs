//! The exploration: every path from the entry, one instruction at a time,
//! with pruning at the points the control flow analysis chose.

use alloc::vec::Vec;
use core::fmt;

use super::cfg::{self, Cfg};
use super::scalar::{self, AluOp, Cmp, Scalar};
use super::state::{
    state_covers, Byte, Callback, Frame, Ptr, PtrKind, Reference, Reg, Slot, State, STACK_BYTES,
};
use super::{MapDesc, Stats, Subject, VerifyError, MAX_PROCESSED};
use crate::errno::Errno;
use crate::graph::types::{FieldKind, Record};
use crate::helpers::ids;
use crate::helpers::proto::{self, Arg, CallbackArgs, DynptrKind, Proto, Ret, SockRef};
use crate::insn::Insn;
use crate::maps::flags::BPF_F_RDONLY_PROG;
use crate::maps::MapType;
use crate::opcode::*;
use crate::prog_type::{ContextLayout, CtxFieldKind};

/// Call frames, the main program's included (Linux's `MAX_CALL_FRAMES`).
const MAX_FRAMES: usize = 8;
/// Largest variable offset into a packet (Linux's `MAX_PACKET_OFF`).
const MAX_PACKET_OFF: u64 = 0xffff;
/// Largest offset a pointer may be moved by (Linux's `BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: i64 = 1 << 29;
/// Largest size a helper's memory argument may have.
const MAX_MEM_SIZE: u64 = 1 << 29;

macro_rules! reject {
    ($pc:expr, $($arg:tt)*) => {
        return Err(VerifyError::new($pc, Errno::EACCES, format_args!($($arg)*)))
    };
}

macro_rules! invalid {
    ($pc:expr, $($arg:tt)*) => {
        return Err(VerifyError::new($pc, Errno::EINVAL, format_args!($($arg)*)))
    };
}

fn no_memory(pc: usize) -> VerifyError {
    VerifyError::new(pc, Errno::ENOMEM, format_args!("out of memory"))
}

/// A state kept at a pruning point.
struct Checkpoint {
    state: State,
    /// `state.quick_hash()`.
    hash: u64,
    /// Paths still being explored whose latest checkpoint this is, plus
    /// checkpoints below it not yet complete.
    pending: u32,
    parent: Option<usize>,
    /// Every path from it was explored without error.
    complete: bool,
    /// Paths it covered, and paths it did not.
    hits: u32,
    misses: u32,
    /// The next checkpoint at the same instruction.
    next_here: Option<usize>,
}

/// A path waiting to be explored.
struct Path {
    pc: usize,
    state: State,
    checkpoint: Option<usize>,
    /// Instructions and jumps since the path's last kept state.
    insns: u32,
    jumps: u32,
}

/// Kept states compared with an exact copy of the current one, looking for
/// an infinite loop, at most (the most recent ones).
const LOOP_WINDOW: u32 = 16;

/// What an instruction does to the path.
enum Step {
    /// Continue at this instruction.
    Next(usize),
    /// The path ended (the program exited).
    Done,
}

/// How a memory access uses the memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Access {
    fn stack_word(self) -> &'static str {
        match self {
            Access::Read => "read from",
            Access::Write => "write to",
        }
    }
}

/// The exploration of one program.
pub struct Explorer<'a> {
    insns: &'a [Insn],
    subject: &'a Subject<'a>,
    ctx: &'static ContextLayout,
    cfg: Cfg,
    log: &'a mut dyn fmt::Write,
    log_level: u32,
    checkpoints: Vec<Checkpoint>,
    first_here: Vec<Option<usize>>,
    work: Vec<Path>,
    next_id: u32,
    stats: Stats,
    /// Deepest stack byte each function (by index in `cfg.functions`)
    /// touched.
    depth: Vec<u32>,
    /// Per instruction: whether its memory access went through the
    /// context (1), another pointer (2), or has not been seen (0).
    base_kind: Vec<u8>,
    /// Timer callbacks found so far, (entry, map): each verified once, as
    /// a program of its own.
    async_roots: Vec<(usize, u16)>,
}

fn grow<T>(v: &mut Vec<T>, pc: usize) -> Result<(), VerifyError> {
    v.try_reserve(1).map_err(|_| no_memory(pc))
}

fn helper_args(id: u32) -> usize {
    proto::proto_of(id).map_or(5, |p| p.args.len())
}

/// The number a register or immediate operand has, for comparisons and
/// arithmetic: `imm` sign-extended.
fn imm64(insn: &Insn) -> Reg {
    Reg::known(insn.imm as i64 as u64)
}

fn size_of_code(code: u8) -> u32 {
    match code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// A number of `bytes` bytes read from memory: zero-extended.
fn loaded(bytes: u32) -> Reg {
    if bytes >= 8 {
        Reg::UNKNOWN
    } else {
        Reg::Scalar(Scalar::unsigned(0, (1u64 << (bytes * 8)) - 1))
    }
}

fn op_name(op: u8) -> &'static str {
    match op {
        BPF_ADD => "+=",
        BPF_SUB => "-=",
        BPF_MUL => "*=",
        BPF_DIV => "/=",
        BPF_OR => "|=",
        BPF_AND => "&=",
        BPF_LSH => "<<=",
        BPF_RSH => ">>=",
        BPF_NEG => "neg",
        BPF_MOD => "%=",
        BPF_XOR => "^=",
        BPF_ARSH => "s>>=",
        _ => "?",
    }
}

impl<'a> Explorer<'a> {
    /// Prepares the exploration: the control flow must be sound first.
    pub fn new(
        insns: &'a [Insn],
        subject: &'a Subject<'a>,
        log: &'a mut dyn fmt::Write,
        log_level: u32,
    ) -> Result<Self, VerifyError> {
        let Some(ctx) = subject.prog_type.context_layout(subject.attach) else {
            invalid!(
                0,
                "program type {} is not verified",
                subject.prog_type.name()
            );
        };
        let roots: &[usize] = match &subject.exception_cb {
            Some(cb) => core::slice::from_ref(cb),
            None => &[],
        };
        let cfg = cfg::analyse(insns, &helper_args, roots)?;
        let mut first_here = Vec::new();
        first_here
            .try_reserve_exact(insns.len())
            .map_err(|_| no_memory(0))?;
        first_here.resize(insns.len(), None);
        Ok(Explorer {
            insns,
            subject,
            ctx,
            cfg,
            log,
            log_level,
            checkpoints: Vec::new(),
            first_here,
            work: Vec::new(),
            next_id: 0,
            stats: Stats::default(),
            depth: Vec::new(),
            base_kind: Vec::new(),
            async_roots: Vec::new(),
        })
    }

    /// Explores every path.
    pub fn run(mut self) -> Result<Stats, VerifyError> {
        // The program's exception callback, a root of its own: r1 the
        // cookie bpf_throw passed (Linux verifies it after the program).
        if let Some(cb) = self.subject.exception_cb {
            self.push_root(cb, Reg::UNKNOWN)?;
        }
        self.push_root(0, Reg::Ptr(Ptr::to(PtrKind::Ctx)))?;
        self.depth
            .try_reserve_exact(self.cfg.functions.len())
            .map_err(|_| no_memory(0))?;
        self.depth.resize(self.cfg.functions.len(), 0);
        self.base_kind
            .try_reserve_exact(self.insns.len())
            .map_err(|_| no_memory(0))?;
        self.base_kind.resize(self.insns.len(), 0);
        while let Some(path) = self.work.pop() {
            self.explore(path)?;
        }
        self.check_stack_depth()?;
        Ok(self.stats)
    }

    /// Queues the exploration of the function at `pc`, entered with `r1`.
    // Out of line: a path is large, and `run` would hold two of them in
    // its frame (tools/kldcheck).
    #[inline(never)]
    fn push_root(&mut self, pc: usize, r1: Reg) -> Result<(), VerifyError> {
        let mut frame = Frame::new(0, pc, None);
        frame.regs[1] = r1;
        let mut frames = Vec::new();
        grow(&mut frames, pc)?;
        frames.push(frame);
        grow(&mut self.work, pc)?;
        self.work.push(Path {
            pc,
            state: State {
                frames,
                refs: Vec::new(),
                lock: None,
                preempt: 0,
            },
            checkpoint: None,
            insns: 0,
            jumps: 0,
        });
        Ok(())
    }

    /// The stack of every chain of calls fits in 512 bytes, each function
    /// counting its deepest access rounded up to 32 bytes, and no chain is
    /// deeper than eight frames, dead code included (Linux's
    /// `check_max_stack_depth`).
    fn check_stack_depth(&self) -> Result<(), VerifyError> {
        let functions = &self.cfg.functions;
        let n = self.insns.len();
        // (function, instruction to look from, frames, bytes), depth first.
        let mut work: Vec<(usize, usize, usize, u32)> = Vec::new();
        let frame_bytes = |f: usize| self.depth[f].max(1).div_ceil(32) * 32;
        grow(&mut work, 0)?;
        work.push((0, 0, 1, frame_bytes(0)));
        // The exception callback and timer callbacks start stacks of their
        // own.
        let roots = self.subject.exception_cb.into_iter();
        for cb in roots.chain(self.async_roots.iter().map(|&(entry, _)| entry)) {
            let f = functions.binary_search(&cb).unwrap_or(0);
            grow(&mut work, 0)?;
            work.push((f, cb, 1, frame_bytes(f)));
        }
        let mut steps = 0usize;
        while let Some((f, from, frames, bytes)) = work.pop() {
            steps += 1;
            if steps > MAX_PROCESSED {
                return Err(VerifyError::new(
                    0,
                    Errno::E2BIG,
                    format_args!("BPF program is too complex (its call graph)"),
                ));
            }
            if frames > MAX_FRAMES {
                return Err(VerifyError::new(
                    0,
                    Errno::E2BIG,
                    format_args!("the call stack of {frames} frames is too deep !"),
                ));
            }
            if bytes > STACK_BYTES as u32 {
                reject!(
                    0,
                    "combined stack size of {frames} calls is {bytes}. Too large"
                );
            }
            let end = functions.get(f + 1).copied().unwrap_or(n);
            for pc in from..end {
                let i = self.insns[pc];
                let call = i.opcode == BPF_JMP | BPF_CALL && i.src == BPF_PSEUDO_CALL;
                if !call {
                    continue;
                }
                let target = (pc as i64 + 1 + i.imm as i64) as usize;
                let Ok(g) = functions.binary_search(&target) else {
                    continue;
                };
                grow(&mut work, pc)?;
                work.push((g, functions[g], frames + 1, bytes + frame_bytes(g)));
            }
        }
        Ok(())
    }

    /// A new reference the state holds, acquired at `pc`: its id.
    fn acquire(&mut self, st: &mut State, pc: usize) -> Result<u32, VerifyError> {
        let id = self.fresh_id();
        grow(&mut st.refs, pc)?;
        st.refs.push(Reference { id, pc });
        Ok(id)
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn explore(&mut self, mut path: Path) -> Result<(), VerifyError> {
        loop {
            let pc = path.pc;
            self.stats.processed += 1;
            if self.stats.processed > MAX_PROCESSED {
                return Err(VerifyError::new(
                    pc,
                    Errno::E2BIG,
                    format_args!(
                        "BPF program is too complex (processed {MAX_PROCESSED} insns at insn {pc})"
                    ),
                ));
            }
            path.insns += 1;
            let class = self.insns[pc].opcode & 7;
            if matches!(class, BPF_JMP | BPF_JMP32) {
                path.jumps += 1;
            }
            if self.cfg.prune_point[pc] && self.prune_or_keep(&mut path)? {
                self.stats.pruned += 1;
                self.path_done(path.checkpoint);
                return Ok(());
            }
            if self.log_level >= 2 {
                let i = self.insns[pc];
                let _ = writeln!(
                    self.log,
                    "{pc}: ({:02x}) dst=r{} src=r{} off={} imm={} ;{}",
                    i.opcode, i.dst, i.src, i.off, i.imm, path.state
                );
            }
            match self.step(&mut path)? {
                Step::Next(next) => path.pc = next,
                Step::Done => {
                    self.path_done(path.checkpoint);
                    return Ok(());
                }
            }
        }
    }

    /// Registers each frame may still read, for covering.
    fn live(&self, state: &State, pc: usize) -> [u16; MAX_FRAMES] {
        let mut live = [u16::MAX; MAX_FRAMES];
        let n = state.frames.len();
        for (i, mask) in live.iter_mut().enumerate().take(n) {
            *mask = if i + 1 == n {
                self.cfg.live_in[pc] | 1 << 10
            } else {
                match state.frames[i + 1].return_pc {
                    // Only r6-r9 survive the callee.
                    Some(ret) if ret < self.insns.len() => {
                        self.cfg.live_in[ret] & 0b11_1100_0000 | 1 << 10
                    }
                    _ => u16::MAX,
                }
            };
        }
        live
    }

    /// At a pruning point: `true` if a complete state covers this path's
    /// (it can stop), else the state may be kept. As Linux does, states
    /// that keep failing to cover are dropped, and states are kept only
    /// every few jumps (every many in a loop), so that lists stay short.
    fn prune_or_keep(&mut self, path: &mut Path) -> Result<bool, VerifyError> {
        let pc = path.pc;
        let live = self.live(&path.state, pc);
        // A callback entered again: the helper bounds its iterations, so a
        // state already being explored there covers this one too.
        let callback_entry = path.state.frame().callback.is_some_and(|cb| cb.entry == pc);
        let function_entry = self.cfg.functions.binary_search(&pc).is_ok();
        let mut looping = false;
        let mut walked_incomplete = 0;
        let mut hash = None;
        let mut prev: Option<usize> = None;
        let mut at = self.first_here[pc];
        while let Some(i) = at {
            let next = self.checkpoints[i].next_here;
            let c = &mut self.checkpoints[i];
            let evict;
            if c.complete || callback_entry {
                if state_covers(&c.state, &path.state, &live) {
                    c.hits += 1;
                    return Ok(true);
                }
                c.misses += 1;
                evict = c.complete && c.misses > 3 * c.hits + 3;
            } else {
                looping = true;
                walked_incomplete += 1;
                let h = *hash.get_or_insert_with(|| path.state.quick_hash());
                if c.hash == h && c.state == path.state {
                    reject!(pc, "infinite loop detected at insn {pc}");
                }
                evict = walked_incomplete > LOOP_WINDOW;
            }
            if evict {
                match prev {
                    Some(p) => self.checkpoints[p].next_here = next,
                    None => self.first_here[pc] = next,
                }
                let c = &mut self.checkpoints[i];
                c.next_here = None;
                c.state = State {
                    frames: Vec::new(),
                    refs: Vec::new(),
                    lock: None,
                    preempt: 0,
                };
            } else {
                prev = Some(i);
            }
            at = next;
        }
        let worth_it = if looping {
            path.jumps >= 20 && path.insns >= 100
        } else {
            path.jumps >= 2 && path.insns >= 8
        };
        if !worth_it && !function_entry {
            return Ok(false);
        }
        let state = path.state.try_clone().ok_or(no_memory(pc))?;
        grow(&mut self.checkpoints, pc)?;
        let index = self.checkpoints.len();
        self.checkpoints.push(Checkpoint {
            hash: hash.unwrap_or_else(|| state.quick_hash()),
            state,
            pending: 1,
            parent: path.checkpoint,
            complete: false,
            hits: 0,
            misses: 0,
            next_here: self.first_here[pc],
        });
        self.first_here[pc] = Some(index);
        path.checkpoint = Some(index);
        path.insns = 0;
        path.jumps = 0;
        self.stats.states += 1;
        Ok(false)
    }

    /// A path from checkpoint `cp` ended: checkpoints with no pending path
    /// left are complete.
    fn path_done(&mut self, mut cp: Option<usize>) {
        while let Some(i) = cp {
            let c = &mut self.checkpoints[i];
            c.pending -= 1;
            if c.pending > 0 {
                return;
            }
            c.complete = true;
            cp = c.parent;
        }
    }

    /// Queues another path from the current one.
    fn fork(&mut self, from: &Path, pc: usize, state: State) -> Result<(), VerifyError> {
        grow(&mut self.work, pc)?;
        if let Some(c) = from.checkpoint {
            self.checkpoints[c].pending += 1;
        }
        self.work.push(Path {
            pc,
            state,
            checkpoint: from.checkpoint,
            insns: from.insns,
            jumps: from.jumps,
        });
        Ok(())
    }

    fn read(&self, st: &State, pc: usize, r: u8) -> Result<Reg, VerifyError> {
        match st.reg(r) {
            Reg::NotInit => reject!(pc, "R{r} !read_ok"),
            reg => Ok(reg),
        }
    }

    fn writable(&self, pc: usize, r: u8) -> Result<(), VerifyError> {
        if r == 10 {
            reject!(pc, "frame pointer is read only");
        }
        Ok(())
    }

    fn map(&self, index: u16) -> &MapDesc {
        &self.subject.maps[index as usize]
    }

    fn step(&mut self, path: &mut Path) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let insn = self.insns[pc];
        match insn.opcode & 7 {
            BPF_ALU | BPF_ALU64 => {
                self.alu(&mut path.state, pc, &insn)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_LDX => {
                self.ldx(&mut path.state, pc, &insn)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_ST | BPF_STX => {
                self.store(&mut path.state, pc, &insn)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_LD => {
                if insn.opcode != BPF_LD | BPF_IMM | BPF_DW {
                    self.ld_abs(&mut path.state, pc, &insn)?;
                    return Ok(Step::Next(pc + 1));
                }
                self.lddw(&mut path.state, pc, &insn)?;
                Ok(Step::Next(pc + 2))
            }
            _ => self.jump(path, &insn),
        }
    }

    /// `LD_ABS`/`LD_IND`: a packet load through the `__sk_buff` in `r6`
    /// (Linux's `check_ld_abs`); out of the packet, the program ends with
    /// 0 at run time.
    fn ld_abs(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<(), VerifyError> {
        use crate::prog_type::ProgType;
        if !matches!(
            self.subject.prog_type,
            ProgType::SocketFilter | ProgType::SchedCls | ProgType::SchedAct
        ) {
            invalid!(
                pc,
                "BPF_LD_[ABS|IND] instructions not allowed for this program type"
            );
        }
        let size = size_of_code(insn.opcode);
        if size == 8 || insn.dst != 0 || insn.off != 0 {
            invalid!(pc, "BPF_LD_[ABS|IND] uses reserved fields");
        }
        if insn.opcode & 0xe0 == BPF_IND {
            if let Reg::Ptr(_) = self.read(st, pc, insn.src)? {
                reject!(pc, "R{} pointer in LD_IND is not allowed", insn.src);
            }
        }
        match self.read(st, pc, 6)? {
            Reg::Ptr(Ptr {
                kind: PtrKind::Ctx,
                off: 0,
                ..
            }) => {}
            _ => invalid!(pc, "at the time of BPF_LD_ABS|IND R6 != pointer to skb"),
        }
        if !st.refs.is_empty() {
            invalid!(pc, "BPF_LD_[ABS|IND] would lead to reference leak");
        }
        // It may end the program, with the lock held.
        no_lock_nor_preemption_off(st, pc, "BPF_LD_[ABS|IND]")?;
        for r in 1..=5 {
            st.set(r, Reg::NotInit);
        }
        st.set(0, loaded(size));
        Ok(())
    }

    fn lddw(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<(), VerifyError> {
        self.writable(pc, insn.dst)?;
        let next = self.insns[pc + 1];
        let value = match insn.src {
            0 => Reg::known((insn.imm as u32 as u64) | (next.imm as u32 as u64) << 32),
            BPF_PSEUDO_FUNC => Reg::Ptr(Ptr::to(PtrKind::Func {
                entry: (pc as i64 + 1 + insn.imm as i64) as u32,
            })),
            BPF_PSEUDO_MAP_FD
            | BPF_PSEUDO_MAP_IDX
            | BPF_PSEUDO_MAP_VALUE
            | BPF_PSEUDO_MAP_IDX_VALUE => {
                let Some(map) = (self.subject.map_of_lddw)(insn.src, insn.imm) else {
                    invalid!(pc, "fd {} is not pointing to valid bpf_map", insn.imm);
                };
                let map = map as u16;
                if matches!(insn.src, BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_IDX) {
                    Reg::Ptr(Ptr::to(PtrKind::Map { map }))
                } else {
                    Reg::Ptr(Ptr {
                        off: next.imm,
                        ..Ptr::to(PtrKind::MapValue { map })
                    })
                }
            }
            _ => invalid!(pc, "unsupported lddw source {}", insn.src),
        };
        st.set(insn.dst, value);
        Ok(())
    }

    fn alu(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<(), VerifyError> {
        let op = insn.opcode & 0xf0;
        let wide = insn.opcode & 7 == BPF_ALU64;
        let by_reg = insn.opcode & BPF_X != 0;
        self.writable(pc, insn.dst)?;
        let result = match op {
            BPF_END => {
                let a = self.read(st, pc, insn.dst)?;
                let bits = insn.imm as u32;
                match a {
                    Reg::Scalar(s) => match s.value() {
                        Some(v) => {
                            let swapped = match (bits, wide || by_reg) {
                                (16, false) => v as u16 as u64,
                                (32, false) => v as u32 as u64,
                                (64, false) => v,
                                (16, true) => (v as u16).swap_bytes() as u64,
                                (32, true) => (v as u32).swap_bytes() as u64,
                                _ => v.swap_bytes(),
                            };
                            Reg::known(swapped)
                        }
                        None if bits == 64 => Reg::UNKNOWN,
                        None => loaded(bits / 8),
                    },
                    _ => reject!(pc, "R{} pointer arithmetic prohibited", insn.dst),
                }
            }
            BPF_NEG => match self.read(st, pc, insn.dst)? {
                Reg::Scalar(s) => Reg::Scalar(scalar::alu(
                    AluOp {
                        op: BPF_SUB,
                        wide,
                        signed: false,
                    },
                    &Scalar::known(0),
                    &s,
                )),
                _ => reject!(pc, "R{} pointer arithmetic prohibited", insn.dst),
            },
            BPF_MOV => {
                let mut src = if by_reg {
                    self.read(st, pc, insn.src)?
                } else {
                    imm64(insn)
                };
                // A 64-bit copy of a number links the two: narrowing one
                // later narrows the other (Linux's
                // `assign_scalar_id_before_mov`).
                if let (Reg::Scalar(s), true, true, 0) = (&mut src, by_reg, wide, insn.off) {
                    if s.id == 0 && s.value().is_none() {
                        s.id = self.fresh_id();
                        st.set(insn.src, Reg::Scalar(*s));
                    }
                }
                // A pointer that is sign-extended or cut to 32 bits is a
                // number, but one that reveals part of an address.
                let leaks = self.subject.allow_ptr_leaks;
                let src = if insn.off != 0 {
                    match src {
                        Reg::Scalar(s) => Reg::Scalar(s.sign_extended(insn.off as u32)),
                        _ if leaks => Reg::UNKNOWN,
                        _ => reject!(pc, "R{} sign-extension part of pointer", insn.src),
                    }
                } else {
                    src
                };
                if wide {
                    src
                } else {
                    match src {
                        Reg::Scalar(s) => Reg::Scalar(s.truncated32()),
                        _ if leaks => loaded(4),
                        _ => reject!(pc, "R{} partial copy of pointer", insn.src),
                    }
                }
            }
            _ => {
                if !by_reg {
                    if matches!(op, BPF_DIV | BPF_MOD) && insn.imm == 0 {
                        invalid!(pc, "div by zero");
                    }
                    let width = if wide { 64 } else { 32 };
                    if matches!(op, BPF_LSH | BPF_RSH | BPF_ARSH)
                        && (insn.imm < 0 || insn.imm >= width)
                    {
                        invalid!(pc, "invalid shift {}", insn.imm);
                    }
                }
                let a = self.read(st, pc, insn.dst)?;
                let b = if by_reg {
                    self.read(st, pc, insn.src)?
                } else {
                    imm64(insn)
                };
                let alu = AluOp {
                    op,
                    wide,
                    signed: insn.off == 1,
                };
                match (a, b) {
                    (Reg::Scalar(x), Reg::Scalar(y)) => Reg::Scalar(scalar::alu(alu, &x, &y)),
                    _ => self.pointer_alu(pc, insn, alu, a, b)?,
                }
            }
        };
        st.set(insn.dst, result);
        Ok(())
    }

    fn pointer_alu(
        &mut self,
        pc: usize,
        insn: &Insn,
        alu: AluOp,
        a: Reg,
        b: Reg,
    ) -> Result<Reg, VerifyError> {
        let dst = insn.dst;
        let leaks = self.subject.allow_ptr_leaks;
        if !alu.wide {
            // The low half of a difference of addresses is a number.
            if alu.op == BPF_SUB && leaks {
                return Ok(loaded(4));
            }
            reject!(pc, "R{dst} 32-bit pointer arithmetic prohibited");
        }
        match (alu.op, a, b) {
            (BPF_ADD, Reg::Ptr(p), Reg::Scalar(s)) | (BPF_ADD, Reg::Scalar(s), Reg::Ptr(p)) => {
                self.move_pointer(pc, dst, p, &s, false).map(Reg::Ptr)
            }
            (BPF_SUB, Reg::Ptr(p), Reg::Scalar(s)) => {
                self.move_pointer(pc, dst, p, &s, true).map(Reg::Ptr)
            }
            (BPF_SUB, Reg::Scalar(_), Reg::Ptr(_)) => {
                reject!(pc, "R{dst} tried to subtract pointer from scalar")
            }
            // The distance between two pointers is a number, for callers
            // who may see addresses (as on Linux).
            (BPF_SUB, Reg::Ptr(_), Reg::Ptr(_)) if leaks => Ok(Reg::UNKNOWN),
            (_, Reg::Ptr(_), Reg::Ptr(_)) => {
                reject!(pc, "R{dst} pointer {} pointer prohibited", op_name(alu.op))
            }
            (BPF_AND | BPF_OR | BPF_XOR, _, _) => {
                reject!(
                    pc,
                    "R{dst} bitwise operator {} on pointer prohibited",
                    op_name(alu.op)
                )
            }
            _ => reject!(
                pc,
                "R{dst} pointer arithmetic with {} operator prohibited",
                op_name(alu.op)
            ),
        }
    }

    /// `p` moved by `s` (backwards if `sub`).
    fn move_pointer(
        &mut self,
        pc: usize,
        dst: u8,
        mut p: Ptr,
        s: &Scalar,
        sub: bool,
    ) -> Result<Ptr, VerifyError> {
        let name = p.kind.name();
        if p.maybe_null {
            reject!(
                pc,
                "R{dst} pointer arithmetic on {name}_or_null prohibited, null-check it first"
            );
        }
        if matches!(
            p.kind,
            PtrKind::PacketEnd
                | PtrKind::Map { .. }
                | PtrKind::Func { .. }
                | PtrKind::Socket { .. }
        ) {
            reject!(pc, "R{dst} pointer arithmetic on {name} prohibited");
        }
        if let Some(k) = s.value() {
            let k = if sub {
                (k as i64).wrapping_neg()
            } else {
                k as i64
            };
            let off = p.off as i64 + k;
            if !(-MAX_VAR_OFF..MAX_VAR_OFF).contains(&k)
                || !(-MAX_VAR_OFF..MAX_VAR_OFF).contains(&off)
            {
                reject!(pc, "value {k} makes {name} pointer be out of bounds");
            }
            p.off = off as i32;
            return Ok(p);
        }
        if s.smin <= -MAX_VAR_OFF || s.smax >= MAX_VAR_OFF {
            reject!(
                pc,
                "math between {name} pointer and register with unbounded min value is not allowed"
            );
        }
        let op = AluOp {
            op: if sub { BPF_SUB } else { BPF_ADD },
            wide: true,
            signed: false,
        };
        p.var = scalar::alu(op, &p.var, s);
        if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
            p.id = self.fresh_id();
            p.range = 0;
        }
        Ok(p)
    }

    fn ldx(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<(), VerifyError> {
        let mode = insn.opcode & 0xe0;
        let size = size_of_code(insn.opcode);
        self.writable(pc, insn.dst)?;
        let base = self.read(st, pc, insn.src)?;
        let value = match self.kptr_load(pc, base, insn.off, size, mode)? {
            Some(object) => object,
            None => self.access(st, pc, insn.src, base, insn.off, size, Access::Read, None)?,
        };
        let value = if mode == BPF_MEMSX {
            match (value, base) {
                (Reg::Scalar(s), _) if size < 8 => Reg::Scalar(s.sign_extended(size * 8)),
                (Reg::Scalar(s), _) => Reg::Scalar(s),
                // Linux's `is_ldsx` refusal of the packet pointer fields.
                (
                    _,
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Ctx,
                        off,
                        ..
                    }),
                ) => reject!(
                    pc,
                    "invalid bpf_context access off={} size={size}",
                    off as i64 + insn.off as i64
                ),
                _ => invalid!(pc, "invalid sign-extending load"),
            }
        } else {
            value
        };
        st.set(insn.dst, value);
        Ok(())
    }

    fn store(&mut self, st: &mut State, pc: usize, insn: &Insn) -> Result<(), VerifyError> {
        let size = size_of_code(insn.opcode);
        let base = self.read(st, pc, insn.dst)?;
        let value = if insn.opcode & 7 == BPF_ST {
            if let Reg::Ptr(Ptr {
                kind: PtrKind::Ctx, ..
            }) = base
            {
                reject!(pc, "BPF_ST stores into R{} ctx is not allowed", insn.dst);
            }
            Reg::known(insn.imm as i64 as u64)
        } else {
            self.read(st, pc, insn.src)?
        };
        // A pointer stored where userspace can read it back leaks a kernel
        // address (Linux allows it only with CAP_PERFMON).
        if let (Reg::Ptr(_), Reg::Ptr(p), false) = (value, base, self.subject.allow_ptr_leaks) {
            let what = match p.kind {
                PtrKind::MapValue { .. } => Some("map"),
                PtrKind::Packet | PtrKind::PacketMeta => Some("packet"),
                PtrKind::Mem { .. }
                | PtrKind::Slice { .. }
                | PtrKind::Object { .. }
                | PtrKind::RcuObject { .. } => Some("mem"),
                PtrKind::Ctx => Some("ctx"),
                _ => None,
            };
            if let Some(what) = what {
                reject!(pc, "R{} leaks addr into {what}", insn.src);
            }
        }
        let (dst, off) = (insn.dst, insn.off);
        if insn.opcode & 0xe0 != BPF_ATOMIC {
            let write = Access::Write;
            self.access(st, pc, dst, base, off, size, write, Some(value))?;
            return Ok(());
        }
        // Atomics: read-modify-write, aligned, on the stack or a map value.
        if !self.subject.allow_ptr_leaks {
            if insn.imm == BPF_CMPXCHG && matches!(st.reg(0), Reg::Ptr(_)) {
                reject!(pc, "R0 leaks addr into mem");
            }
            if let Reg::Ptr(_) = value {
                reject!(pc, "R{} leaks addr into mem", insn.src);
            }
        }
        let Reg::Ptr(p) = base else {
            reject!(pc, "R{} invalid mem access 'scalar'", insn.dst);
        };
        if !matches!(
            p.kind,
            PtrKind::Stack { .. } | PtrKind::MapValue { .. } | PtrKind::Mem { .. }
        ) || p.maybe_null
        {
            reject!(
                pc,
                "BPF_ATOMIC stores into R{} {} is not allowed",
                insn.dst,
                p.kind.name()
            );
        }
        if !matches!(size, 4 | 8) {
            invalid!(pc, "invalid atomic operand size");
        }
        let fixed = p.off as i64 + insn.off as i64 + p.var.var.value as i64;
        let align = size as u64 - 1;
        if fixed as u64 & align != 0 || p.var.var.mask & align != 0 {
            reject!(
                pc,
                "misaligned access off {}+{} size {size}",
                p.off,
                insn.off
            );
        }
        let old = self.access(st, pc, insn.dst, base, insn.off, size, Access::Read, None)?;
        if let (Reg::Ptr(_), false) = (old, self.subject.allow_ptr_leaks) {
            reject!(
                pc,
                "leaking pointer from stack off {}",
                p.off + insn.off as i32
            );
        }
        self.access(
            st,
            pc,
            insn.dst,
            base,
            insn.off,
            size,
            Access::Write,
            Some(Reg::UNKNOWN),
        )?;
        if insn.imm & BPF_FETCH != 0 {
            let target = if insn.imm == BPF_CMPXCHG { 0 } else { insn.src };
            if insn.imm == BPF_CMPXCHG {
                self.read(st, pc, 0)?;
            }
            self.writable(pc, target)?;
            st.set(target, old);
        }
        Ok(())
    }

    /// Checks a `size`-byte access at `off` from the pointer in `regno`;
    /// returns what a read loads. `value` is what a write stores.
    #[allow(clippy::too_many_arguments)]
    fn access(
        &mut self,
        st: &mut State,
        pc: usize,
        regno: u8,
        base: Reg,
        off: i16,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Result<Reg, VerifyError> {
        let p = match base {
            Reg::Ptr(p) => p,
            Reg::Scalar(_) => reject!(pc, "R{regno} invalid mem access 'scalar'"),
            Reg::NotInit => reject!(pc, "R{regno} !read_ok"),
        };
        // The loader rewrites context accesses per instruction: one
        // instruction reads the context on every path or on none.
        let is_ctx = if p.kind == PtrKind::Ctx { 1 } else { 2 };
        if let Some(seen) = self.base_kind.get_mut(pc) {
            if *seen != 0 && *seen != is_ctx {
                reject!(pc, "same insn cannot be used with different pointers");
            }
            *seen = is_ctx;
        }
        let name = p.kind.name();
        if p.maybe_null {
            reject!(pc, "R{regno} invalid mem access '{name}_or_null'");
        }
        let off = off as i64;
        match p.kind {
            PtrKind::Ctx => {
                if p.off != 0 || p.var.value() != Some(0) {
                    reject!(
                        pc,
                        "dereference of modified ctx ptr R{regno} off={} disallowed",
                        p.off
                    );
                }
                let field = i16::try_from(off)
                    .ok()
                    .and_then(|o| self.ctx.access(o, size as u8, access == Access::Write));
                let Some(field) = field else {
                    reject!(pc, "invalid bpf_context access off={off} size={size}");
                };
                Ok(match field.kind {
                    CtxFieldKind::Scalar => loaded(size),
                    CtxFieldKind::PacketStart => Reg::Ptr(Ptr::to(PtrKind::Packet)),
                    CtxFieldKind::PacketEnd => Reg::Ptr(Ptr::to(PtrKind::PacketEnd)),
                    CtxFieldKind::PacketMeta => Reg::Ptr(Ptr::to(PtrKind::PacketMeta)),
                })
            }
            PtrKind::Stack { frame } => {
                let Some(fixed) = p.fixed_offset() else {
                    // Linux lets only callers who may see addresses (and
                    // speculate past checks: `bypass_spec_v1`) do this.
                    if !self.subject.allow_ptr_leaks {
                        reject!(
                            pc,
                            "R{regno} variable stack access prohibited for !root, off={}",
                            p.off
                        );
                    }
                    return self.stack_var(st, pc, regno, frame, &p, off, size, access, value);
                };
                let o = fixed + off;
                if o < -(STACK_BYTES as i64) || o + size as i64 > 0 {
                    reject!(
                        pc,
                        "invalid {} stack R{regno} off={o} size={size}",
                        access.stack_word()
                    );
                }
                self.stack(st, pc, frame, o as i32, size, access, value)
            }
            PtrKind::Packet | PtrKind::PacketMeta => {
                let o = p.off as i64 + off;
                if p.var.smin < 0
                    || p.var.umax > MAX_PACKET_OFF
                    || o < 0
                    || o + size as i64 > p.range as i64
                {
                    reject!(
                        pc,
                        "invalid access to packet, off={o} size={size}, R{regno}(id={},off={},r={})",
                        p.id,
                        p.off,
                        p.range
                    );
                }
                Ok(loaded(size))
            }
            PtrKind::MapValue { map } => {
                let desc = *self.map(map);
                if access == Access::Write && desc.flags & BPF_F_RDONLY_PROG != 0 {
                    reject!(
                        pc,
                        "write into map forbidden, value_size={} off={} size={size}",
                        desc.value_size,
                        p.off as i64 + off
                    );
                }
                self.bounded(pc, regno, &p, off, size, desc.value_size, "map value")?;
                let fixed = p.off as i64 + off;
                let lo = fixed + p.var.smin.max(0);
                let hi = fixed + p.var.umax as i64 + size as i64;
                if let Some(f) = desc.record.overlapping(lo, hi) {
                    reject!(
                        pc,
                        "{} cannot be accessed directly by load/store",
                        f.kind.name()
                    );
                }
                Ok(loaded(size))
            }
            PtrKind::MapKey { map } => {
                if access == Access::Write {
                    reject!(pc, "R{regno} cannot write into map_key");
                }
                let key_size = self.map(map).key_size;
                self.bounded(pc, regno, &p, off, size, key_size, "map key")?;
                Ok(loaded(size))
            }
            PtrKind::Mem { size: mem } => {
                self.bounded(pc, regno, &p, off, size, mem, "mem")?;
                Ok(loaded(size))
            }
            PtrKind::Slice {
                size: mem,
                writable,
            } => {
                if access == Access::Write && !writable {
                    reject!(pc, "R{regno} cannot write into rdonly_mem");
                }
                self.bounded(pc, regno, &p, off, size, mem, "mem")?;
                Ok(loaded(size))
            }
            PtrKind::Socket { kind } => {
                if access == Access::Write {
                    reject!(pc, "R{regno} cannot write into {name}");
                }
                // Pointer arithmetic on sockets is refused: the offset is
                // the instruction's.
                if !crate::prog_type::socket::readable(kind, off, size) {
                    reject!(pc, "R{regno} invalid {name} access off={off} size={size}");
                }
                Ok(loaded(size))
            }
            PtrKind::Object { ty, .. } | PtrKind::RcuObject { ty } => {
                let Some(t) = (self.subject.obj_type)(ty) else {
                    reject!(pc, "R{regno} invalid mem access '{name}'");
                };
                let Some(fixed) = p.fixed_offset() else {
                    reject!(pc, "R{regno} is ptr_{} invalid variable offset", t.name());
                };
                let (lo, hi) = (fixed + off, fixed + off + size as i64);
                if lo < 0 || hi > t.size as i64 {
                    reject!(
                        pc,
                        "access beyond struct {} at off {lo} size {size}",
                        t.name()
                    );
                }
                if let Some(f) = t.record.overlapping(lo, hi) {
                    reject!(pc, "direct access to {} is disallowed", f.kind.name());
                }
                Ok(loaded(size))
            }
            PtrKind::PacketEnd | PtrKind::Map { .. } | PtrKind::Func { .. } => {
                reject!(pc, "R{regno} invalid mem access '{name}'")
            }
        }
    }

    /// An access of `size` bytes at `off` from `p` inside an object of
    /// `limit` bytes, whatever `p`'s variable offset.
    #[allow(clippy::too_many_arguments)]
    fn bounded(
        &self,
        pc: usize,
        regno: u8,
        p: &Ptr,
        off: i64,
        size: u32,
        limit: u32,
        what: &str,
    ) -> Result<(), VerifyError> {
        if p.var.smin < 0 && p.var.value().is_none() {
            reject!(
                pc,
                "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
            );
        }
        if p.var.umax >= MAX_VAR_OFF as u64 {
            reject!(
                pc,
                "R{regno} unbounded memory access, make sure to bounds check any such access"
            );
        }
        let fixed = p.off as i64 + off;
        let lo = fixed + p.var.smin.max(0);
        let hi = fixed + p.var.umax as i64 + size as i64;
        if p.var.value().is_some() {
            let at = fixed + p.var.var.value as i64;
            if at < 0 || at + size as i64 > limit as i64 {
                reject!(
                    pc,
                    "invalid access to {what}, value_size={limit} off={at} size={size}"
                );
            }
        } else if lo < 0 || hi > limit as i64 {
            reject!(
                pc,
                "invalid access to {what}, value_size={limit} off={fixed} size={size}"
            );
        }
        Ok(())
    }

    /// A stack access of `size` bytes at `o` (from the frame's top) of
    /// frame `frame`.
    #[allow(clippy::too_many_arguments)]
    fn stack(
        &mut self,
        st: &mut State,
        pc: usize,
        frame: u8,
        o: i32,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Result<Reg, VerifyError> {
        let fidx = frame as usize;
        let first_slot = ((-o - 1) / 8) as usize;
        let function = match self.cfg.functions.binary_search(&st.frames[fidx].entry) {
            Ok(i) | Err(i) => i,
        };
        if let Some(d) = self.depth.get_mut(function) {
            *d = (*d).max((-o) as u32);
        }
        match access {
            Access::Write => {
                no_stack_pointer_into_caller(st, pc, fidx, value)?;
                let f = &mut st.frames[fidx];
                let need = first_slot + 1;
                if f.stack.len() < need {
                    f.stack
                        .try_reserve(need - f.stack.len())
                        .map_err(|_| no_memory(pc))?;
                    f.stack.resize(need, Slot::INVALID);
                }
                if !destroy_dynptrs(f, o, o + size as i32) {
                    reject!(pc, "cannot overwrite referenced dynptr");
                }
                if size == 8 && o % 8 == 0 {
                    if let Some(v @ (Reg::Scalar(_) | Reg::Ptr(_))) = value {
                        f.stack[first_slot] = Slot::Spill(v);
                        return Ok(Reg::NotInit);
                    }
                }
                // A number stored with fewer bytes at a slot's start is
                // remembered too (Linux's narrow spill), unless that would
                // cut a spilled pointer.
                let spilled_pointer = matches!(f.stack[first_slot], Slot::Spill(Reg::Ptr(_)));
                if let (Some(Reg::Scalar(mut s)), 0, false) = (value, o % 8, spilled_pointer) {
                    let written = if s.value() == Some(0) {
                        Byte::Zero
                    } else {
                        Byte::Misc
                    };
                    let mut bytes = f.stack[first_slot].bytes();
                    for (i, b) in bytes.iter_mut().enumerate() {
                        if i < size as usize {
                            *b = written;
                        } else if *b != Byte::Zero && *b != Byte::Invalid {
                            *b = Byte::Misc;
                        }
                    }
                    // A number that does not fit is cut: it no longer
                    // stands for the register it came from.
                    if s.umax >> (size * 8) != 0 {
                        s.id = 0;
                    }
                    f.stack[first_slot] = Slot::Narrow {
                        reg: Reg::Scalar(s),
                        size: size as u8,
                        bytes,
                    };
                    return Ok(Reg::NotInit);
                }
                let zero = matches!(value, Some(Reg::Scalar(s)) if s.value() == Some(0));
                for a in o..o + size as i32 {
                    let slot = ((-a - 1) / 8) as usize;
                    // Overwriting part of an address leaves the rest
                    // readable as a number.
                    let spilled_pointer = matches!(f.stack[slot], Slot::Spill(Reg::Ptr(_)));
                    if spilled_pointer && !self.subject.allow_ptr_leaks {
                        reject!(pc, "attempt to corrupt spilled pointer on stack");
                    }
                    let byte = (a + 8 * (slot as i32 + 1)) as usize;
                    let mut bytes = f.stack[slot].bytes();
                    bytes[byte] = if zero { Byte::Zero } else { Byte::Misc };
                    f.stack[slot] = Slot::Bytes(bytes);
                }
                Ok(Reg::NotInit)
            }
            Access::Read => {
                let f = &st.frames[fidx];
                if o % 8 == 0 {
                    match f.slot(o) {
                        Slot::Spill(reg) if size == 8 => return Ok(reg),
                        Slot::Narrow {
                            reg: Reg::Scalar(s),
                            size: stored,
                            ..
                        } if size <= stored as u32 => {
                            // Cut to the read's size; a number that fits
                            // keeps its link to the register it came from.
                            let fits = size >= 8 || s.umax >> (size * 8) == 0;
                            return Ok(Reg::Scalar(if fits { s } else { s.truncated(size) }));
                        }
                        _ => {}
                    }
                }
                let mut all_zero = true;
                for a in o..o + size as i32 {
                    let slot = f.slot(a);
                    let byte = (a - (a.div_euclid(8) * 8)) as usize;
                    if let Slot::Spill(Reg::Ptr(_)) = slot {
                        reject!(pc, "invalid size of register fill");
                    }
                    // Not even a caller who may read uninitialised stack
                    // reads a dynptr (Linux's `STACK_DYNPTR`).
                    if let Slot::Dynptr { .. } = slot {
                        reject!(pc, "invalid read from stack off {o}+{} size {size}", a - o);
                    }
                    match slot.bytes()[byte] {
                        // Whatever an earlier run left there, for a caller
                        // who may see it (Linux's `allow_uninit_stack`).
                        Byte::Invalid if self.subject.allow_ptr_leaks => all_zero = false,
                        Byte::Invalid => {
                            reject!(pc, "invalid read from stack off {o}+{} size {size}", a - o)
                        }
                        Byte::Misc => all_zero = false,
                        Byte::Zero => {}
                    }
                }
                Ok(if all_zero {
                    Reg::known(0)
                } else {
                    loaded(size)
                })
            }
        }
    }

    /// A stack access at a variable offset (`p`'s bounds, plus `off`): the
    /// whole range it may touch must lie in the frame; a read yields a
    /// number (the bytes must have been written, unless the caller may
    /// read unwritten stack), a write leaves every byte it may have touched
    /// a number (Linux's `check_stack_{read,write}_var_off`).
    #[allow(clippy::too_many_arguments)]
    fn stack_var(
        &mut self,
        st: &mut State,
        pc: usize,
        regno: u8,
        frame: u8,
        p: &Ptr,
        off: i64,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Result<Reg, VerifyError> {
        let what = match access {
            Access::Read => "read from",
            Access::Write => "write to",
        };
        if p.var.smin <= -MAX_VAR_OFF || p.var.smax >= MAX_VAR_OFF {
            reject!(
                pc,
                "invalid unbounded variable-offset {what} stack R{regno}"
            );
        }
        let lo = p.off as i64 + off + p.var.smin;
        let hi = p.off as i64 + off + p.var.smax + size as i64;
        if lo < -(STACK_BYTES as i64) || hi > 0 {
            reject!(
                pc,
                "invalid variable-offset {what} stack R{regno} var_off={:?} off={off} size={size}",
                p.var
            );
        }
        let fidx = frame as usize;
        let function = match self.cfg.functions.binary_search(&st.frames[fidx].entry) {
            Ok(i) | Err(i) => i,
        };
        if let Some(d) = self.depth.get_mut(function) {
            *d = (*d).max((-lo) as u32);
        }
        let (lo, hi) = (lo as i32, hi as i32);
        match access {
            Access::Read => {
                let f = &st.frames[fidx];
                for a in lo..hi {
                    let byte = (a - (a.div_euclid(8) * 8)) as usize;
                    let dynptr = matches!(f.slot(a), Slot::Dynptr { .. });
                    if dynptr
                        || f.slot(a).bytes()[byte] == Byte::Invalid && !self.subject.allow_ptr_leaks
                    {
                        reject!(
                            pc,
                            "invalid variable-offset read from stack R{regno} var_off={:?} off={off} size={size}",
                            p.var
                        );
                    }
                }
                Ok(loaded(size))
            }
            Access::Write => {
                no_stack_pointer_into_caller(st, pc, fidx, value)?;
                let f = &mut st.frames[fidx];
                let need = ((-lo - 1) / 8) as usize + 1;
                if f.stack.len() < need {
                    f.stack
                        .try_reserve(need - f.stack.len())
                        .map_err(|_| no_memory(pc))?;
                    f.stack.resize(need, Slot::INVALID);
                }
                if !destroy_dynptrs(f, lo, hi) {
                    reject!(pc, "cannot overwrite referenced dynptr");
                }
                // Any byte may have been written, with any of the value's.
                let zero = matches!(value, Some(Reg::Scalar(s)) if s.value() == Some(0));
                for a in lo..hi {
                    let slot = ((-a - 1) / 8) as usize;
                    let byte = (a + 8 * (slot as i32 + 1)) as usize;
                    let mut bytes = f.stack[slot].bytes();
                    if !(zero && bytes[byte] == Byte::Zero) {
                        bytes[byte] = Byte::Misc;
                    }
                    f.stack[slot] = Slot::Bytes(bytes);
                }
                Ok(Reg::NotInit)
            }
        }
    }

    /// Checks that `size` bytes at the pointer in `regno` may be read (and
    /// written, if `write`) by a helper.
    fn helper_memory(
        &mut self,
        st: &mut State,
        pc: usize,
        regno: u8,
        size: u64,
        write: bool,
    ) -> Result<(), VerifyError> {
        if size == 0 {
            return Ok(());
        }
        let base = st.reg(regno);
        if let Reg::Ptr(p) = base {
            if matches!(p.kind, PtrKind::Ctx | PtrKind::Socket { .. }) {
                reject!(
                    pc,
                    "R{regno} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem",
                    p.kind.name()
                );
            }
        }
        // Checked as one access per 8 bytes, plus the rest.
        let mut done = 0u64;
        while done < size {
            let chunk = (size - done).min(8) as u32;
            let Ok(off) = i16::try_from(done) else {
                reject!(pc, "R{regno} unbounded memory access");
            };
            // Memory the helper fills need not be initialised before.
            let (access, value) = if write {
                (Access::Write, Some(Reg::UNKNOWN))
            } else {
                (Access::Read, None)
            };
            self.access(st, pc, regno, base, off, chunk, access, value)?;
            done += chunk as u64;
        }
        Ok(())
    }

    fn jump(&mut self, path: &mut Path, insn: &Insn) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let wide = insn.opcode & 7 == BPF_JMP;
        let op = insn.opcode & 0xf0;
        match op {
            BPF_JA => {
                let d = if wide {
                    insn.off as i64
                } else {
                    insn.imm as i64
                };
                Ok(Step::Next((pc as i64 + 1 + d) as usize))
            }
            BPF_EXIT => self.exit(path),
            BPF_CALL => {
                if insn.opcode & BPF_X != 0 || !wide {
                    invalid!(pc, "BPF_CALL uses reserved fields");
                }
                match insn.src {
                    BPF_PSEUDO_CALL => {
                        self.call_function(path, (pc as i64 + 1 + insn.imm as i64) as usize)
                    }
                    // A kfunc call not lowered yet: the same as its lowered
                    // form (the loader lowers before verifying; a caller of
                    // the verifier alone may not have).
                    BPF_PSEUDO_KFUNC_CALL => {
                        let id = (insn.imm as u32).checked_add(ids::KFUNC_BASE);
                        self.call_helper(path, id.unwrap_or(u32::MAX))
                    }
                    _ => self.call_helper(path, insn.imm as u32),
                }
            }
            _ => self.branch(path, insn, Cmp { op, wide }),
        }
    }

    // Out of line: `jump` dispatches to each, and their frames together
    // would exceed what a kernel stack frame may take (tools/kldcheck).
    #[inline(never)]
    fn branch(&mut self, path: &mut Path, insn: &Insn, cmp: Cmp) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let target = (pc as i64 + 1 + insn.off as i64) as usize;
        let by_reg = insn.opcode & BPF_X != 0;
        let a = self.read(&path.state, pc, insn.dst)?;
        let b = if by_reg {
            self.read(&path.state, pc, insn.src)?
        } else {
            imm64(insn)
        };
        // Whether a comparison that involves a pointer and does not decide
        // a packet range or a NULL check may run: its outcome tells the
        // program something about an address.
        let compare_addresses = || -> Result<(), VerifyError> {
            let packet = |r: &Reg| {
                matches!(r, Reg::Ptr(p) if matches!(
                    p.kind,
                    PtrKind::Packet | PtrKind::PacketMeta | PtrKind::PacketEnd
                ))
            };
            if self.subject.allow_ptr_leaks || (packet(&a) && packet(&b)) {
                return Ok(());
            }
            let regno = if matches!(b, Reg::Ptr(_)) {
                insn.src
            } else {
                insn.dst
            };
            reject!(pc, "R{regno} pointer comparison prohibited")
        };
        match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                if let Some(taken) = scalar::outcome(cmp, &x, &y) {
                    return Ok(Step::Next(if taken { target } else { pc + 1 }));
                }
                let set = |st: &mut State, (rx, ry): (Scalar, Scalar)| {
                    st.set(insn.dst, Reg::Scalar(rx));
                    sync_linked(st, &rx);
                    if by_reg {
                        st.set(insn.src, Reg::Scalar(ry));
                        sync_linked(st, &ry);
                    }
                };
                let taken = scalar::refine(cmp, &x, &y, true);
                let not_taken = scalar::refine(cmp, &x, &y, false);
                match (taken, not_taken) {
                    (Some(t), Some(f)) => {
                        let mut other = path.state.try_clone().ok_or(no_memory(pc))?;
                        set(&mut other, t);
                        self.fork(path, target, other)?;
                        set(&mut path.state, f);
                        Ok(Step::Next(pc + 1))
                    }
                    (Some(t), None) => {
                        set(&mut path.state, t);
                        Ok(Step::Next(target))
                    }
                    (None, Some(f)) => {
                        set(&mut path.state, f);
                        Ok(Step::Next(pc + 1))
                    }
                    (None, None) => Ok(Step::Done),
                }
            }
            (Reg::Ptr(p), Reg::Scalar(z)) | (Reg::Scalar(z), Reg::Ptr(p))
                if z.value() == Some(0) && cmp.wide && matches!(cmp.op, BPF_JEQ | BPF_JNE) =>
            {
                // Pointers that are never NULL are not equal to 0 (Linux's
                // `reg_not_null`). A packet pointer may be (an empty test
                // packet), and Linux does not decide for the others either.
                let never_null = matches!(
                    p.kind,
                    PtrKind::MapValue { .. }
                        | PtrKind::MapKey { .. }
                        | PtrKind::Mem { .. }
                        | PtrKind::Slice { .. }
                        | PtrKind::Socket { .. }
                        | PtrKind::Object { .. }
                        | PtrKind::RcuObject { .. }
                );
                if !p.maybe_null && never_null {
                    let equal_taken = cmp.op == BPF_JEQ;
                    return Ok(Step::Next(if equal_taken { pc + 1 } else { target }));
                }
                if !p.maybe_null {
                    compare_addresses()?;
                    let other = path.state.try_clone().ok_or(no_memory(pc))?;
                    self.fork(path, target, other)?;
                    return Ok(Step::Next(pc + 1));
                }
                let (null_pc, ok_pc) = if cmp.op == BPF_JEQ {
                    (target, pc + 1)
                } else {
                    (pc + 1, target)
                };
                let keeps_id = matches!(
                    p.kind,
                    PtrKind::MapValue { map } if self.map(map).record.spin_lock().is_some()
                );
                let mut null_state = path.state.try_clone().ok_or(no_memory(pc))?;
                mark_null(&mut null_state, &p, true, keeps_id);
                self.fork(path, null_pc, null_state)?;
                mark_null(&mut path.state, &p, false, keeps_id);
                Ok(Step::Next(ok_pc))
            }
            (Reg::Ptr(x), Reg::Ptr(y)) if cmp.wide => {
                compare_addresses()?;
                let mut other = path.state.try_clone().ok_or(no_memory(pc))?;
                let pair = match (x.kind, y.kind) {
                    (PtrKind::Packet, PtrKind::PacketEnd) => Some((x, false)),
                    (PtrKind::PacketEnd, PtrKind::Packet) => Some((y, true)),
                    (PtrKind::PacketMeta, PtrKind::Packet) => Some((x, false)),
                    (PtrKind::Packet, PtrKind::PacketMeta) => Some((y, true)),
                    _ => None,
                };
                if let Some((pkt, swapped)) = pair {
                    // Which side proves that the packet pointer is within.
                    let (on_taken, on_fall) = if swapped {
                        packet_proof_swapped(cmp.op)
                    } else {
                        packet_proof(cmp.op)
                    };
                    if on_taken {
                        set_range(&mut other, &pkt);
                    }
                    if on_fall {
                        set_range(&mut path.state, &pkt);
                    }
                }
                self.fork(path, target, other)?;
                Ok(Step::Next(pc + 1))
            }
            _ => {
                compare_addresses()?;
                let other = path.state.try_clone().ok_or(no_memory(pc))?;
                self.fork(path, target, other)?;
                Ok(Step::Next(pc + 1))
            }
        }
    }

    // Out of line: `jump` dispatches to each, and their frames together
    // would exceed what a kernel stack frame may take (tools/kldcheck).
    #[inline(never)]
    fn exit(&mut self, path: &mut Path) -> Result<Step, VerifyError> {
        let pc = path.pc;
        // A function may leave r0 unset (a void function): its caller
        // cannot read it then. The program and callbacks must set it.
        let r0 = if path.state.frames.len() > 1 && path.state.frame().callback.is_none() {
            path.state.reg(0)
        } else {
            self.read(&path.state, pc, 0)?
        };
        let st = &mut path.state;
        // A function may return with the lock its caller releases; the
        // program may not, and a callback leaves the lock as it found it.
        let callback_lock = st.frame().callback.map(|c| c.lock);
        if (st.lock.is_some() && st.frames.len() == 1)
            || callback_lock.is_some_and(|l| l != st.lock)
        {
            invalid!(pc, "bpf_spin_unlock is missing");
        }
        if st.frames.len() == 1 && st.preempt > 0 {
            let n = st.preempt;
            let missing = if n == 1 { " is" } else { "(s) are" };
            invalid!(pc, "{n} bpf_preempt_enable{missing} missing");
        }
        if st.frames.len() == 1 {
            if let (Reg::Ptr(_), false) = (r0, self.subject.allow_ptr_leaks) {
                reject!(pc, "R0 leaks addr as return value");
            }
            // A timer's callback returns 0 (Linux ignores the value and
            // makes sure it is 0).
            if st.frame().callback.is_some()
                && !matches!(r0, Reg::Scalar(s) if s.value() == Some(0))
            {
                reject!(
                    pc,
                    "At async callback return the register R0 has {r0} should have been in [0, 0]"
                );
            }
            if let Some(r) = st.refs.first() {
                reject!(pc, "Unreleased reference id={} alloc_insn={}", r.id, r.pc);
            }
            return Ok(Step::Done);
        }
        // The callee's frame goes (dropped where it is: frames are large).
        let n = st.frames.len();
        let callee = &mut st.frames[n - 1];
        let (ret, is_callback) = (callee.return_pc, callee.callback.is_some());
        let start = core::mem::take(&mut callee.iteration_start);
        let cb = if is_callback {
            Some(callee.callback.take().ok_or(no_memory(pc))?)
        } else {
            None
        };
        st.frames.truncate(n - 1);
        let callee_frame = st.frames.len() as u8;
        let Some(ret) = ret else {
            return Ok(Step::Done);
        };
        let result = if let Some(cb) = cb {
            match r0 {
                Reg::Scalar(s) if s.umax <= 1 => {}
                _ => reject!(
                    pc,
                    "At callback return the register R0 has {r0} should have been in [0, 1]"
                ),
            }
            self.next_iteration(path, &cb, &start, callee_frame, ret)?;
            Reg::UNKNOWN
        } else {
            if let Reg::Ptr(Ptr {
                kind: PtrKind::Stack { frame },
                ..
            }) = r0
            {
                if frame == callee_frame {
                    reject!(pc, "cannot return stack pointer to the caller");
                }
            }
            r0
        };
        let st = &mut path.state;
        st.set(0, result);
        for r in 1..=5 {
            st.set(r, Reg::NotInit);
        }
        Ok(Step::Next(ret))
    }

    /// `bpf_throw`: the program ends here with the cookie in `r1` as its
    /// return value (the default exception callback), from whatever
    /// function this is, as Linux's exceptional exit: nothing may be held,
    /// and callbacks may not throw.
    /// Forks the exploration of another iteration of callback `cb`, which
    /// began with its callers' stacks as `start` and returns to `ret`.
    /// Another iteration may follow, from the state this one left: the
    /// second starts from where the first ended; the later ones from there
    /// with the numbers the last iteration changed forgotten (Linux's
    /// `widen_imprecise_scalars`), so that they converge while what no
    /// iteration touches stays known.
    #[inline(never)]
    fn next_iteration(
        &mut self,
        path: &mut Path,
        cb: &Callback,
        start: &[Vec<Slot>],
        frame_index: u8,
        ret: usize,
    ) -> Result<(), VerifyError> {
        let pc = path.pc;
        let mut again = path.state.try_clone().ok_or(no_memory(pc))?;
        let iteration = cb.iteration.saturating_add(1).min(2);
        if iteration == 2 {
            widen_changed(&mut again, start);
        }
        let iteration_start = caller_stacks(&again).ok_or(no_memory(pc))?;
        grow(&mut again.frames, pc)?;
        again
            .frames
            .push(Frame::new(frame_index, cb.entry, Some(ret)));
        let frame = again.frame_mut();
        frame.regs[1..6].copy_from_slice(&cb.args);
        frame.callback = Some(Callback { iteration, ..*cb });
        frame.iteration_start = iteration_start;
        self.fork(path, cb.entry, again)
    }

    // Out of line: `jump` dispatches to each, and their frames together
    // would exceed what a kernel stack frame may take (tools/kldcheck).
    #[inline(never)]
    fn throw(&mut self, path: &mut Path) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let st = &path.state;
        let callback = st
            .frames
            .iter()
            .rev()
            .find_map(|f| f.callback.map(|c| c.entry));
        let exception_cb = self
            .subject
            .exception_cb
            .filter(|&cb| st.frames[0].entry == cb);
        if let Some(entry) = callback.or(exception_cb) {
            let subprog = self.cfg.functions.binary_search(&entry).unwrap_or(0);
            invalid!(
                pc,
                "bpf_throw kfunc (insn {pc}) cannot be called from callback subprog {subprog}"
            );
        }
        no_lock_nor_preemption_off(st, pc, "bpf_throw")?;
        if let Some(r) = st.refs.first() {
            invalid!(pc, "Unreleased reference id={} alloc_insn={}", r.id, r.pc);
        }
        if let (Reg::Ptr(_), false) = (st.reg(1), self.subject.allow_ptr_leaks) {
            reject!(pc, "R1 leaks addr as return value");
        }
        Ok(Step::Done)
    }

    fn call_function(&mut self, path: &mut Path, entry: usize) -> Result<Step, VerifyError> {
        let pc = path.pc;
        if self.subject.exception_cb == Some(entry) {
            invalid!(pc, "cannot call exception cb directly");
        }
        let st = &mut path.state;
        room_for_a_frame(st, pc)?;
        let mut frame = Frame::new(st.frames.len() as u8, entry, Some(pc + 1));
        frame.regs[1..6].copy_from_slice(&st.frame().regs[1..6]);
        grow(&mut st.frames, pc)?;
        st.frames.push(frame);
        Ok(Step::Next(entry))
    }

    // Out of line: `jump` dispatches to each, and their frames together
    // would exceed what a kernel stack frame may take (tools/kldcheck).
    #[inline(never)]
    fn call_helper(&mut self, path: &mut Path, id: u32) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let allowed = self.subject.prog_type.spec().helpers.contains(&id);
        let Some(proto) = proto::proto_of(id).filter(|_| allowed) else {
            invalid!(pc, "unknown func #{id}");
        };
        // Under a lock: its release, and the list kfuncs (Linux's graph
        // API kfuncs), which need it.
        let under_lock = matches!(
            id,
            ids::SPIN_UNLOCK
                | ids::LIST_PUSH_FRONT
                | ids::LIST_PUSH_BACK
                | ids::LIST_POP_FRONT
                | ids::LIST_POP_BACK
                | ids::RBTREE_ADD
                | ids::RBTREE_FIRST
                | ids::RBTREE_REMOVE
                | ids::REFCOUNT_ACQUIRE
        );
        if path.state.lock.is_some() && !under_lock {
            invalid!(pc, "function calls are not allowed while holding a lock");
        }
        if proto.gpl_only && !self.subject.gpl {
            if id >= ids::KFUNC_BASE {
                invalid!(
                    pc,
                    "cannot call kernel function from non-GPL compatible program"
                );
            }
            invalid!(
                pc,
                "cannot call GPL-restricted function from non-GPL compatible program"
            );
        }
        let mut meta = self.check_args(&mut path.state, pc, proto)?;
        self.dynptr_call(&mut path.state, pc, id, &mut meta)?;
        match id {
            ids::THROW => return self.throw(path),
            ids::PREEMPT_DISABLE => path.state.preempt += 1,
            ids::PREEMPT_ENABLE if path.state.preempt == 0 => invalid!(
                pc,
                "unmatched attempt to enable preemption (kernel function bpf_preempt_enable)"
            ),
            ids::PREEMPT_ENABLE => path.state.preempt -= 1,
            ids::TAIL_CALL if path.state.preempt > 0 => invalid!(
                pc,
                "tail_call cannot be used inside bpf_preempt_disable-ed region"
            ),
            // The target cannot release what this program holds.
            ids::TAIL_CALL if !path.state.refs.is_empty() => {
                invalid!(pc, "tail_call would lead to reference leak")
            }
            _ => {}
        }
        let st = &mut path.state;
        if let Some(pushed) = meta.pushed {
            // The list owns the object now; the program keeps non-owning
            // pointers to it until the lock goes (Linux's
            // `ref_convert_owning_non_owning`).
            st.refs.retain(|r| r.id != pushed);
            st.for_each_reg(&mut |r| {
                if let Reg::Ptr(p) = r {
                    if let (PtrKind::Object { ty, .. }, true) = (p.kind, p.ref_id == pushed) {
                        p.kind = PtrKind::Object {
                            ty,
                            non_owning: true,
                        };
                        p.ref_id = 0;
                    }
                }
            });
        }
        if let Some(release) = meta.release {
            let Some(at) = st.refs.iter().position(|r| r.id == release) else {
                reject!(pc, "reference has not been acquired before");
            };
            st.refs.swap_remove(at);
            st.for_each_reg(&mut |r| {
                if let Reg::Ptr(p) = r {
                    if p.ref_id == release {
                        *r = Reg::UNKNOWN;
                    }
                }
            });
        }
        // The helper's callback: explored as a call from here.
        let callback = match (proto.callback, meta.callback) {
            (Some(kind), Some(entry)) => Some((kind, entry)),
            _ => None,
        };
        // A write through a socket buffer's dynptr may move its packet
        // (Linux's `check_helper_call` for `bpf_dynptr_write`).
        let dynptr_moves = id == ids::DYNPTR_WRITE && meta.dynptr == Some(DynptrKind::Skb);
        if proto.changes_packet || dynptr_moves {
            // The packet may have moved: every pointer into it is stale
            // (Linux's `clear_all_pkt_pointers`), slices of it too.
            let stale = if self.subject.allow_ptr_leaks {
                Reg::UNKNOWN
            } else {
                Reg::NotInit
            };
            st.for_each_reg(&mut |r| {
                if let Reg::Ptr(p) = r {
                    if matches!(
                        p.kind,
                        PtrKind::Packet
                            | PtrKind::PacketMeta
                            | PtrKind::PacketEnd
                            | PtrKind::Slice { .. }
                    ) {
                        *r = stale;
                    }
                }
            });
        }
        let mut args = [Reg::NotInit; 5];
        args.copy_from_slice(&st.frame().regs[1..6]);
        for r in 1..=5 {
            st.set(r, Reg::NotInit);
        }
        let r0 = match proto.ret {
            Ret::Integer => Reg::UNKNOWN,
            Ret::Void => Reg::NotInit,
            Ret::MapValueOrNull => {
                let map = meta.map.unwrap_or(0);
                let id = self.fresh_id();
                let kind = match self.map(map).inner {
                    Some(inner) => PtrKind::Map { map: inner },
                    None => PtrKind::MapValue { map },
                };
                Reg::Ptr(Ptr {
                    id,
                    maybe_null: true,
                    ..Ptr::to(kind)
                })
            }
            // A ring buffer record's memory goes with its reference.
            Ret::SliceOrNull { writable } => Reg::Ptr(Ptr {
                id: self.fresh_id(),
                maybe_null: true,
                ref_id: meta.dynptr_id,
                ..Ptr::to(PtrKind::Slice {
                    size: meta.slice_size,
                    writable,
                })
            }),
            Ret::DynptrDataOrNull => Reg::Ptr(Ptr {
                id: self.fresh_id(),
                maybe_null: true,
                ref_id: meta.dynptr_id,
                ..Ptr::to(PtrKind::Mem {
                    size: meta.alloc_size as u32,
                })
            }),
            Ret::TreeNodeOrNull => {
                let (ty, off) = meta.list.unwrap_or((0, 0));
                Reg::Ptr(Ptr {
                    id: self.fresh_id(),
                    maybe_null: true,
                    off: off as i32,
                    ..Ptr::to(PtrKind::Object {
                        ty,
                        non_owning: true,
                    })
                })
            }
            Ret::ObjectOrNull | Ret::ListNodeOrNull => {
                let (ty, off) = match proto.ret {
                    Ret::ObjectOrNull => (meta.obj_type, 0),
                    _ => (meta.list.map(|(t, _)| t), meta.list.map_or(0, |(_, n)| n)),
                };
                let id = self.acquire(&mut path.state, pc)?;
                Reg::Ptr(Ptr {
                    id,
                    ref_id: id,
                    maybe_null: true,
                    off: off as i32,
                    ..Ptr::to(PtrKind::Object {
                        ty: ty.unwrap_or(0),
                        non_owning: false,
                    })
                })
            }
            Ret::KptrOrNull | Ret::AcquiredObject => {
                let (ty, maybe_null) = match proto.ret {
                    Ret::KptrOrNull => (meta.kptr.unwrap_or(0), true),
                    _ => {
                        let (ty, owned) = meta.acquire_from.unwrap_or((0, false));
                        (ty, !owned)
                    }
                };
                let id = self.acquire(&mut path.state, pc)?;
                Reg::Ptr(Ptr {
                    id,
                    ref_id: id,
                    maybe_null,
                    ..Ptr::to(PtrKind::Object {
                        ty,
                        non_owning: false,
                    })
                })
            }
            Ret::SocketOrNull { kind, reference } => {
                let (id, ref_id) = match reference {
                    SockRef::Acquired => {
                        let id = self.acquire(&mut path.state, pc)?;
                        (id, id)
                    }
                    SockRef::OfArgument => (self.fresh_id(), meta.socket_ref),
                    SockRef::Unreferenced => (self.fresh_id(), 0),
                };
                Reg::Ptr(Ptr {
                    id,
                    ref_id,
                    maybe_null: true,
                    ..Ptr::to(PtrKind::Socket { kind })
                })
            }
            Ret::RingbufMemOrNull => {
                let id = self.acquire(&mut path.state, pc)?;
                Reg::Ptr(Ptr {
                    id,
                    ref_id: id,
                    maybe_null: true,
                    ..Ptr::to(PtrKind::Mem {
                        size: meta.alloc_size as u32,
                    })
                })
            }
        };
        let st = &mut path.state;
        st.set(0, r0);
        let Some((kind, entry)) = callback else {
            return Ok(Step::Next(pc + 1));
        };
        if kind == CallbackArgs::Timer {
            self.push_timer_callback(entry, meta.timer.unwrap_or(0), pc)?;
            return Ok(Step::Next(pc + 1));
        }
        // The helper may not call the callback at all (no element, a
        // count of 0): continue right away too.
        let skip = st.try_clone().ok_or(no_memory(pc))?;
        self.fork(path, pc + 1, skip)?;
        self.enter_callback(path, id, kind, entry, args[2], meta.map, meta.list)
    }

    /// Queues the verification of the timer callback at `entry` for timers
    /// of `map`, once: a root of its own (it runs later, on a stack of its
    /// own, holding nothing of the program's run), with the timer's map,
    /// key and value in r1-r3 (Linux's `push_async_cb`).
    #[inline(never)]
    fn push_timer_callback(
        &mut self,
        entry: usize,
        map: u16,
        pc: usize,
    ) -> Result<(), VerifyError> {
        if self.async_roots.contains(&(entry, map)) {
            return Ok(());
        }
        grow(&mut self.async_roots, pc)?;
        self.async_roots.push((entry, map));
        let args = [
            Reg::Ptr(Ptr::to(PtrKind::Map { map })),
            Reg::Ptr(Ptr::to(PtrKind::MapKey { map })),
            Reg::Ptr(Ptr::to(PtrKind::MapValue { map })),
            Reg::NotInit,
            Reg::NotInit,
        ];
        self.push_root(entry, args[0])?;
        let Some(root) = self.work.last_mut() else {
            return Err(no_memory(pc));
        };
        let frame = root.state.frame_mut();
        frame.regs[1..6].copy_from_slice(&args);
        frame.callback = Some(Callback {
            helper: ids::TIMER_SET_CALLBACK,
            entry,
            args,
            iteration: 0,
            lock: None,
        });
        Ok(())
    }

    /// Enters the callback at `entry` of helper `id` (its first iteration),
    /// with the arguments its kind gives it (`ctx` the helper's callback
    /// context argument, `map` its map).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn enter_callback(
        &mut self,
        path: &mut Path,
        id: u32,
        kind: CallbackArgs,
        entry: usize,
        ctx: Reg,
        map: Option<u16>,
        tree: Option<(u32, u32)>,
    ) -> Result<Step, VerifyError> {
        let pc = path.pc;
        let st = &mut path.state;
        room_for_a_frame(st, pc)?;
        let cb_args = match kind {
            // Verified as a root of its own (`push_timer_callback`).
            CallbackArgs::Timer => reject!(pc, "a timer callback is not called in place"),
            CallbackArgs::Loop => [
                Reg::Scalar(Scalar::unsigned(0, 1 << 23)),
                ctx,
                Reg::NotInit,
                Reg::NotInit,
                Reg::NotInit,
            ],
            CallbackArgs::RbtreeLess => {
                let (ty, node_offset) = tree.unwrap_or((0, 0));
                let node = Reg::Ptr(Ptr {
                    off: node_offset as i32,
                    ..Ptr::to(PtrKind::Object {
                        ty,
                        non_owning: true,
                    })
                });
                [node, node, Reg::NotInit, Reg::NotInit, Reg::NotInit]
            }
            CallbackArgs::ForEachMapElem => {
                let map = map.unwrap_or(0);
                [
                    Reg::Ptr(Ptr::to(PtrKind::Map { map })),
                    Reg::Ptr(Ptr::to(PtrKind::MapKey { map })),
                    Reg::Ptr(Ptr::to(PtrKind::MapValue { map })),
                    ctx,
                    Reg::NotInit,
                ]
            }
        };
        grow(&mut st.frames, pc)?;
        st.frames
            .push(Frame::new(st.frames.len() as u8, entry, Some(pc + 1)));
        let frame = st.frame_mut();
        frame.regs[1..6].copy_from_slice(&cb_args);
        let lock = st.lock;
        let frame = st.frame_mut();
        frame.callback = Some(Callback {
            iteration: 0,
            helper: id,
            entry,
            args: cb_args,
            lock,
        });
        Ok(Step::Next(entry))
    }

    fn check_args(
        &mut self,
        st: &mut State,
        pc: usize,
        proto: &Proto,
    ) -> Result<ArgMeta, VerifyError> {
        let mut meta = ArgMeta::default();
        let name = proto.name;
        for (i, arg) in proto.args.iter().enumerate() {
            let regno = i as u8 + 1;
            let reg = self.read(st, pc, regno)?;
            let expected = |what: &str| -> VerifyError {
                let found = match reg {
                    Reg::Scalar(_) => "scalar",
                    Reg::Ptr(p) if p.maybe_null => "ptr_or_null",
                    Reg::Ptr(p) => p.kind.name(),
                    Reg::NotInit => "?",
                };
                VerifyError::new(
                    pc,
                    Errno::EACCES,
                    format_args!("R{regno} type={found} expected={what}"),
                )
            };
            match *arg {
                Arg::Anything => {
                    if let (Reg::Ptr(_), false) = (reg, self.subject.allow_ptr_leaks) {
                        reject!(pc, "R{regno} leaks addr into helper function");
                    }
                }
                Arg::ConstMapPtr => match reg {
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Map { map },
                        maybe_null: false,
                        ..
                    }) => {
                        let t = self.map(map).map_type;
                        if !map_allows(t, proto.id) {
                            reject!(
                                pc,
                                "cannot pass map_type {} into func {name}#{}",
                                t as u32,
                                proto.id
                            );
                        }
                        if let Some(timer_map) = meta.timer.filter(|&m| m != map) {
                            reject!(
                                pc,
                                "timer pointer in R1 map_uid={timer_map} doesn't match map pointer in R{regno} map_uid={map}"
                            );
                        }
                        meta.map = Some(map);
                    }
                    _ => return Err(expected("map_ptr")),
                },
                Arg::MapKey | Arg::MapValue | Arg::UninitMapValue => {
                    let Some(map) = meta.map else {
                        reject!(pc, "invalid map_ptr to access map->key");
                    };
                    let desc = *self.map(map);
                    let size = if *arg == Arg::MapKey {
                        desc.key_size
                    } else {
                        desc.value_size
                    };
                    self.pointer_arg(pc, regno, &reg)?;
                    self.helper_memory(st, pc, regno, size as u64, *arg == Arg::UninitMapValue)?;
                }
                Arg::Mem {
                    read_only,
                    maybe_null,
                } => {
                    let or_zero = matches!(
                        proto.args.get(i + 1),
                        Some(Arg::ConstSize { or_zero: true })
                    );
                    if !self.mem_arg(st, pc, regno, &reg, read_only, maybe_null, or_zero)? {
                        continue;
                    }
                }
                Arg::DynptrData => {
                    // Linux makes local dynptrs of map values only.
                    match reg {
                        Reg::Ptr(p) if matches!(p.kind, PtrKind::MapValue { .. }) => {}
                        _ => {
                            let name = match reg {
                                Reg::Ptr(p) => p.kind.name(),
                                _ => "scalar",
                            };
                            reject!(
                                pc,
                                "Unsupported reg type {name} for bpf_dynptr_from_mem data"
                            );
                        }
                    }
                    self.mem_arg(st, pc, regno, &reg, false, false, true)?;
                }
                Arg::ConstSize { .. } => {}
                Arg::SpinLock => self.spin_lock_arg(st, pc, regno, &reg, proto.id)?,
                Arg::Timer => meta.timer = Some(self.timer_arg(pc, regno, &reg)?),
                Arg::FixedMem { size } => {
                    // Read, then written back.
                    self.pointer_arg(pc, regno, &reg)?;
                    self.helper_memory(st, pc, regno, size as u64, false)?;
                    self.helper_memory(st, pc, regno, size as u64, true)?;
                }
                Arg::FixedIn { size } => {
                    self.pointer_arg(pc, regno, &reg)?;
                    self.helper_memory(st, pc, regno, size as u64, false)?;
                }
                Arg::OutMem { size } => {
                    self.pointer_arg(pc, regno, &reg)?;
                    self.helper_memory(st, pc, regno, size as u64, true)?;
                }
                Arg::ConstAllocSize => match reg {
                    Reg::Scalar(s) if s.value().is_some() => {
                        meta.alloc_size = s.value().unwrap_or(0);
                    }
                    _ => reject!(pc, "R{regno} is not a known constant'"),
                },
                Arg::Ctx => match reg {
                    Reg::Ptr(p) if p.kind == PtrKind::Ctx && p.off == 0 => {}
                    _ => return Err(expected("ctx")),
                },
                Arg::ReleaseRingbufMem => match reg {
                    Reg::Ptr(p)
                        if matches!(p.kind, PtrKind::Mem { .. })
                            && p.ref_id != 0
                            && !p.maybe_null =>
                    {
                        if p.off != 0 || p.var.value() != Some(0) {
                            reject!(
                                pc,
                                "R{regno} must have zero offset when passed to release func"
                            );
                        }
                        meta.release = Some(p.ref_id);
                    }
                    _ => return Err(expected("ringbuf_mem")),
                },
                Arg::ObjTypeId => {
                    let Reg::Scalar(v) = reg else {
                        return Err(expected("scalar"));
                    };
                    let Some(btf) = v.value() else {
                        reject!(pc, "R{regno} must be a known constant");
                    };
                    let Some(&(_, ty)) = self
                        .subject
                        .obj_btf
                        .iter()
                        .find(|&&(b, _)| u64::from(b) == btf)
                    else {
                        reject!(pc, "bpf_obj_new type ID argument must be of a struct");
                    };
                    meta.obj_type = Some(ty);
                }
                Arg::ReleaseObject => match reg {
                    Reg::Ptr(p)
                        if matches!(
                            p.kind,
                            PtrKind::Object {
                                non_owning: false,
                                ..
                            }
                        ) && p.ref_id != 0
                            && !p.maybe_null =>
                    {
                        if p.fixed_offset() != Some(0) {
                            reject!(
                                pc,
                                "R{regno} must have zero offset when passed to release func"
                            );
                        }
                        meta.release = Some(p.ref_id);
                    }
                    _ => reject!(pc, "arg#0 expected pointer to allocated object"),
                },
                Arg::ListHead | Arg::RbRoot => {
                    let kind = if *arg == Arg::ListHead {
                        FieldKind::ListHead
                    } else {
                        FieldKind::RbRoot
                    };
                    meta.list = Some(self.list_head_arg(st, pc, regno, &reg, kind)?);
                }
                Arg::RbNodeInTree => {
                    let (contains, node_offset) = meta.list.unwrap_or((u32::MAX, 0));
                    let ok = matches!(reg, Reg::Ptr(p)
                        if p.kind == PtrKind::Object { ty: contains, non_owning: true }
                            && !p.maybe_null
                            && p.fixed_offset() == Some(node_offset as i64));
                    if !ok {
                        reject!(pc, "rbtree_remove node input must be non-owning ref");
                    }
                }
                Arg::ListNode | Arg::RbNode => {
                    let (contains, node_offset) = meta.list.unwrap_or((u32::MAX, 0));
                    let Reg::Ptr(p) = reg else {
                        reject!(pc, "arg#1 expected pointer to allocated object");
                    };
                    let PtrKind::Object {
                        ty,
                        non_owning: false,
                    } = p.kind
                    else {
                        reject!(pc, "arg#1 expected pointer to allocated object");
                    };
                    if p.ref_id == 0 || p.maybe_null {
                        reject!(pc, "arg#1 expected pointer to allocated object");
                    }
                    let held = (self.subject.obj_type)(contains);
                    if ty != contains || p.fixed_offset() != Some(node_offset as i64) {
                        let node = if *arg == Arg::ListNode {
                            "bpf_list_node"
                        } else {
                            "bpf_rb_node"
                        };
                        reject!(
                            pc,
                            "arg#1 offset={}, but expected {node} at offset={node_offset} in struct {}",
                            p.fixed_offset().unwrap_or(-1),
                            held.as_ref().map_or("?", |t| t.name())
                        );
                    }
                    meta.pushed = Some(p.ref_id);
                }
                Arg::Kptr => meta.kptr = Some(self.kptr_arg(pc, regno, &reg)?),
                Arg::KptrNew => match reg {
                    Reg::Scalar(v) if v.value() == Some(0) => {}
                    Reg::Ptr(
                        p @ Ptr {
                            kind:
                                PtrKind::Object {
                                    ty,
                                    non_owning: false,
                                },
                            ..
                        },
                    ) if p.ref_id != 0 => {
                        if p.fixed_offset() != Some(0) {
                            reject!(
                                pc,
                                "R{regno} must have zero offset when passed to release func"
                            );
                        }
                        if Some(ty) != meta.kptr {
                            reject!(pc, "R{regno} is of another type than the kptr holds");
                        }
                        meta.release = Some(p.ref_id);
                    }
                    _ => reject!(
                        pc,
                        "R{regno} must be referenced or NULL when passed to bpf_kptr_xchg"
                    ),
                },
                Arg::RefcountedObject => {
                    // Owned, or reached under a lock or through a kptr.
                    let (p, ty, owned) = match reg {
                        Reg::Ptr(
                            p @ Ptr {
                                kind: PtrKind::Object { ty, non_owning },
                                maybe_null: false,
                                ..
                            },
                        ) => (p, ty, !non_owning),
                        Reg::Ptr(
                            p @ Ptr {
                                kind: PtrKind::RcuObject { ty },
                                maybe_null: false,
                                ..
                            },
                        ) => (p, ty, false),
                        _ => reject!(pc, "arg#0 expected pointer to allocated object"),
                    };
                    if owned && p.ref_id == 0 || p.fixed_offset() != Some(0) {
                        reject!(pc, "arg#0 expected pointer to allocated object");
                    }
                    let counted = (self.subject.obj_type)(ty).and_then(|t| t.record.refcount());
                    if counted.is_none() {
                        reject!(pc, "bpf_refcount_acquire: struct has no bpf_refcount field");
                    }
                    meta.acquire_from = Some((ty, owned));
                }
                Arg::Socket { release } => match reg {
                    Reg::Ptr(p) if matches!(p.kind, PtrKind::Socket { .. }) && !p.maybe_null => {
                        if release {
                            if p.ref_id == 0 {
                                reject!(
                                    pc,
                                    "R{regno} must be referenced when passed to release function"
                                );
                            }
                            meta.release = Some(p.ref_id);
                        }
                        meta.socket_ref = p.ref_id;
                    }
                    _ => return Err(expected("sock_common")),
                },
                Arg::Func => match reg {
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Func { entry },
                        ..
                    }) => meta.callback = Some(entry as usize),
                    _ => return Err(expected("func")),
                },
                Arg::StackOrNull => match reg {
                    Reg::Scalar(s) if s.value() == Some(0) => {}
                    Reg::Ptr(p) if matches!(p.kind, PtrKind::Stack { .. }) => {}
                    _ => return Err(expected("fp")),
                },
                Arg::DynptrUninit(kind) => {
                    // A clone shares the original's reference.
                    let shared = if kind.is_none() { meta.dynptr_id } else { 0 };
                    let kind = kind.or(meta.dynptr).unwrap_or(DynptrKind::Skb);
                    let (frame, off) = self.dynptr_place(st, pc, regno, &reg)?;
                    // Linux's `mark_stack_slots_dynptr`: whatever was
                    // there (another dynptr too) is overwritten.
                    for half in [off, off + 8] {
                        self.stack(st, pc, frame, half, 8, Access::Write, Some(Reg::UNKNOWN))?;
                    }
                    let f = &mut st.frames[frame as usize];
                    let first = ((-off - 1) / 8) as usize;
                    f.stack[first] = Slot::Dynptr {
                        kind,
                        first: true,
                        id: shared,
                    };
                    f.stack[first - 1] = Slot::Dynptr {
                        kind,
                        first: false,
                        id: shared,
                    };
                    meta.dynptr_at = Some((frame, off));
                }
                Arg::Dynptr => {
                    let (frame, off) = self.dynptr_place(st, pc, regno, &reg)?;
                    let f = &st.frames[frame as usize];
                    match (f.slot(off), f.slot(off + 8)) {
                        (
                            Slot::Dynptr {
                                kind,
                                first: true,
                                id,
                            },
                            Slot::Dynptr {
                                kind: second,
                                first: false,
                                ..
                            },
                        ) if kind == second => {
                            meta.dynptr = Some(kind);
                            meta.dynptr_id = id;
                            meta.dynptr_at = Some((frame, off));
                        }
                        _ => reject!(pc, "Expected an initialized dynptr as arg #{}", regno - 1),
                    }
                }
                Arg::OptBuffer => {
                    let size = match self.read(st, pc, regno + 1)? {
                        Reg::Scalar(s) => s.value(),
                        _ => None,
                    };
                    let Some(size) = size.filter(|&s| s < MAX_MEM_SIZE) else {
                        reject!(pc, "R{} must be a known constant", regno + 1);
                    };
                    meta.slice_size = size as u32;
                    if !matches!(reg, Reg::Scalar(s) if s.value() == Some(0)) {
                        self.pointer_arg(pc, regno, &reg)?;
                        self.helper_memory(st, pc, regno, size, true)?;
                    }
                }
                Arg::ConstStr => match reg {
                    Reg::Ptr(p)
                        if matches!(p.kind, PtrKind::MapValue { map }
                            if self.map(map).flags & BPF_F_RDONLY_PROG != 0)
                            && p.fixed_offset().is_some() => {}
                    _ => reject!(pc, "R{regno} does not point to a readonly map'"),
                },
            }
        }
        Ok(meta)
    }

    /// A memory argument whose size the next register gives (Linux's
    /// `ARG_PTR_TO_MEM` and its size): `false` for a NULL one of size 0
    /// that `maybe_null` allows, which there is nothing more to check of.
    #[allow(clippy::too_many_arguments)]
    fn mem_arg(
        &mut self,
        st: &mut State,
        pc: usize,
        regno: u8,
        reg: &Reg,
        read_only: bool,
        maybe_null: bool,
        or_zero: bool,
    ) -> Result<bool, VerifyError> {
        let size_reg = self.read(st, pc, regno + 1)?;
        let Reg::Scalar(size) = size_reg else {
            reject!(pc, "R{} type=ptr expected=scalar", regno + 1);
        };
        if size.smin < 0 {
            reject!(
                pc,
                "R{} min value is negative, either use unsigned or 'var &= const'",
                regno + 1
            );
        }
        if size.umax >= MAX_MEM_SIZE {
            reject!(
                pc,
                "R{} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                regno + 1
            );
        }
        if size.umin == 0 && !or_zero {
            reject!(pc, "R{} invalid zero-sized read", regno + 1);
        }
        let null = matches!(reg, Reg::Scalar(s) if s.value() == Some(0));
        if null && maybe_null && size.umax == 0 {
            return Ok(false);
        }
        if null && !maybe_null {
            reject!(
                pc,
                "R{regno} type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem"
            );
        }
        self.pointer_arg(pc, regno, reg)?;
        self.helper_memory(st, pc, regno, size.umax, !read_only)?;
        Ok(true)
    }

    /// What the dynptr calls do to references (Linux's `process_dynptr_func`
    /// and the ring buffer's acquire and release): a reserved record's
    /// dynptr holds a reference until it is submitted or discarded, which
    /// also ends the dynptr; `bpf_dynptr_data` is not for packets.
    fn dynptr_call(
        &mut self,
        st: &mut State,
        pc: usize,
        id: u32,
        meta: &mut ArgMeta,
    ) -> Result<(), VerifyError> {
        match id {
            ids::RINGBUF_RESERVE_DYNPTR => {
                let Some((frame, off)) = meta.dynptr_at else {
                    return Ok(());
                };
                let rid = self.acquire(st, pc)?;
                let f = &mut st.frames[frame as usize];
                let first = ((-off - 1) / 8) as usize;
                for i in [first, first - 1] {
                    if let Slot::Dynptr { id, .. } = &mut f.stack[i] {
                        *id = rid;
                    }
                }
            }
            ids::RINGBUF_SUBMIT_DYNPTR | ids::RINGBUF_DISCARD_DYNPTR => {
                if meta.dynptr != Some(DynptrKind::Ringbuf) || meta.dynptr_id == 0 {
                    reject!(pc, "arg 1 is an unacquired reference");
                }
                meta.release = Some(meta.dynptr_id);
                // The dynptr and its clones end with the record.
                for f in st.frames.iter_mut() {
                    for slot in f.stack.iter_mut() {
                        if matches!(*slot, Slot::Dynptr { id, .. } if id == meta.dynptr_id) {
                            *slot = Slot::INVALID;
                        }
                    }
                }
            }
            ids::DYNPTR_DATA if matches!(meta.dynptr, Some(DynptrKind::Skb | DynptrKind::Xdp)) => {
                reject!(
                    pc,
                    "bpf_dynptr_data cannot be used on a packet dynptr: use bpf_dynptr_slice"
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Where a dynptr argument lives: a stack pointer at a constant,
    /// 8-byte aligned offset with room for 16 bytes (Linux's
    /// `check_reg_arg` for `ARG_PTR_TO_DYNPTR`): its frame and offset.
    fn dynptr_place(
        &self,
        st: &State,
        pc: usize,
        regno: u8,
        reg: &Reg,
    ) -> Result<(u8, i32), VerifyError> {
        let Reg::Ptr(
            p @ Ptr {
                kind: PtrKind::Stack { frame },
                maybe_null: false,
                ..
            },
        ) = *reg
        else {
            reject!(
                pc,
                "arg#{} expected pointer to stack or const struct bpf_dynptr",
                regno - 1
            );
        };
        let Some(off) = p.fixed_offset() else {
            reject!(pc, "dynptr has to be at a constant offset");
        };
        if off % 8 != 0 {
            reject!(pc, "cannot pass in dynptr at an offset={off}");
        }
        if off < -(STACK_BYTES as i64) || off + 16 > 0 {
            reject!(pc, "invalid write to stack R{regno} off={off} size=16");
        }
        let _ = st;
        Ok((frame, off as i32))
    }

    /// `bpf_spin_lock`/`bpf_spin_unlock`'s argument: the lock of a map
    /// value, at its constant offset; one lock held at a time, released
    /// through the same value (Linux's `process_spin_lock`).
    fn spin_lock_arg(
        &mut self,
        st: &mut State,
        pc: usize,
        regno: u8,
        reg: &Reg,
        id: u32,
    ) -> Result<(), VerifyError> {
        // The lock of an object the program owns: named by the object
        // (no map has index u16::MAX).
        if let Some((p, ty)) = owned_object(reg) {
            let lock_off = (self.subject.obj_type)(ty).and_then(|t| t.record.spin_lock());
            let Some(lock_off) = lock_off else {
                invalid!(pc, "R{regno} has no valid bpf_spin_lock");
            };
            if p.fixed_offset() != Some(lock_off as i64) {
                invalid!(
                    pc,
                    "off {} doesn't point to 'struct bpf_spin_lock' that is at {lock_off}",
                    p.off
                );
            }
            return self.lock_or_unlock(st, pc, id, (OBJECT_LOCK, p.id));
        }
        let (map, p) = self.value_field_arg(pc, regno, reg, FieldKind::SpinLock)?;
        self.lock_or_unlock(st, pc, id, (map, p.id))
    }

    /// A `struct bpf_timer` argument: a map value at the constant offset of
    /// its map's timer (Linux's `process_timer_func`), of a map programs
    /// may write. Its map.
    fn timer_arg(&self, pc: usize, regno: u8, reg: &Reg) -> Result<u16, VerifyError> {
        let (map, _) = self.value_field_arg(pc, regno, reg, FieldKind::Timer)?;
        if self.map(map).flags & crate::maps::flags::BPF_F_RDONLY_PROG != 0 {
            reject!(pc, "R{regno} points to a read-only map's value");
        }
        Ok(map)
    }

    /// A pointer to the special field `kind` of a map value: not NULL, at
    /// a constant offset, that of the map's field (Linux's messages). The
    /// map and the pointer.
    fn value_field_arg(
        &self,
        pc: usize,
        regno: u8,
        reg: &Reg,
        kind: FieldKind,
    ) -> Result<(u16, Ptr), VerifyError> {
        let name = kind.name();
        let Reg::Ptr(
            p @ Ptr {
                kind: PtrKind::MapValue { map },
                maybe_null: false,
                ..
            },
        ) = *reg
        else {
            reject!(pc, "R{regno} type={} expected=map_value", reg_name(reg));
        };
        let Some(var) = p.var.value() else {
            invalid!(
                pc,
                "R{regno} doesn't have constant offset. {name} has to be at the constant offset"
            );
        };
        let field = self.map(map).record.iter().find(|f| f.kind == kind);
        let Some(field_off) = field.map(|f| f.offset) else {
            invalid!(pc, "map '' has no valid {name}");
        };
        let at = p.off as i64 + var as i64;
        if at != field_off as i64 {
            invalid!(
                pc,
                "off {at} doesn't point to 'struct {name}' that is at {field_off}"
            );
        }
        Ok((map, p))
    }

    /// `bpf_spin_lock` (`id`) or `bpf_spin_unlock` of the lock `which`
    /// names: (map, value pointer id), or ([`OBJECT_LOCK`], object id).
    fn lock_or_unlock(
        &self,
        st: &mut State,
        pc: usize,
        id: u32,
        which: (u16, u32),
    ) -> Result<(), VerifyError> {
        if id == ids::SPIN_LOCK {
            if st.lock.is_some() {
                invalid!(pc, "Locking two bpf_spin_locks are not allowed");
            }
            st.lock = Some(which);
            return Ok(());
        }
        match st.lock {
            None => invalid!(pc, "bpf_spin_unlock without taking a lock"),
            Some(held) if held != which => invalid!(pc, "bpf_spin_unlock of different lock"),
            Some(_) => st.lock = None,
        }
        // What the lock protected may go now: non-owning pointers end
        // (Linux's `invalidate_non_owning_refs`).
        st.for_each_reg(&mut |r| {
            if let Reg::Ptr(Ptr {
                kind: PtrKind::Object {
                    non_owning: true, ..
                },
                ..
            }) = r
            {
                *r = Reg::UNKNOWN;
            }
        });
        Ok(())
    }

    /// A load of a kptr (`p = v->kptr`, 8 bytes at its offset in a map
    /// value or object): the object it holds, or NULL, readable until the
    /// run ends (Linux's RCU-protected local kptr), for a type with a
    /// reference count, whose freed blocks wait for the runs that may
    /// read them. `None` for any other load.
    fn kptr_load(
        &mut self,
        pc: usize,
        base: Reg,
        off: i16,
        size: u32,
        mode: u8,
    ) -> Result<Option<Reg>, VerifyError> {
        let Reg::Ptr(p) = base else {
            return Ok(None);
        };
        let record = match p.kind {
            _ if p.maybe_null => return Ok(None),
            PtrKind::MapValue { map } => self.map(map).record,
            PtrKind::Object { ty, .. } | PtrKind::RcuObject { ty } => {
                match (self.subject.obj_type)(ty) {
                    Some(t) => t.record,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let at = p.fixed_offset().map(|o| o + i64::from(off));
        let field = at
            .and_then(|at| u32::try_from(at).ok())
            .and_then(|at| record.at(at))
            .filter(|f| f.kind == FieldKind::Kptr);
        let Some(field) = field else {
            return Ok(None);
        };
        if size != 8 || mode != BPF_MEM {
            return Ok(None);
        }
        let held = (self.subject.obj_type)(field.contains);
        if held.and_then(|t| t.record.refcount()).is_none() {
            reject!(
                pc,
                "kptr to struct {} cannot be read directly: it has no bpf_refcount, use bpf_kptr_xchg",
                held.as_ref().map_or("?", |t| t.name())
            );
        }
        Ok(Some(Reg::Ptr(Ptr {
            id: self.fresh_id(),
            maybe_null: true,
            ..Ptr::to(PtrKind::RcuObject { ty: field.contains })
        })))
    }

    /// The layout of map `map`'s values, whose objects a call changes: not
    /// of a map programs only read.
    fn writable_record(&self, pc: usize, regno: u8, map: u16) -> Result<Record, VerifyError> {
        let desc = self.map(map);
        if desc.flags & BPF_F_RDONLY_PROG != 0 {
            reject!(
                pc,
                "R{regno} write into map forbidden: its value is read-only"
            );
        }
        Ok(desc.record)
    }

    /// A kptr argument: the `__kptr` field of a map value or of an object
    /// (owned, or reached under its owner's lock) at a constant offset.
    /// The type it holds.
    fn kptr_arg(&self, pc: usize, regno: u8, reg: &Reg) -> Result<u32, VerifyError> {
        let (p, record) = match *reg {
            Reg::Ptr(
                p @ Ptr {
                    kind: PtrKind::MapValue { map },
                    maybe_null: false,
                    ..
                },
            ) => (p, self.writable_record(pc, regno, map)?),
            Reg::Ptr(
                p @ Ptr {
                    kind: PtrKind::Object { ty, non_owning },
                    maybe_null: false,
                    ..
                },
            ) if non_owning || p.ref_id != 0 => match (self.subject.obj_type)(ty) {
                Some(t) => (p, t.record),
                None => reject!(pc, "R{regno} has no valid kptr"),
            },
            _ => reject!(pc, "R{regno} type={} expected=map_value", reg_name(reg)),
        };
        let Some(at) = p.fixed_offset() else {
            reject!(
                pc,
                "R{regno} doesn't have constant offset. kptr has to be at the constant offset"
            );
        };
        match u32::try_from(at).ok().and_then(|at| record.at(at)) {
            Some(f) if f.kind == FieldKind::Kptr => Ok(f.contains),
            _ if !record.iter().any(|f| f.kind == FieldKind::Kptr) => {
                reject!(pc, "R{regno} has no valid kptr")
            }
            _ => reject!(pc, "off={at} doesn't point to kptr"),
        }
    }

    /// A list head or tree root argument (`kind`): the field of a map
    /// value or owned object at a constant offset, that value's or
    /// object's lock held. The type it holds and its node's offset.
    fn list_head_arg(
        &self,
        st: &State,
        pc: usize,
        regno: u8,
        reg: &Reg,
        kind: FieldKind,
    ) -> Result<(u32, u32), VerifyError> {
        let name = kind.name();
        // Where the field would be: the layout it is in and whose lock
        // guards it.
        let (p, record, lock) = match *reg {
            Reg::Ptr(
                p @ Ptr {
                    kind: PtrKind::MapValue { map },
                    maybe_null: false,
                    ..
                },
            ) => (p, self.writable_record(pc, regno, map)?, (map, p.id)),
            _ => match owned_object(reg)
                .and_then(|(p, ty)| Some((p, (self.subject.obj_type)(ty)?.record)))
            {
                Some((p, record)) => (p, record, (OBJECT_LOCK, p.id)),
                None => reject!(
                    pc,
                    "arg#0 expected pointer to map value or allocated object"
                ),
            },
        };
        let Some(at) = p.fixed_offset() else {
            invalid!(
                pc,
                "R{regno} doesn't have constant offset. {name} has to be at the constant offset"
            );
        };
        let head = u32::try_from(at)
            .ok()
            .and_then(|o| record.at(o))
            .filter(|f| f.kind == kind);
        let Some(head) = head else {
            invalid!(pc, "{name} not found at offset={at}");
        };
        if st.lock != Some(lock) {
            invalid!(
                pc,
                "bpf_spin_lock at off={} must be held for {name}",
                record.spin_lock().unwrap_or(0)
            );
        }
        Ok((head.contains, head.node_offset))
    }

    /// A memory argument must be a usable pointer.
    fn pointer_arg(&self, pc: usize, regno: u8, reg: &Reg) -> Result<(), VerifyError> {
        match reg {
            Reg::Ptr(p) if p.maybe_null => {
                reject!(
                    pc,
                    "R{regno} type={}_or_null expected=fp, pkt, pkt_meta, map_key, map_value, mem",
                    p.kind.name()
                )
            }
            Reg::Ptr(_) => Ok(()),
            _ => reject!(
                pc,
                "R{regno} type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem"
            ),
        }
    }
}

/// A pointer to stack is not stored into a caller's frame, where it would
/// outlive the frame it points into.
fn no_stack_pointer_into_caller(
    st: &State,
    pc: usize,
    fidx: usize,
    value: Option<Reg>,
) -> Result<(), VerifyError> {
    let stack_pointer = matches!(
        value,
        Some(Reg::Ptr(Ptr {
            kind: PtrKind::Stack { .. },
            ..
        }))
    );
    if stack_pointer && fidx != st.frames.len() - 1 {
        invalid!(
            pc,
            "cannot spill pointers to stack into stack frame of the caller"
        );
    }
    Ok(())
}

/// Whether one more call frame fits (Linux's `MAX_CALL_FRAMES`).
fn room_for_a_frame(st: &State, pc: usize) -> Result<(), VerifyError> {
    if st.frames.len() < MAX_FRAMES {
        return Ok(());
    }
    Err(VerifyError::new(
        pc,
        Errno::E2BIG,
        format_args!(
            "the call stack of {} frames is too deep",
            st.frames.len() + 1
        ),
    ))
}

/// The object `reg` points to if the program owns it (a reference), not
/// NULL: the pointer and the object's type.
fn owned_object(reg: &Reg) -> Option<(Ptr, u32)> {
    match *reg {
        Reg::Ptr(
            p @ Ptr {
                kind:
                    PtrKind::Object {
                        ty,
                        non_owning: false,
                    },
                maybe_null: false,
                ..
            },
        ) if p.ref_id != 0 => Some((p, ty)),
        _ => None,
    }
}

/// A register's type as Linux's messages name it, for one a map value was
/// expected in.
fn reg_name(reg: &Reg) -> &'static str {
    match reg {
        Reg::Ptr(p) if p.maybe_null => "map_value_or_null",
        Reg::Ptr(p) => p.kind.name(),
        Reg::Scalar(_) => "scalar",
        Reg::NotInit => "?",
    }
}

/// What the arguments of a helper call told.
/// The "map" of a lock that is an object's ([`State::lock`]).
const OBJECT_LOCK: u16 = u16::MAX;

#[derive(Default)]
struct ArgMeta {
    map: Option<u16>,
    /// The map whose value holds a timer argument.
    timer: Option<u16>,
    alloc_size: u64,
    release: Option<u32>,
    callback: Option<usize>,
    /// The kind of the initialised dynptr argument.
    dynptr: Option<DynptrKind>,
    /// The reference that dynptr holds (0: none).
    dynptr_id: u32,
    /// Where the dynptr argument (initialised or made by the call) is:
    /// frame and offset.
    dynptr_at: Option<(u8, i32)>,
    /// The constant size of an `OptBuffer` argument (a slice's size).
    slice_size: u32,
    /// The reference of the socket argument (0: none).
    socket_ref: u32,
    /// The object type an `ObjTypeId` argument names (graph index).
    obj_type: Option<u32>,
    /// A list head argument's (type held, node offset).
    list: Option<(u32, u32)>,
    /// The reference of an object pushed into a list.
    pushed: Option<u32>,
    /// The object type a kptr argument holds (graph index).
    kptr: Option<u32>,
    /// A `RefcountedObject` argument's type, and whether the program owned
    /// it.
    acquire_from: Option<(u32, bool)>,
}

/// Whether helper `id` may be called on a map of type `t`, and the map
/// type allows the helper (Linux's `check_map_func_compatibility`).
fn map_allows(t: MapType, id: u32) -> bool {
    use MapType::*;
    // Redirect maps serve bpf_redirect_map, and lookups of devices and
    // sockets (Linux's check_map_func_compatibility).
    if t.is_redirect() {
        return id == ids::REDIRECT_MAP || (id == ids::MAP_LOOKUP_ELEM && t != CpuMap);
    }
    match id {
        ids::REDIRECT_MAP => false,
        ids::MAP_LOOKUP_ELEM => !matches!(
            t,
            ProgArray | Queue | Stack | RingBuf | PerfEventArray | BloomFilter
        ),
        ids::MAP_UPDATE_ELEM | ids::MAP_DELETE_ELEM => !matches!(
            t,
            ProgArray
                | ArrayOfMaps
                | HashOfMaps
                | Queue
                | Stack
                | RingBuf
                | PerfEventArray
                | BloomFilter
        ),
        ids::PERF_EVENT_OUTPUT => t == PerfEventArray,
        ids::MAP_PUSH_ELEM | ids::MAP_PEEK_ELEM => matches!(t, Queue | Stack | BloomFilter),
        ids::MAP_POP_ELEM => matches!(t, Queue | Stack),
        ids::TAIL_CALL => t == ProgArray,
        ids::TIMER_INIT => matches!(t, Array | Hash | LruHash),
        ids::RINGBUF_OUTPUT
        | ids::RINGBUF_RESERVE
        | ids::RINGBUF_QUERY
        | ids::RINGBUF_RESERVE_DYNPTR => t == RingBuf,
        ids::MAP_LOOKUP_PERCPU_ELEM => matches!(t, PercpuHash | PercpuArray | LruPercpuHash),
        ids::FOR_EACH_MAP_ELEM => matches!(
            t,
            Hash | Array | PercpuHash | PercpuArray | LruHash | LruPercpuHash
        ),
        _ => true,
    }
}

/// For `x op end` between a packet pointer `x` and its end: whether the
/// taken and the fall-through branch prove `x <= end`.
fn packet_proof(op: u8) -> (bool, bool) {
    match op {
        // x > end: falls through when x <= end.
        BPF_JGT => (false, true),
        // x >= end: falls through when x < end.
        BPF_JGE => (false, true),
        // x < end taken; x <= end taken.
        BPF_JLT | BPF_JLE => (true, false),
        _ => (false, false),
    }
}

/// The same for `end op x`.
fn packet_proof_swapped(op: u8) -> (bool, bool) {
    match op {
        // end > x taken; end >= x taken.
        BPF_JGT | BPF_JGE => (true, false),
        // end < x falls through when end >= x; end <= x when end > x.
        BPF_JLT | BPF_JLE => (false, true),
        _ => (false, false),
    }
}

/// Every packet pointer sharing `pkt`'s base may now access `pkt.off`
/// bytes from it.
fn set_range(st: &mut State, pkt: &Ptr) {
    if pkt.off <= 0 || pkt.var.smin < 0 || pkt.var.umax > MAX_PACKET_OFF {
        return;
    }
    let (kind, id, range) = (pkt.kind, pkt.id, pkt.off);
    st.for_each_reg(&mut |r| {
        if let Reg::Ptr(p) = r {
            if p.kind == kind && p.id == id && p.range < range {
                p.range = range;
            }
        }
    });
}

/// The result of a maybe-NULL pointer `p` is now known to be NULL (`null`)
/// or not, in every register sharing its id.
/// Settles every copy of the maybe-NULL pointer `p` as NULL or not. A
/// value with a spin lock keeps its id, which names its lock (Linux's
/// `reg_may_point_to_spin_lock`).
fn mark_null(st: &mut State, p: &Ptr, null: bool, keeps_id: bool) {
    let id = p.id;
    // A NULL acquisition holds nothing; a NULL pointer derived from a
    // reference (a record dynptr's data) leaves the reference held.
    if null && p.ref_id != 0 && p.ref_id == p.id {
        st.refs.retain(|r| r.id != p.ref_id);
    }
    st.for_each_reg(&mut |r| {
        if let Reg::Ptr(q) = r {
            if q.maybe_null && q.id == id {
                if null {
                    *r = Reg::known(0);
                } else {
                    q.maybe_null = false;
                    if q.ref_id == 0 && !keeps_id {
                        q.id = 0;
                    }
                }
            }
        }
    });
}

/// Gives every register and spilled slot linked to `s` (the same id) the
/// bounds `s` was just narrowed to.
fn sync_linked(st: &mut State, s: &Scalar) {
    if s.id == 0 {
        return;
    }
    st.for_each_reg(&mut |r| {
        if let Reg::Scalar(other) = r {
            if other.id == s.id {
                *other = *s;
            }
        }
    });
}

/// `what` may end the program here: refused with a `bpf_spin_lock` held
/// or preemption off, as Linux refuses it.
fn no_lock_nor_preemption_off(st: &State, pc: usize, what: &str) -> Result<(), VerifyError> {
    if st.lock.is_some() {
        invalid!(pc, "{what} cannot be used inside bpf_spin_lock-ed region");
    }
    if st.preempt > 0 {
        invalid!(
            pc,
            "{what} cannot be used inside bpf_preempt_disable-ed region"
        );
    }
    Ok(())
}

/// Destroys every dynptr a store to stack bytes `[lo, hi)` touches, both
/// halves (Linux's `destroy_if_dynptr_stack_slot`: the packet dynptrs hold
/// no reference, so overwriting one is allowed); `false`, changing
/// nothing, when one holds a reference (a ring buffer record's).
fn destroy_dynptrs(f: &mut Frame, lo: i32, hi: i32) -> bool {
    let mut a = lo;
    while a < hi {
        let i = ((-a - 1) / 8) as usize;
        if let Some(&Slot::Dynptr { id, .. }) = f.stack.get(i) {
            if id != 0 {
                return false;
            }
        }
        a = (a.div_euclid(8) + 1) * 8;
    }
    let mut a = lo;
    while a < hi {
        let i = ((-a - 1) / 8) as usize;
        if let Some(&Slot::Dynptr { first, .. }) = f.stack.get(i) {
            let partner = if first { i.checked_sub(1) } else { Some(i + 1) };
            f.stack[i] = Slot::INVALID;
            if let Some(p) = partner.filter(|&p| p < f.stack.len()) {
                f.stack[p] = Slot::INVALID;
            }
        }
        // The next slot's first byte.
        a = (a.div_euclid(8) + 1) * 8;
    }
    true
}

/// A copy of every frame's stack.
fn caller_stacks(st: &State) -> Option<Vec<Vec<Slot>>> {
    let mut out = Vec::new();
    out.try_reserve_exact(st.frames.len()).ok()?;
    for f in &st.frames {
        let mut s = Vec::new();
        s.try_reserve_exact(f.stack.len()).ok()?;
        s.extend_from_slice(&f.stack);
        out.push(s);
    }
    Some(out)
}

/// Forgets the numbers of the stack slots that differ from `start` (what
/// an iteration of a callback changed), keeping pointers.
fn widen_changed(st: &mut State, start: &[Vec<Slot>]) {
    for (f, frame) in st.frames.iter_mut().enumerate() {
        for (i, slot) in frame.stack.iter_mut().enumerate() {
            let before = start
                .get(f)
                .and_then(|s| s.get(i))
                .copied()
                .unwrap_or(Slot::INVALID);
            if before == *slot {
                continue;
            }
            match slot {
                Slot::Spill(Reg::Scalar(s))
                | Slot::Narrow {
                    reg: Reg::Scalar(s),
                    ..
                } => *s = Scalar::UNKNOWN,
                Slot::Narrow { .. } => {}
                Slot::Bytes(bytes) => {
                    for b in bytes.iter_mut() {
                        if *b == Byte::Zero {
                            *b = Byte::Misc;
                        }
                    }
                }
                Slot::Spill(_) | Slot::Dynptr { .. } => {}
            }
        }
    }
}
