//! Random XDP, tc and socket filter programs near the edge of what the
//! verifier accepts, for
//! testing its soundness: whatever it accepts must never trip a run-time
//! check of the checking interpreter (see `verifier_soundness.rs`
//! and the `verifier` fuzz target). Programs use map 0 (a hash map of
//! 4-byte keys and 16-byte values) and map 1 (an array of 1 entry of 32
//! bytes).

use ebpf_core::insn::Insn;
use ebpf_core::load::Admission;
use ebpf_core::maps::{Map, MapAttr, MapType};
use ebpf_core::opcode::*;
use ebpf_core::prog_type::TestFrame;
use ebpf_core::verifier::{self, MapDesc, Subject};
use ebpf_core::{
    LoadOptions, LoadedProgram, MemoryMap, PlatformRef, ProgType, ProgramMaps, Shared, Stack,
};

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

fn ins(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(opcode, dst, src, off, imm)
}

const SIZES: [u8; 4] = [BPF_B, BPF_H, BPF_W, BPF_DW];

fn size(r: &mut Rng) -> u8 {
    SIZES[r.below(4) as usize]
}

fn bytes(size: u8) -> i16 {
    match size {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// Scratch registers a snippet may clobber (r2/r3 keep data/data_end,
/// r1 the context until calls clobber it).
fn scratch(r: &mut Rng) -> u8 {
    [0, 4, 5, 7, 8, 9][r.below(6) as usize]
}

/// What the generated programs' type gives them.
#[derive(Clone, Copy)]
pub struct Flavor {
    /// The program type.
    pub prog_type: ProgType,
    /// Context offsets of the 32-bit `data` and `data_end` fields, if the
    /// type has direct packet access.
    pub packet: Option<(i16, i16)>,
    /// A readable 4-byte number field of the context.
    pub field: i16,
    /// The type has `LD_ABS`/`LD_IND` and `__sk_buff.cb[]`.
    pub skb: bool,
}

impl Flavor {
    /// XDP: `xdp_md`.
    pub const XDP: Flavor = Flavor {
        prog_type: ProgType::Xdp,
        packet: Some((0, 4)),
        field: 12,
        skb: false,
    };
    /// tc: `__sk_buff` with packet pointers.
    pub const TC: Flavor = Flavor {
        prog_type: ProgType::SchedCls,
        packet: Some((76, 80)),
        field: 0,
        skb: true,
    };
    /// Socket filters: `__sk_buff` without packet pointers.
    pub const SOCKET: Flavor = Flavor {
        prog_type: ProgType::SocketFilter,
        packet: None,
        field: 0,
        skb: true,
    };
}

/// Reloads data and data_end into r2 and r3 (after calls clobbered them).
fn reload(p: &mut Vec<Insn>, f: Flavor, proven: &mut Proven) {
    if let Some((data, end)) = f.packet {
        p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 2, 6, data, 0));
        p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 3, 6, end, 0));
    }
    proven.0 = 0;
}

/// Bytes of packet the code so far proved (0 after r2/r3 are reloaded).
struct Proven(i16);

/// An offset for a `size`-byte access inside `limit` bytes, mostly; off
/// by a little sometimes.
fn offset(r: &mut Rng, limit: i16, size: u8) -> i16 {
    let room = limit - bytes(size);
    if room >= 0 && !r.one_in(6) {
        r.below(room as u64 + 1) as i16
    } else {
        (r.below(limit.max(1) as u64 + 4) as i16) - (r.one_in(8) as i16)
    }
}

/// Appends one snippet; forward jumps to the `out:` label hold `i16::MIN`
/// until `program` fixes them up.
fn snippet(r: &mut Rng, p: &mut Vec<Insn>, proven: &mut Proven, f: Flavor) {
    if r.one_in(8) {
        packet_helper(r, p, proven, f);
        return;
    }
    if r.one_in(12) {
        stack_at_variable_offset(r, p, f);
        return;
    }
    let mut pick = r.below(14);
    if f.packet.is_none() && matches!(pick, 0..=3 | 9) {
        pick = 13;
    }
    if !f.skb && pick >= 12 {
        pick = 4;
    }
    match pick {
        // Prove some bytes of the packet.
        0 | 1 => {
            let n = r.below(48) as i32;
            proven.0 = proven.0.max(n as i16);
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0));
            p.push(ins(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, n));
            let op = [BPF_JGT, BPF_JGE][r.below(2) as usize];
            p.push(ins(BPF_JMP | op | BPF_X, 4, 3, i16::MIN, 0));
        }
        // A packet access at an offset.
        2 | 3 => {
            let s = size(r);
            let off = offset(r, proven.0, s);
            if r.one_in(3) {
                p.push(ins(BPF_ST | BPF_MEM | s, 2, 0, off, r.next() as i32));
            } else {
                p.push(ins(BPF_LDX | BPF_MEM | s, scratch(r), 2, off, 0));
            }
        }
        // Arithmetic.
        4 | 5 => {
            let ops = [
                BPF_ADD, BPF_SUB, BPF_MUL, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH, BPF_ARSH,
                BPF_DIV, BPF_MOD, BPF_MOV,
            ];
            let op = ops[r.below(ops.len() as u64) as usize];
            let class = if r.one_in(3) { BPF_ALU } else { BPF_ALU64 };
            let dst = scratch(r);
            let imm = match op {
                BPF_LSH | BPF_RSH | BPF_ARSH => {
                    r.below(if class == BPF_ALU { 32 } else { 64 }) as i32
                }
                BPF_DIV | BPF_MOD => 1 + r.below(100) as i32,
                _ => (r.next() as i32) >> r.below(31),
            };
            // Keep the destination initialised: a mov first, sometimes.
            if r.one_in(2) {
                p.push(ins(
                    BPF_ALU64 | BPF_MOV | BPF_K,
                    dst,
                    0,
                    0,
                    r.below(64) as i32,
                ));
            }
            if r.one_in(3) {
                p.push(ins(class | op | BPF_X, dst, scratch(r), 0, 0));
            } else {
                p.push(ins(class | op | BPF_K, dst, 0, 0, imm));
            }
        }
        // The stack.
        6 => {
            let s = size(r);
            let slot = -(8 * (1 + r.below(8) as i16));
            let off = slot + r.below(8) as i16 / bytes(s) * bytes(s);
            match r.below(3) {
                0 => p.push(ins(BPF_ST | BPF_MEM | s, 10, 0, off, r.next() as i32)),
                1 => p.push(ins(BPF_STX | BPF_MEM | s, 10, scratch(r), off, 0)),
                _ => p.push(ins(BPF_LDX | BPF_MEM | s, scratch(r), 10, off, 0)),
            }
        }
        // A map value, at a constant or bounded variable offset.
        7 | 8 => {
            p.push(ins(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, r.below(4) as i32));
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
            p.push(ins(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4));
            let map = r.below(2);
            let value_size = if map == 0 { 16 } else { 32 };
            p.extend_from_slice(&Insn::lddw(1, BPF_PSEUDO_MAP_IDX, map));
            p.push(ins(BPF_JMP | BPF_CALL, 0, 0, 0, 1));
            // r2/r3 are gone: reload them from the context kept in r6? No:
            // jump to out when NULL, and use r0 only.
            if !r.one_in(6) {
                p.push(ins(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, i16::MIN, 0));
            }
            let mut limit = value_size;
            if r.one_in(2) {
                let mask = [3, 7, 15, 31][r.below(4) as usize];
                p.push(ins(BPF_LDX | BPF_MEM | BPF_B, 5, 0, 0, 0));
                p.push(ins(BPF_ALU64 | BPF_AND | BPF_K, 5, 0, 0, mask));
                p.push(ins(BPF_ALU64 | BPF_ADD | BPF_X, 0, 5, 0, 0));
                limit -= mask as i16;
            }
            let s = size(r);
            let off = offset(r, limit, s);
            if r.one_in(2) {
                p.push(ins(BPF_STX | BPF_MEM | s, 0, 7, off, 0));
            } else {
                p.push(ins(BPF_LDX | BPF_MEM | s, 7, 0, off, 0));
            }
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0));
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 0));
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
            // Reload data and data_end (the call clobbered them).
            reload(p, f, proven);
        }
        // A variable packet offset, checked or not.
        9 => {
            let mask = [7, 15, 63, 255][r.below(4) as usize];
            p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 5, 6, f.field, 0));
            p.push(ins(BPF_ALU64 | BPF_AND | BPF_K, 5, 0, 0, mask));
            p.push(ins(BPF_ALU64 | BPF_ADD | BPF_X, 5, 2, 0, 0));
            if !r.one_in(4) {
                p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 4, 5, 0, 0));
                p.push(ins(
                    BPF_ALU64 | BPF_ADD | BPF_K,
                    4,
                    0,
                    0,
                    r.below(10) as i32,
                ));
                p.push(ins(BPF_JMP | BPF_JGT | BPF_X, 4, 3, i16::MIN, 0));
            }
            p.push(ins(BPF_LDX | BPF_MEM | size(r), 7, 5, r.below(8) as i16, 0));
        }
        // A comparison that skips the next instruction.
        10 => {
            let ops = [
                BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSGE, BPF_JSLT,
                BPF_JSLE, BPF_JSET,
            ];
            let class = if r.one_in(3) { BPF_JMP32 } else { BPF_JMP };
            let op = ops[r.below(ops.len() as u64) as usize];
            p.push(ins(
                class | op | BPF_K,
                scratch(r),
                0,
                1,
                (r.next() as i32) >> r.below(31),
            ));
            p.push(ins(
                BPF_ALU64 | BPF_MOV | BPF_K,
                scratch(r),
                0,
                0,
                r.below(64) as i32,
            ));
        }
        // A helper that returns a number.
        _ => {
            p.push(ins(
                BPF_JMP | BPF_CALL,
                0,
                0,
                0,
                [5, 7, 8][r.below(3) as usize],
            ));
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0));
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 0));
            p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 2, 6, 0, 0));
            p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 3, 6, 4, 0));
            proven.0 = 0;
        }
    }
}

/// A random program: the context kept in r6, data and data_end in r2 and
/// r3, snippets, then `exit`, and an `out:` exit every forward jump with
/// an unset offset goes to. Sometimes one instruction is then mutated.
pub fn program(r: &mut Rng, f: Flavor) -> Vec<Insn> {
    let mut p = Vec::new();
    p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0));
    let mut proven = Proven(0);
    reload(&mut p, f, &mut proven);
    for r0 in [0u8, 4, 5, 7, 8, 9] {
        if !r.one_in(8) {
            p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, r0, 0, 0, 0));
        }
    }
    // Always one jump to `out:` first, so that it is reachable: a packet
    // proof, or a test of a context field.
    let first = r.below(48) as i32;
    if f.packet.is_some() {
        proven.0 = first as i16;
        p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0));
        p.push(ins(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, first));
        p.push(ins(BPF_JMP | BPF_JGT | BPF_X, 4, 3, i16::MIN, 0));
    } else {
        p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 9, 6, f.field, 0));
        p.push(ins(BPF_JMP | BPF_JLT | BPF_K, 9, 0, i16::MIN, first));
    }
    for _ in 0..1 + r.below(10) {
        snippet(r, &mut p, &mut proven, f);
    }
    if r.one_in(8) {
        p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 0, scratch(r), 0, 0));
    } else {
        p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 2));
    }
    p.push(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    let out = p.len();
    p.push(ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
    p.push(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (pc, i) in p.iter_mut().enumerate() {
        if i.off == i16::MIN && matches!(i.opcode & 7, BPF_JMP | BPF_JMP32) {
            i.off = (out - pc - 1) as i16;
        }
    }
    if r.one_in(4) {
        let at = r.below(out as u64) as usize;
        if !p[at].is_lddw() && (at == 0 || !p[at - 1].is_lddw()) {
            match r.below(4) {
                0 => p[at].off = p[at].off.wrapping_add(r.below(9) as i16 - 4),
                1 => p[at].imm = p[at].imm.wrapping_add(r.below(9) as i32 - 4),
                2 => p[at].src = r.below(11) as u8,
                _ => p[at].dst = r.below(10) as u8,
            }
        }
    }
    p
}

/// The maps generated programs use, and runs of what the verifier accepts.
pub struct Harness {
    maps: [Shared<Map>; 2],
    descs: [MapDesc; 2],
    platform: PlatformRef,
    stack: Stack,
    /// Runs compared between compiled code and the interpreter.
    pub compared: usize,
}

/// What the harness did with one program.
pub enum Outcome {
    /// The loader refused it before the verifier (malformed).
    Malformed,
    /// The verifier rejected it.
    Rejected(verifier::VerifyError),
    /// Accepted, and it ran this many times without tripping a check.
    Ran(usize),
}

impl Harness {
    /// Map 0: a hash map (4-byte keys, 16-byte values) holding keys 0 and
    /// 1; map 1: an array of one 32-byte value.
    pub fn new(platform: PlatformRef) -> Harness {
        let make =
            |attr: MapAttr, id| Shared::try_new(Map::create(platform, &attr, id).unwrap()).unwrap();
        let hash = make(MapAttr::new(MapType::Hash, 4, 16, 8), 1);
        let array = make(MapAttr::new(MapType::Array, 4, 32, 1), 2);
        for k in 0..2u32 {
            hash.update(&k.to_ne_bytes(), &[0x5a; 16], 0).unwrap();
        }
        let descs = [MapDesc::of(hash.attr()), MapDesc::of(array.attr())];
        Harness {
            maps: [hash, array],
            descs,
            platform,
            stack: Stack::new(),
            compared: 0,
        }
    }

    /// Verifies `insns` as `f`'s type; if accepted, runs them `runs` times on
    /// random packets in the checking interpreter and panics, showing the
    /// program, if a run trips a check.
    pub fn check(&mut self, insns: &[Insn], f: Flavor, rng: &mut Rng, runs: usize) -> Outcome {
        let Ok(prog) = LoadedProgram::load(
            self.platform,
            1,
            f.prog_type,
            insns,
            ProgramMaps::from_list(self.maps.to_vec()),
            LoadOptions::default().budget(200_000),
        ) else {
            return Outcome::Malformed;
        };
        let subject = Subject {
            prog_type: f.prog_type,
            attach: Default::default(),
            gpl: true,
            maps: &self.descs,
            map_of_lddw: &|_, imm| usize::try_from(imm).ok().filter(|&i| i < 2),
            // Either kind of caller: exposing addresses must stay sound.
            allow_ptr_leaks: rng.below(2) == 0,
            exception_cb: None,
            obj_type: &|_| None,
            obj_btf: &[],
        };
        let mut log = String::new();
        if let Err(e) = verifier::verify(insns, &subject, &mut log, 1) {
            return Outcome::Rejected(e);
        }
        // Compiled too, where the platform has executable memory and the
        // program cannot expose addresses (the compiled and interpreted
        // programs' maps and stacks are at the same addresses, but a
        // context's or packet's differ between runs).
        // Clocks and random numbers differ between any two runs.
        let varying = insns.iter().any(|i| {
            i.opcode == BPF_JMP | BPF_CALL && i.src == 0 && [5, 7, 118, 125, 160].contains(&i.imm)
        });
        let compiled = (!subject.allow_ptr_leaks && !varying)
            .then(|| self.compiled(insns, f))
            .flatten();
        for _ in 0..runs {
            let len = rng.below(80) as usize;
            let packet: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let interpreted = self.run(&prog, f, &packet).unwrap_or_else(|e| {
                panic!(
                    "the verifier accepted a program that fails at run time ({e}) on {len} bytes:\n{insns:?}\n{log}"
                )
            });
            if let Some(compiled) = &compiled {
                let native = self.run(compiled, f, &packet);
                assert_eq!(
                    native.as_ref(),
                    Ok(&interpreted),
                    "compiled and interpreted runs differ on {len} bytes:\n{insns:?}"
                );
                self.compared += 1;
            }
        }
        Outcome::Ran(runs)
    }

    /// The program verified and compiled, when the platform can.
    fn compiled(&self, insns: &[Insn], f: Flavor) -> Option<LoadedProgram> {
        let (prog, _) = LoadedProgram::admit(
            self.platform,
            1,
            f.prog_type,
            insns,
            ProgramMaps::from_list(self.maps.to_vec()),
            LoadOptions::default(),
            Admission {
                gpl: true,
                ..Default::default()
            },
        )
        .ok()?;
        prog.program().native_len().is_some().then_some(prog)
    }

    /// One run on `packet` from the maps' initial contents: r0, the frame
    /// after, and the maps' contents after.
    fn run(
        &mut self,
        prog: &LoadedProgram,
        f: Flavor,
        packet: &[u8],
    ) -> Result<RunResult, ebpf_core::RunError> {
        self.reset_maps();
        let mut input = f.prog_type.test_input(packet);
        let mut frame = TestFrame::new(packet, 0).unwrap();
        let r0 = {
            let mut mem = MemoryMap::new();
            let args = input.args(&mut mem, &mut frame).unwrap();
            prog.run(&mut self.stack, &mem, args)?
        };
        let frame = input.frame_after(&mut frame).to_vec();
        Ok(RunResult {
            r0,
            frame,
            maps: self.dump_maps(),
        })
    }

    fn reset_maps(&self) {
        let [hash, array] = &self.maps;
        let mut keys = Vec::new();
        let mut key = [0u8; 4];
        let mut prev: Option<[u8; 4]> = None;
        while hash
            .get_next_key(prev.as_ref().map(|k| &k[..]), &mut key)
            .is_ok()
        {
            keys.push(key);
            prev = Some(key);
        }
        for k in keys {
            hash.delete(&k).unwrap();
        }
        for k in 0..2u32 {
            hash.update(&k.to_ne_bytes(), &[0x5a; 16], 0).unwrap();
        }
        array.update(&0u32.to_ne_bytes(), &[0; 32], 0).unwrap();
    }

    fn dump_maps(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let [hash, array] = &self.maps;
        let mut out = Vec::new();
        let mut key = [0u8; 4];
        let mut prev: Option<[u8; 4]> = None;
        while hash
            .get_next_key(prev.as_ref().map(|k| &k[..]), &mut key)
            .is_ok()
        {
            let mut value = vec![0u8; 16];
            hash.lookup(&key, &mut value, 0).unwrap();
            out.push((key.to_vec(), value));
            prev = Some(key);
        }
        out.sort();
        let mut value = vec![0u8; 32];
        array.lookup(&0u32.to_ne_bytes(), &mut value, 0).unwrap();
        out.push((vec![], value));
        out
    }
}

/// What one run left behind.
#[derive(Debug, PartialEq, Eq)]
pub struct RunResult {
    r0: u64,
    frame: Vec<u8>,
    maps: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A call of one of the type's packet helpers: offsets and sizes near the
/// packet's, a buffer on the stack, flags mostly valid; packet pointers
/// reloaded afterwards, mostly (a helper may have moved the packet).
fn packet_helper(r: &mut Rng, p: &mut Vec<Insn>, proven: &mut Proven, f: Flavor) {
    let ids: &[i32] = match (f.packet, f.skb) {
        (None, _) => &[26, 68],
        (Some(_), true) => &[
            26, 68, 9, 10, 11, 17, 18, 19, 28, 34, 40, 41, 48, 135, 163, 32, 38, 39, 43,
        ],
        (Some(_), false) => &[28, 163, 188, 189, 190, 44, 54, 65],
    };
    let id = ids[r.below(ids.len() as u64) as usize];
    let mov = |dst: u8, imm: i32| ins(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
    let stack = |dst: u8, off: i32| {
        [
            ins(BPF_ALU64 | BPF_MOV | BPF_X, dst, 10, 0, 0),
            ins(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, off),
        ]
    };
    // A 16-byte buffer at r10-16, written.
    p.push(ins(
        BPF_ST | BPF_MEM | BPF_DW,
        10,
        0,
        -16,
        r.below(1 << 20) as i32,
    ));
    p.push(ins(
        BPF_ST | BPF_MEM | BPF_DW,
        10,
        0,
        -8,
        r.below(1 << 20) as i32,
    ));
    let len = 1 + r.below(16) as i32;
    let off = r.below(90) as i32 - r.one_in(10) as i32;
    p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0));
    match id {
        // (ctx, offset, buffer, len[, flags or header])
        26 | 68 | 9 | 189 | 190 => {
            p.push(mov(2, off));
            p.extend_from_slice(&stack(3, -16));
            p.push(mov(4, len));
            p.push(mov(5, r.below(3) as i32));
        }
        // (ctx, offset, from, to, flags)
        10 | 11 => {
            p.push(mov(2, off & !1));
            p.push(mov(3, r.next() as u16 as i32));
            p.push(mov(4, r.next() as u16 as i32));
            p.push(mov(5, [0, 2, 4, 16 | 4, 32 | 2][r.below(5) as usize]));
        }
        // (from, from_size, to, to_size, seed)
        28 => {
            p.extend_from_slice(&stack(1, -16));
            p.push(mov(2, 4 * r.below(3) as i32));
            p.extend_from_slice(&stack(3, -8));
            p.push(mov(4, 4 * r.below(3) as i32));
            p.push(mov(5, r.next() as i32));
        }
        // (ctx, ifindex, &mtu, len_diff, flags)
        163 => {
            p.push(mov(2, r.below(3) as i32));
            p.extend_from_slice(&stack(3, -16));
            p.push(mov(4, r.below(200) as i32 - 100));
            p.push(mov(5, r.below(2) as i32));
        }
        // (ctx, a small signed change or a length, flags)
        44 | 54 | 65 | 38 | 39 | 43 => {
            p.push(mov(2, r.below(140) as i32 - 70));
            p.push(mov(3, r.one_in(8) as i32));
        }
        // (ctx, number, number)
        _ => {
            p.push(mov(2, r.next() as i32));
            p.push(mov(3, r.below(4096) as i32));
        }
    }
    p.push(ins(BPF_JMP | BPF_CALL, 0, 0, 0, id));
    p.push(mov(0, 0));
    p.push(mov(4, 0));
    p.push(mov(5, 0));
    if r.one_in(6) {
        // The stale pointers stay in r2 and r3.
        proven.0 = 0;
        return;
    }
    reload(p, f, proven);
}

/// A stack access at a variable offset: a context field masked, added to a
/// frame pointer; the range mostly inside the frame, sometimes past it.
fn stack_at_variable_offset(r: &mut Rng, p: &mut Vec<Insn>, f: Flavor) {
    let mask = [3, 7, 15, 63, 127][r.below(5) as usize];
    let base = -(8 * (1 + r.below(24) as i32));
    let s = size(r);
    p.push(ins(BPF_LDX | BPF_MEM | BPF_W, 5, 6, f.field, 0));
    p.push(ins(BPF_ALU64 | BPF_AND | BPF_K, 5, 0, 0, mask));
    p.push(ins(BPF_ALU64 | BPF_MOV | BPF_X, 4, 10, 0, 0));
    p.push(ins(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, base));
    p.push(ins(BPF_ALU64 | BPF_ADD | BPF_X, 4, 5, 0, 0));
    if r.one_in(2) {
        p.push(ins(BPF_ST | BPF_MEM | s, 4, 0, 0, r.below(256) as i32));
    } else {
        p.push(ins(BPF_LDX | BPF_MEM | s, 7, 4, 0, 0));
    }
}
