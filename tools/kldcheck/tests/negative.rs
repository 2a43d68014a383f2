//! The checker passes the real ebpf.ko and fails each deliberately broken
//! copy of it, for the reason it was broken.

use std::path::PathBuf;

use kldcheck::{check, Expect};
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SymbolKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The built kld: `EBPF_KLD`, or where `make kmod-freebsd` puts it (the
/// tests do not build their inputs).
fn kld() -> Vec<u8> {
    let path = std::env::var("EBPF_KLD")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/kmod-freebsd/ebpf.ko"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build the kld first (`make kmod-freebsd`) or set EBPF_KLD",
            path.display()
        )
    })
}

fn expect() -> Expect {
    let allow = std::fs::read_to_string(root().join("kmod-freebsd/kpi.allow")).unwrap();
    Expect {
        allowed_imports: allow
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect(),
        stack_cap: 4096,
        module: "ebpf".into(),
    }
}

fn failures(bytes: &[u8]) -> Vec<String> {
    check(bytes, &expect()).failures
}

/// File offset of section `index`'s header.
fn shdr_offset(bytes: &[u8], index: usize) -> usize {
    let f = ElfFile64::<Endianness>::parse(bytes).unwrap();
    let h = f.elf_header();
    let e = f.endian();
    h.e_shoff(e) as usize + index * h.e_shentsize(e) as usize
}

fn section_index(bytes: &[u8], pred: impl Fn(&str) -> bool) -> usize {
    let f = ElfFile64::<Endianness>::parse(bytes).unwrap();
    f.sections()
        .find(|s| pred(s.name().unwrap_or("")))
        .map(|s| s.index().0)
        .expect("section")
}

fn clear_write(bytes: &mut [u8], index: usize) {
    let at = shdr_offset(bytes, index) + 8;
    let mut flags = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    flags &= !u64::from(elf::SHF_WRITE);
    bytes[at..at + 8].copy_from_slice(&flags.to_le_bytes());
}

#[test]
fn the_real_kld_passes() {
    let bytes = kld();
    let report = check(&bytes, &expect());
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report.facts.iter().any(|f| f.contains("MDT_MODULE ebpf")));
}

#[test]
fn a_gotpcrel_relocation_fails() {
    let mut bytes = kld();
    let f = ElfFile64::<Endianness>::parse(&bytes).unwrap();
    let e = f.endian();
    let rela = f
        .elf_section_table()
        .iter()
        .find(|s| s.sh_type(e) == elf::SHT_RELA && s.sh_size(e) > 0)
        .map(|s| s.sh_offset(e) as usize)
        .unwrap();
    drop(f);
    bytes[rela + 8..rela + 12].copy_from_slice(&elf::R_X86_64_GOTPCREL.to_le_bytes());
    let fails = failures(&bytes);
    assert!(
        fails.iter().any(|f| f.contains("relocation type 9")),
        "{fails:#?}"
    );
}

#[test]
fn a_read_only_cdevsw_fails() {
    let mut bytes = kld();
    let i = section_index(&bytes, |n| n.ends_with("CDEVSW"));
    clear_write(&mut bytes, i);
    let fails = failures(&bytes);
    assert!(
        fails.iter().any(|f| f.contains("is in read-only memory")),
        "{fails:#?}"
    );
}

#[test]
fn a_read_only_sysinit_set_fails() {
    let mut bytes = kld();
    let i = section_index(&bytes, |n| n == "set_sysinit_set");
    clear_write(&mut bytes, i);
    let fails = failures(&bytes);
    assert!(
        fails
            .iter()
            .any(|f| f.contains("set_sysinit_set is not writable")),
        "{fails:#?}"
    );
}

#[test]
fn an_unknown_kpi_fails() {
    let mut bytes = kld();
    let needle = b"\0arc4random\0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 10] = b'z';
    let fails = failures(&bytes);
    assert!(
        fails
            .iter()
            .any(|f| f.contains("`arc4randoz` is not an allowed KPI")),
        "{fails:#?}"
    );
}

#[test]
fn an_sse_instruction_fails() {
    let mut bytes = kld();
    let f = ElfFile64::<Endianness>::parse(&bytes).unwrap();
    let sym = f
        .symbols()
        .find(|s| s.kind() == SymbolKind::Text && s.size() >= 8)
        .unwrap();
    let sec = f.section_by_index(sym.section_index().unwrap()).unwrap();
    let (file_off, _) = sec.file_range().unwrap();
    let at = (file_off + sym.address()) as usize;
    drop(f);
    bytes[at..at + 3].copy_from_slice(&[0x0f, 0x28, 0xc1]); // movaps xmm0, xmm1
    let fails = failures(&bytes);
    assert!(
        fails.iter().any(|f| f.contains("x87/SIMD instruction")),
        "{fails:#?}"
    );
}

#[test]
fn a_second_sysinit_set_fails() {
    let mut bytes = kld();
    let set = section_index(&bytes, |n| n == "set_sysinit_set");
    let other = section_index(&bytes, |n| n.ends_with("SYSINIT") && n != "set_sysinit_set");
    let (a, b) = (shdr_offset(&bytes, set), shdr_offset(&bytes, other));
    let name = bytes[a..a + 4].to_vec();
    bytes[b..b + 4].copy_from_slice(&name);
    let fails = failures(&bytes);
    assert!(
        fails
            .iter()
            .any(|f| f.contains("2 sections named set_sysinit_set")),
        "{fails:#?}"
    );
}

#[test]
fn not_a_relocatable_object_fails() {
    let mut bytes = kld();
    bytes[16] = elf::ET_DYN as u8;
    let fails = failures(&bytes);
    assert!(
        fails.iter().any(|f| f.contains("is not ET_REL")),
        "{fails:#?}"
    );
    assert!(!failures(b"not an elf").is_empty());
}
