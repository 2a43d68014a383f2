//! Static checks of a FreeBSD amd64 kld built on Linux: what the kernel's
//! kld loader (link_elf_obj.c) requires and what our kld must declare.
//!
//! Checked: an ELF64 little-endian ET_REL for x86-64 with exactly one
//! symbol table; only the relocation types the loader accepts; undefined
//! symbols only from an allow-list of KPIs; exactly one `set_modmetadata_set`
//! and one `set_sysinit_set`, decoding to the module's intended metadata
//! (depend on kernel 14.x, module "ebpf", version 1) and sysinit
//! (SI_SUB_DRIVERS, SI_ORDER_MIDDLE, module_register_init, the module data);
//! the sysinit set and every cdevsw writable; no section both writable and
//! executable; no x87/MMX/SSE/AVX instruction; every stack frame under a cap.

use std::collections::HashMap;
use std::fmt::Write as _;

use iced_x86::{CpuidFeature, Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{
    Endianness, Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget,
    SectionIndex, SymbolKind,
};

/// Relocation types link_elf_obj.c accepts on amd64.
pub const ACCEPTED_RELOCATIONS: &[u32] = &[
    elf::R_X86_64_NONE,
    elf::R_X86_64_64,
    elf::R_X86_64_PC32,
    elf::R_X86_64_PLT32,
    elf::R_X86_64_GLOB_DAT,
    elf::R_X86_64_JUMP_SLOT,
    elf::R_X86_64_RELATIVE,
    elf::R_X86_64_32S,
    elf::R_X86_64_IRELATIVE,
];

const D_VERSION: u32 = 0x5c48_c353;
const SI_SUB_DRIVERS: u32 = 0x310_0000;
const SI_ORDER_MIDDLE: u32 = 0x100_0000;

/// What to check against.
pub struct Expect {
    /// Undefined symbols allowed.
    pub allowed_imports: Vec<String>,
    /// Largest stack frame allowed, bytes.
    pub stack_cap: u64,
    /// The module's name.
    pub module: String,
}

/// Findings.
#[derive(Debug, Default)]
pub struct Report {
    /// What was found (always printed).
    pub facts: Vec<String>,
    /// What is wrong (the check fails if any).
    pub failures: Vec<String>,
}

impl Report {
    fn fail(&mut self, s: impl Into<String>) {
        self.failures.push(s.into());
    }
    fn fact(&mut self, s: impl Into<String>) {
        self.facts.push(s.into());
    }
}

/// Where a relocated pointer field points.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Local(SectionIndex, u64),
    Import(String),
}

struct Elf<'a> {
    file: ElfFile64<'a, Endianness>,
    /// (section, offset) -> pointer target, for R_X86_64_64 relocations.
    pointers: HashMap<(SectionIndex, u64), Target>,
}

impl<'a> Elf<'a> {
    fn read_u32(&self, sec: SectionIndex, at: u64) -> Option<u32> {
        let s = self.file.section_by_index(sec).ok()?;
        let d = s.data().ok()?;
        let b = d.get(at as usize..at as usize + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    fn cstr(&self, t: &Target) -> Option<String> {
        let Target::Local(sec, at) = t else {
            return None;
        };
        let d = self.file.section_by_index(*sec).ok()?.data().ok()?;
        let rest = d.get(*at as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn ptr(&self, sec: SectionIndex, at: u64) -> Option<Target> {
        self.pointers.get(&(sec, at)).cloned()
    }

    fn ptr_at(&self, t: &Target, field: u64) -> Option<Target> {
        let Target::Local(sec, at) = t else {
            return None;
        };
        self.ptr(*sec, at + field)
    }

    fn u32_at(&self, t: &Target, field: u64) -> Option<u32> {
        let Target::Local(sec, at) = t else {
            return None;
        };
        self.read_u32(*sec, at + field)
    }

    fn writable(&self, sec: SectionIndex) -> bool {
        self.sh_flags(sec) & u64::from(elf::SHF_WRITE) != 0
    }

    fn sh_flags(&self, sec: SectionIndex) -> u64 {
        match self.file.section_by_index(sec).map(|s| s.flags()) {
            Ok(object::SectionFlags::Elf { sh_flags }) => sh_flags,
            _ => 0,
        }
    }
}

/// Runs every check on the bytes of a .ko.
pub fn check(bytes: &[u8], expect: &Expect) -> Report {
    let mut r = Report::default();
    let file = match ElfFile64::<Endianness>::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            r.fail(format!("not an ELF64 object: {e}"));
            return r;
        }
    };
    let header = file.elf_header();
    let endian = file.endian();
    if header.e_type(endian) != elf::ET_REL {
        r.fail(format!(
            "e_type {} is not ET_REL (amd64 klds are relocatable objects)",
            header.e_type(endian)
        ));
    }
    if header.e_machine(endian) != elf::EM_X86_64 {
        r.fail("e_machine is not EM_X86_64");
    }
    if !file.is_little_endian() {
        r.fail("not little-endian");
    }
    let symtabs = file
        .elf_section_table()
        .iter()
        .filter(|s| s.sh_type(endian) == elf::SHT_SYMTAB)
        .count();
    if symtabs != 1 {
        r.fail(format!(
            "{symtabs} symbol tables (the loader needs exactly one)"
        ));
    }

    // Relocations.
    let mut pointers = HashMap::new();
    let mut kinds: HashMap<u32, usize> = HashMap::new();
    for sec in file.sections() {
        for (offset, rel) in sec.relocations() {
            let RelocationFlags::Elf { r_type } = rel.flags() else {
                continue;
            };
            *kinds.entry(r_type).or_default() += 1;
            if !ACCEPTED_RELOCATIONS.contains(&r_type) {
                r.fail(format!(
                    "relocation type {r_type} at {}+{offset:#x}: the kld loader rejects it (\"unexpected relocation type\")",
                    sec.name().unwrap_or("?")
                ));
            }
            if r_type != elf::R_X86_64_64 {
                continue;
            }
            let RelocationTarget::Symbol(si) = rel.target() else {
                continue;
            };
            let Ok(sym) = file.symbol_by_index(si) else {
                continue;
            };
            let target = match sym.section_index() {
                Some(ts) => Target::Local(ts, (sym.address() as i64 + rel.addend()) as u64),
                None => Target::Import(sym.name().unwrap_or("").to_string()),
            };
            pointers.insert((sec.index(), offset), target);
        }
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    r.fact(format!("relocations by type: {kinds:?}"));
    let e = Elf { file, pointers };

    // Imports.
    let mut imports: Vec<String> = e
        .file
        .symbols()
        .filter(|s| s.is_undefined() && !s.name().unwrap_or("").is_empty())
        .map(|s| s.name().unwrap_or("").to_string())
        .collect();
    imports.sort();
    imports.dedup();
    for i in &imports {
        if !expect.allowed_imports.contains(i) {
            r.fail(format!("undefined symbol `{i}` is not an allowed KPI"));
        }
    }
    r.fact(format!(
        "{} imported symbols, all from the allow-list unless noted",
        imports.len()
    ));

    // Sections: W+X, linker sets.
    let mut sets: HashMap<String, Vec<SectionIndex>> = HashMap::new();
    for sec in e.file.sections() {
        let name = sec.name().unwrap_or("").to_string();
        let flags = e.sh_flags(sec.index());
        let (w, x) = (
            flags & u64::from(elf::SHF_WRITE) != 0,
            flags & u64::from(elf::SHF_EXECINSTR) != 0,
        );
        if w && x && sec.size() > 0 {
            r.fail(format!("section {name} is writable and executable"));
        }
        if name.starts_with("set_") {
            sets.entry(name).or_default().push(sec.index());
        }
    }
    let one = |r: &mut Report, name: &str| -> Option<SectionIndex> {
        match sets.get(name).map(Vec::as_slice) {
            Some([s]) => Some(*s),
            Some(v) => {
                r.fail(format!(
                    "{} sections named {name} (the loader uses only the first)",
                    v.len()
                ));
                None
            }
            None => {
                r.fail(format!("no {name} section"));
                None
            }
        }
    };
    if let Some(md) = one(&mut r, "set_modmetadata_set") {
        check_metadata(&e, md, expect, &mut r);
    }
    if let Some(si) = one(&mut r, "set_sysinit_set") {
        check_sysinit(&e, si, expect, &mut r);
    }
    check_cdevsw(&e, &mut r);
    check_code(&e, expect, &mut r);
    r
}

fn check_metadata(e: &Elf<'_>, set: SectionIndex, expect: &Expect, r: &mut Report) {
    let size = e.file.section_by_index(set).map(|s| s.size()).unwrap_or(0);
    let (mut depend, mut module, mut version) = (0, 0, 0);
    for i in 0..size / 8 {
        let Some(md) = e.ptr(set, i * 8) else {
            r.fail(format!(
                "set_modmetadata_set entry {i} is not a relocated pointer"
            ));
            continue;
        };
        let (Some(ver), Some(ty)) = (e.u32_at(&md, 0), e.u32_at(&md, 4)) else {
            r.fail(format!("metadata entry {i} is unreadable"));
            continue;
        };
        let data = e.ptr_at(&md, 8);
        let cval = e
            .ptr_at(&md, 16)
            .and_then(|t| e.cstr(&t))
            .unwrap_or_default();
        if ver != 1 {
            r.fail(format!("metadata entry {i}: md_version {ver}, want 1"));
        }
        match ty {
            1 => {
                depend += 1;
                let d = data.as_ref();
                let v: Vec<u32> = (0..3)
                    .filter_map(|k| d.and_then(|d| e.u32_at(d, 4 * k)))
                    .collect();
                r.fact(format!("MDT_DEPEND on {cval} {v:?}"));
                if cval != "kernel"
                    || v.len() != 3
                    || v[0] < 1_400_000
                    || v[2] != 1_499_999
                    || v[1] < v[0]
                {
                    r.fail(format!(
                        "MDT_DEPEND must be on kernel [14xxxxx, 1499999], got {cval} {v:?}"
                    ));
                }
            }
            2 => {
                module += 1;
                let name = data
                    .as_ref()
                    .and_then(|d| e.ptr_at(d, 0))
                    .and_then(|t| e.cstr(&t));
                let evhand = data.as_ref().and_then(|d| e.ptr_at(d, 8));
                r.fact(format!(
                    "MDT_MODULE {cval}: moduledata name {name:?}, evhand {}",
                    evhand.is_some()
                ));
                if cval != expect.module
                    || name.as_deref() != Some(expect.module.as_str())
                    || evhand.is_none()
                {
                    r.fail(format!(
                        "MDT_MODULE must name `{}` with an event handler",
                        expect.module
                    ));
                }
            }
            3 => {
                version += 1;
                let v = data.as_ref().and_then(|d| e.u32_at(d, 0));
                r.fact(format!("MDT_VERSION {cval} {v:?}"));
                if cval != expect.module || v != Some(1) {
                    r.fail("MDT_VERSION must be the module's, version 1");
                }
            }
            t => r.fail(format!("metadata entry {i}: unknown md_type {t}")),
        }
    }
    if (depend, module, version) != (1, 1, 1) {
        r.fail(format!(
            "want one DEPEND, MODULE and VERSION, got {depend}, {module}, {version}"
        ));
    }
}

fn check_sysinit(e: &Elf<'_>, set: SectionIndex, expect: &Expect, r: &mut Report) {
    if !e.writable(set) {
        r.fail("set_sysinit_set is not writable (the kernel links sysinits in place)");
    }
    let Some(si) = e.ptr(set, 0) else {
        r.fail("set_sysinit_set holds no relocated pointer");
        return;
    };
    if let Target::Local(sec, _) = si {
        if !e.writable(sec) {
            r.fail("the sysinit struct is not writable");
        }
    }
    let (sub, order) = (e.u32_at(&si, 0), e.u32_at(&si, 4));
    let func = e.ptr_at(&si, 16);
    let udata = e.ptr_at(&si, 24);
    let name = udata
        .as_ref()
        .and_then(|u| e.ptr_at(u, 0))
        .and_then(|t| e.cstr(&t));
    r.fact(format!(
        "SYSINIT subsystem {sub:x?} order {order:x?} func {func:?} udata name {name:?}"
    ));
    if sub != Some(SI_SUB_DRIVERS) || order != Some(SI_ORDER_MIDDLE) {
        r.fail("sysinit must be SI_SUB_DRIVERS, SI_ORDER_MIDDLE");
    }
    if func != Some(Target::Import("module_register_init".into())) {
        r.fail("sysinit must call module_register_init");
    }
    if name.as_deref() != Some(expect.module.as_str()) {
        r.fail("sysinit's udata must be the module's moduledata");
    }
}

/// Every 184-byte object that starts with D_VERSION is a cdevsw: the kernel
/// writes into it, so it must be writable.
fn check_cdevsw(e: &Elf<'_>, r: &mut Report) {
    let mut found = 0;
    for sym in e.file.symbols() {
        let (Some(sec), 184) = (sym.section_index(), sym.size()) else {
            continue;
        };
        if e.read_u32(sec, sym.address()) != Some(D_VERSION) {
            continue;
        }
        found += 1;
        if !e.writable(sec) {
            r.fail(format!(
                "cdevsw `{}` is in read-only memory",
                sym.name().unwrap_or("?")
            ));
        }
    }
    r.fact(format!("{found} cdevsw"));
    if found == 0 {
        r.fail("no cdevsw (184 bytes starting with D_VERSION_04)");
    }
}

fn is_fpu_or_simd(f: CpuidFeature) -> bool {
    let name = format!("{f:?}");
    ["FPU", "MMX", "SSE", "AVX", "X87", "F16C", "FMA", "3DNOW"]
        .iter()
        .any(|p| name.starts_with(p) || name.contains(p))
}

/// x87/SIMD instructions and stack frames, function by function.
fn check_code(e: &Elf<'_>, expect: &Expect, r: &mut Report) {
    let mut biggest = (0u64, String::new());
    let mut functions = 0;
    let mut simd = 0;
    for sym in e.file.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() == 0 {
            continue;
        }
        let Some(sec) = sym.section_index() else {
            continue;
        };
        let Ok(section) = e.file.section_by_index(sec) else {
            continue;
        };
        let Ok(data) = section.data() else { continue };
        let start = sym.address() as usize;
        let Some(code) = data.get(start..start + sym.size() as usize) else {
            continue;
        };
        functions += 1;
        let name = sym.name().unwrap_or("?").to_string();
        let mut decoder = Decoder::with_ip(64, code, start as u64, DecoderOptions::NONE);
        let mut insn = Instruction::default();
        let mut frame = 0u64;
        while decoder.can_decode() {
            decoder.decode_out(&mut insn);
            if insn.cpuid_features().iter().any(|&f| is_fpu_or_simd(f)) {
                simd += 1;
                if simd <= 5 {
                    let mut text = String::new();
                    let _ = write!(text, "{:?}", insn.mnemonic());
                    r.fail(format!(
                        "x87/SIMD instruction {text} in {name} at {:#x}",
                        insn.ip()
                    ));
                }
            }
            if insn.mnemonic() == Mnemonic::Sub
                && insn.op0_register() == Register::RSP
                && matches!(
                    insn.op1_kind(),
                    OpKind::Immediate32to64 | OpKind::Immediate8to64 | OpKind::Immediate32
                )
            {
                frame = frame.max(insn.immediate(1));
            }
        }
        // compiler_builtins' stack prober steps through pages; not a frame.
        if name.contains("__rust_probestack") {
            frame = 0;
        }
        if frame > biggest.0 {
            biggest = (frame, name.clone());
        }
        if frame > expect.stack_cap {
            r.fail(format!(
                "{name}: stack frame of {frame} bytes exceeds {}",
                expect.stack_cap
            ));
        }
    }
    if simd > 5 {
        r.fail(format!("... {simd} x87/SIMD instructions in all"));
    }
    r.fact(format!(
        "{functions} functions; largest stack frame {} bytes ({})",
        biggest.0, biggest.1
    ));
}
