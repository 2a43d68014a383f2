//! Text to instructions.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::{ALU_OPS, ATOMIC_OPS, JMP_OPS, LDDW_PSEUDOS, SIZES};
use crate::insn::Insn;
use crate::opcode::*;

/// An assembly error, with the 1-based line it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

type Res<T> = Result<T, String>;

/// Assembles `source` into instruction slots.
pub fn assemble(source: &str) -> Result<Vec<Insn>, AsmError> {
    // Pass 1: split lines, collect labels with their slot index.
    let mut lines = Vec::new();
    let mut labels = BTreeMap::new();
    let mut slot = 0usize;
    for (index, raw) in source.lines().enumerate() {
        let line = index + 1;
        let mut text = strip_comment(raw).trim();
        while let Some((label, rest)) = split_label(text) {
            if labels.insert(label.to_string(), slot).is_some() {
                return Err(AsmError {
                    line,
                    message: format!("label '{label}' defined twice"),
                });
            }
            text = rest.trim();
        }
        if text.is_empty() {
            continue;
        }
        let (mnemonic, operands) = split_mnemonic(text);
        slot += if mnemonic == "lddw" { 2 } else { 1 };
        lines.push((line, mnemonic, operands));
    }
    // `exit` as a jump target (conformance suites' spelling): the
    // program's closing `exit`, unless a label has that name.
    let final_exit = match lines.last() {
        Some((_, m, _)) if m == "exit" => Some(slot - 1),
        _ => None,
    };
    // Pass 2: encode.
    let mut out = Vec::with_capacity(slot);
    for (line, mnemonic, operands) in lines {
        let ctx = Ctx {
            labels: &labels,
            final_exit,
            pc: out.len(),
        };
        let insns =
            encode(&ctx, mnemonic, &operands).map_err(|message| AsmError { line, message })?;
        out.extend(insns);
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let mut end = line.len();
    for pat in ["#", ";", "//"] {
        if let Some(i) = line.find(pat) {
            end = end.min(i);
        }
    }
    &line[..end]
}

fn split_label(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let label = text[..colon].trim();
    is_identifier(label).then(|| (label, &text[colon + 1..]))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Splits `lock add [..], %r1` into (`lock add`, operands) and other lines
/// into the first word and the comma-separated operands (commas inside
/// brackets or parentheses do not split).
fn split_mnemonic(text: &str) -> (String, Vec<String>) {
    let mut words = text.splitn(2, char::is_whitespace);
    let mut mnemonic = words.next().unwrap_or("").to_ascii_lowercase();
    let mut rest = words.next().unwrap_or("").trim();
    if mnemonic == "lock" {
        let mut w = rest.splitn(2, char::is_whitespace);
        let mut op = w.next().unwrap_or("").to_ascii_lowercase();
        rest = w.next().unwrap_or("").trim();
        if op == "fetch" {
            // `lock fetch add` (conformance suites) = `lock fetch_add`.
            let mut w = rest.splitn(2, char::is_whitespace);
            op = format!("fetch_{}", w.next().unwrap_or("").to_ascii_lowercase());
            rest = w.next().unwrap_or("").trim();
        }
        mnemonic = format!("lock {op}");
    }
    let mut operands = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in rest.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            operands.push(current.trim().to_string());
            current.clear();
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() || !operands.is_empty() {
        operands.push(current.trim().to_string());
    }
    (mnemonic, operands)
}

struct Ctx<'a> {
    labels: &'a BTreeMap<String, usize>,
    /// Slot of the program's last instruction when it is `exit`.
    final_exit: Option<usize>,
    pc: usize,
}

impl Ctx<'_> {
    /// A jump target: `+N`/`-N` relative, or a label.
    fn target(&self, s: &str, bits: u32) -> Res<i64> {
        let rel = if s.starts_with('+') || s.starts_with('-') {
            parse_int(s)?
        } else if let Some(&at) = self.labels.get(s) {
            at as i128 - self.pc as i128 - 1
        } else if let ("exit", Some(at)) = (s, self.final_exit) {
            at as i128 - self.pc as i128 - 1
        } else if is_identifier(s) {
            return Err(format!("unknown label '{s}'"));
        } else {
            return Err(format!("expected +offset, -offset or a label, found '{s}'"));
        };
        let max = 1i128 << (bits - 1);
        if rel < -max || rel >= max {
            return Err(format!("jump offset {rel} does not fit in {bits} bits"));
        }
        Ok(rel as i64)
    }
}

fn parse_int(s: &str) -> Res<i128> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16)
    } else {
        body.parse::<i128>()
    }
    .map_err(|_| format!("invalid number '{s}'"))?;
    Ok(if neg { -value } else { value })
}

/// A 32-bit immediate: any value of i32 or u32.
fn imm32(s: &str) -> Res<i32> {
    let v = parse_int(s)?;
    if v < i32::MIN as i128 || v > u32::MAX as i128 {
        return Err(format!("immediate {s} does not fit in 32 bits"));
    }
    Ok(v as i64 as u32 as i32)
}

fn imm64(s: &str) -> Res<u64> {
    let v = parse_int(s)?;
    if v < i64::MIN as i128 || v > u64::MAX as i128 {
        return Err(format!("immediate {s} does not fit in 64 bits"));
    }
    Ok(v as u64)
}

fn small(s: &str, max: i128) -> Res<i128> {
    let v = parse_int(s)?;
    if !(0..=max).contains(&v) {
        return Err(format!("{s} is out of range 0..={max}"));
    }
    Ok(v)
}

fn register(s: &str) -> Res<u8> {
    let t = s.trim();
    let t = t.strip_prefix('%').unwrap_or(t);
    t.strip_prefix('r')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| *n <= 10)
        .ok_or_else(|| format!("expected a register %r0..%r10, found '{s}'"))
}

fn is_register(s: &str) -> bool {
    register(s).is_ok()
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn memory(s: &str) -> Res<(u8, i16)> {
    let inner = s
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("expected a memory operand [%rN+off], found '{s}'"))?;
    let split = inner.find(['+', '-']);
    let (base, off) = match split {
        Some(i) => (&inner[..i], parse_int(&inner[i..].replace(' ', ""))?),
        None => (inner, 0),
    };
    let off = i16::try_from(off).map_err(|_| format!("offset {off} does not fit in 16 bits"))?;
    Ok((register(base)?, off))
}

fn arity(ops: &[String], n: usize) -> Res<()> {
    if ops.len() != n {
        return Err(format!("expected {n} operand(s), found {}", ops.len()));
    }
    Ok(())
}

fn one(insn: Insn) -> Res<Vec<Insn>> {
    Ok(alloc::vec![insn])
}

/// Splits a trailing `32` width suffix off a mnemonic.
fn width(m: &str) -> (&str, bool) {
    match m.strip_suffix("32") {
        Some(base) => (base, true),
        None => (m, false),
    }
}

fn encode(ctx: &Ctx<'_>, m: String, ops: &[String]) -> Res<Vec<Insn>> {
    let m = m.as_str();
    if let Some(atomic) = m.strip_prefix("lock ") {
        let (name, narrow) = width(atomic);
        let (_, imm) = ATOMIC_OPS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("unknown atomic operation '{atomic}'"))?;
        arity(ops, 2)?;
        let (dst, off) = memory(&ops[0])?;
        let size = if narrow { BPF_W } else { BPF_DW };
        return one(Insn::new(
            BPF_STX | BPF_ATOMIC | size,
            dst,
            register(&ops[1])?,
            off,
            *imm,
        ));
    }
    match m {
        "exit" => {
            arity(ops, 0)?;
            one(Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0))
        }
        ".insn" => {
            arity(ops, 5)?;
            let opcode = small(&ops[0], 255)? as u8;
            let dst = small(&ops[1], 15)? as u8;
            let src = small(&ops[2], 15)? as u8;
            let off = i16::try_from(parse_int(&ops[3])?).map_err(|_| "off out of range")?;
            one(Insn::new(opcode, dst, src, off, imm32(&ops[4])?))
        }
        "ja" => {
            arity(ops, 1)?;
            one(Insn::new(
                BPF_JMP | BPF_JA,
                0,
                0,
                ctx.target(&ops[0], 16)? as i16,
                0,
            ))
        }
        "gotol" | "ja32" => {
            arity(ops, 1)?;
            one(Insn::new(
                BPF_JMP32 | BPF_JA,
                0,
                0,
                0,
                ctx.target(&ops[0], 32)? as i32,
            ))
        }
        "call" => {
            arity(ops, 1)?;
            let t = ops[0].as_str();
            if let Ok(reg) = register(t) {
                // `call rN`: the callx form.
                one(Insn::new(BPF_JMP | BPF_CALL | BPF_X, reg, 0, 0, 0))
            } else if let Some(label) = t.strip_prefix("local ") {
                // `call local NAME`: a bpf-to-bpf call.
                let rel = ctx.target(label.trim(), 32)? as i32;
                one(Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel))
            } else if let Some(id) = t.strip_prefix("runtime ") {
                // `call runtime ID`: a kernel function (kfunc) by BTF id.
                one(Insn::new(
                    BPF_JMP | BPF_CALL,
                    0,
                    BPF_PSEUDO_KFUNC_CALL,
                    0,
                    imm32(id.trim())?,
                ))
            } else if t.starts_with('+') || t.starts_with('-') || is_identifier(t) {
                let rel = ctx.target(t, 32)? as i32;
                one(Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel))
            } else {
                one(Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, imm32(t)?))
            }
        }
        "callx" => {
            arity(ops, 1)?;
            one(Insn::new(
                BPF_JMP | BPF_CALL | BPF_X,
                register(&ops[0])?,
                0,
                0,
                0,
            ))
        }
        "lddw" => {
            arity(ops, 2)?;
            lddw(ctx, register(&ops[0])?, &ops[1])
        }
        _ => encode_family(ctx, m, ops),
    }
}

fn lddw(ctx: &Ctx<'_>, dst: u8, arg: &str) -> Res<Vec<Insn>> {
    if let Some(open) = arg.find('(') {
        let name = arg[..open].trim();
        let inner = arg[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("missing ')' in '{arg}'"))?;
        let args: Vec<&str> = inner.split(',').map(str::trim).collect();
        if name == "func" {
            if args.len() != 1 {
                return Err("func() takes one target".into());
            }
            let rel = ctx.target(args[0], 32)? as i32;
            return Ok(Insn::lddw(dst, BPF_PSEUDO_FUNC, rel as u32 as u64).to_vec());
        }
        let (_, src, two) = LDDW_PSEUDOS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| format!("unknown lddw source '{name}'"))?;
        if args.len() != if *two { 2 } else { 1 } {
            return Err(format!(
                "{name}() takes {} argument(s)",
                if *two { 2 } else { 1 }
            ));
        }
        let lo = imm32(args[0])? as u32 as u64;
        let hi = if *two {
            imm32(args[1])? as u32 as u64
        } else {
            0
        };
        return Ok(Insn::lddw(dst, *src, lo | (hi << 32)).to_vec());
    }
    Ok(Insn::lddw(dst, 0, imm64(arg)?).to_vec())
}

/// ALU, byte-order, jump, load and store families, whose mnemonic is a
/// stem plus suffixes.
fn encode_family(ctx: &Ctx<'_>, m: &str, ops: &[String]) -> Res<Vec<Insn>> {
    let (stem, narrow) = width(m);
    let alu_class = if narrow { BPF_ALU } else { BPF_ALU64 };
    if let Some((_, op, off)) = ALU_OPS.iter().find(|(n, _, _)| *n == stem) {
        arity(ops, 2)?;
        let dst = register(&ops[0])?;
        return if is_register(&ops[1]) {
            one(Insn::new(
                alu_class | BPF_X | op,
                dst,
                register(&ops[1])?,
                *off,
                0,
            ))
        } else {
            one(Insn::new(
                alu_class | BPF_K | op,
                dst,
                0,
                *off,
                imm32(&ops[1])?,
            ))
        };
    }
    if stem == "neg" {
        arity(ops, 1)?;
        return one(Insn::new(alu_class | BPF_NEG, register(&ops[0])?, 0, 0, 0));
    }
    // The conformance suites' spelling: `movsx<from><to>`.
    for (name, class_, from) in [
        ("movsx832", BPF_ALU, 8),
        ("movsx1632", BPF_ALU, 16),
        ("movsx864", BPF_ALU64, 8),
        ("movsx1664", BPF_ALU64, 16),
        ("movsx3264", BPF_ALU64, 32),
    ] {
        if m == name {
            arity(ops, 2)?;
            return one(Insn::new(
                class_ | BPF_X | BPF_MOV,
                register(&ops[0])?,
                register(&ops[1])?,
                from,
                0,
            ));
        }
    }
    for (prefix, class_, bits) in [
        ("movsx", BPF_ALU64, &[8, 16, 32][..]),
        ("mov32sx", BPF_ALU, &[8, 16][..]),
    ] {
        if let Some(n) = m.strip_prefix(prefix) {
            let n: i16 = n.parse().map_err(|_| format!("unknown mnemonic '{m}'"))?;
            if !bits.contains(&n) {
                return Err(format!("{prefix} takes widths {bits:?}"));
            }
            arity(ops, 2)?;
            return one(Insn::new(
                class_ | BPF_X | BPF_MOV,
                register(&ops[0])?,
                register(&ops[1])?,
                n,
                0,
            ));
        }
    }
    for (prefix, opcode) in [
        ("le", BPF_ALU | BPF_END | BPF_TO_LE),
        ("be", BPF_ALU | BPF_END | BPF_TO_BE),
        ("bswap", BPF_ALU64 | BPF_END | BPF_TO_LE),
        ("swap", BPF_ALU64 | BPF_END | BPF_TO_LE),
    ] {
        if let Some(n) = m.strip_prefix(prefix).and_then(|n| n.parse::<i32>().ok()) {
            if ![16, 32, 64].contains(&n) {
                return Err(format!("{prefix} takes widths 16, 32 or 64"));
            }
            arity(ops, 1)?;
            return one(Insn::new(opcode, register(&ops[0])?, 0, 0, n));
        }
    }
    if let Some((_, op)) = JMP_OPS.iter().find(|(n, _)| *n == stem) {
        arity(ops, 3)?;
        let class_ = if narrow { BPF_JMP32 } else { BPF_JMP };
        let dst = register(&ops[0])?;
        let off = ctx.target(&ops[2], 16)? as i16;
        return if is_register(&ops[1]) {
            one(Insn::new(
                class_ | BPF_X | op,
                dst,
                register(&ops[1])?,
                off,
                0,
            ))
        } else {
            one(Insn::new(class_ | BPF_K | op, dst, 0, off, imm32(&ops[1])?))
        };
    }
    encode_memory(m, ops)
}

fn size_of_suffix(suffix: &str) -> Option<u8> {
    SIZES.iter().find(|(n, _)| *n == suffix).map(|(_, s)| *s)
}

fn encode_memory(m: &str, ops: &[String]) -> Res<Vec<Insn>> {
    let unknown = || format!("unknown mnemonic '{m}'");
    if let Some(rest) = m.strip_prefix("ldabs") {
        let size = size_of_suffix(rest)
            .filter(|s| *s != BPF_DW)
            .ok_or_else(unknown)?;
        arity(ops, 1)?;
        return one(Insn::new(BPF_LD | BPF_ABS | size, 0, 0, 0, imm32(&ops[0])?));
    }
    if let Some(rest) = m.strip_prefix("ldind") {
        let size = size_of_suffix(rest)
            .filter(|s| *s != BPF_DW)
            .ok_or_else(unknown)?;
        arity(ops, 2)?;
        return one(Insn::new(
            BPF_LD | BPF_IND | size,
            0,
            register(&ops[0])?,
            0,
            imm32(&ops[1])?,
        ));
    }
    if let Some(rest) = m.strip_prefix("ldxs") {
        let size = size_of_suffix(rest)
            .filter(|s| *s != BPF_DW)
            .ok_or_else(unknown)?;
        arity(ops, 2)?;
        let (src, off) = memory(&ops[1])?;
        return one(Insn::new(
            BPF_LDX | BPF_MEMSX | size,
            register(&ops[0])?,
            src,
            off,
            0,
        ));
    }
    if let Some(rest) = m.strip_prefix("ldx") {
        let size = size_of_suffix(rest).ok_or_else(unknown)?;
        arity(ops, 2)?;
        let (src, off) = memory(&ops[1])?;
        return one(Insn::new(
            BPF_LDX | BPF_MEM | size,
            register(&ops[0])?,
            src,
            off,
            0,
        ));
    }
    if let Some(rest) = m.strip_prefix("stx") {
        let size = size_of_suffix(rest).ok_or_else(unknown)?;
        arity(ops, 2)?;
        let (dst, off) = memory(&ops[0])?;
        return one(Insn::new(
            BPF_STX | BPF_MEM | size,
            dst,
            register(&ops[1])?,
            off,
            0,
        ));
    }
    if let Some(rest) = m.strip_prefix("st") {
        let size = size_of_suffix(rest).ok_or_else(unknown)?;
        arity(ops, 2)?;
        let (dst, off) = memory(&ops[0])?;
        return one(Insn::new(
            BPF_ST | BPF_MEM | size,
            dst,
            0,
            off,
            imm32(&ops[1])?,
        ));
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_forwards_and_backwards_counting_lddw_slots() {
        let p = assemble("top: lddw %r1, 1\n jeq %r1, 0, top\n ja end\n mov %r0, 1\nend: exit")
            .unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(p[2].off, -3, "back to slot 0 from slot 2");
        assert_eq!(p[3].off, 1, "over one instruction to `end`");
    }

    /// The spellings of the bpf_conformance suite's assembler.
    #[test]
    fn exit_as_a_target_is_the_closing_exit_and_call_of_a_register_is_callx() {
        let p = assemble("jne %r0, 0, exit\nmov %r0, 1\nlddw %r1, 2\nexit").unwrap();
        assert_eq!(p[0].off, 3, "over mov and both lddw slots");
        let e = assemble("jne %r0, 0, exit\nmov %r0, 1").unwrap_err();
        assert!(e.message.contains("unknown label 'exit'"), "{}", e.message);
        let p = assemble("exit: ja exit\nmov %r0, 1\nexit").unwrap();
        assert_eq!(p[0].off, -1, "a label named exit wins");
        let p = assemble("call %r2\ncall r3\ncall 5\ncall local f\ncall runtime 0x2a\nf: exit")
            .unwrap();
        assert_eq!((p[3].src, p[3].imm), (BPF_PSEUDO_CALL, 1));
        assert_eq!((p[4].src, p[4].imm), (BPF_PSEUDO_KFUNC_CALL, 0x2a));
        assert_eq!((p[0].opcode, p[0].dst), (BPF_JMP | BPF_CALL | BPF_X, 2));
        assert_eq!((p[1].opcode, p[1].dst), (BPF_JMP | BPF_CALL | BPF_X, 3));
        assert_eq!((p[2].opcode, p[2].imm), (BPF_JMP | BPF_CALL, 5));
        let p = assemble("lock fetch add [%r10-8], %r1\nlock fetch_add [%r10-8], %r1").unwrap();
        assert_eq!(p[0], p[1]);
        let p = assemble(
            "movsx3264 %r0, %r1\nmovsx32 %r0, %r1\nmovsx1632 %r0, %r1\nmov32sx16 %r0, %r1",
        )
        .unwrap();
        assert_eq!((p[0], p[2]), (p[1], p[3]));
        assert_eq!(
            assemble("swap16 %r0").unwrap(),
            assemble("bswap16 %r0").unwrap()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = assemble("mov %r0, 1\nfoo %r1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("unknown mnemonic 'foo'"),
            "{}",
            e.message
        );
        let e = assemble("mov %r11, 1").unwrap_err();
        assert!(e.message.contains("register"), "{}", e.message);
        let e = assemble("ja nowhere").unwrap_err();
        assert!(
            e.message.contains("unknown label 'nowhere'"),
            "{}",
            e.message
        );
        let e = assemble("mov %r0, 0x100000000").unwrap_err();
        assert!(e.message.contains("32 bits"), "{}", e.message);
        let e = assemble("x: exit\nx: exit").unwrap_err();
        assert!(e.message.contains("defined twice"), "{}", e.message);
    }

    #[test]
    fn operands_split_outside_brackets_only() {
        let p = assemble("lddw %r1, map_value(3, 8)").unwrap();
        assert_eq!(p[0].src, BPF_PSEUDO_MAP_VALUE);
        assert_eq!((p[0].imm, p[1].imm), (3, 8));
        let p = assemble("stxdw [%r10 - 8], %r1").unwrap();
        assert_eq!((p[0].dst, p[0].src, p[0].off), (10, 1, -8));
    }
}
