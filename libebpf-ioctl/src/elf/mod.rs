//! The ELF loader: objects built by `clang -O2 -g -target bpf` against
//! libbpf's `bpf_helpers.h`. Reads programs from their `SEC()` sections,
//! BTF-defined maps in `.maps` and legacy `struct bpf_map_def` maps in
//! `maps`, global data (`.data`, `.rodata`, `.bss`) as single-element array
//! maps, and the license; links each program with the `.text` functions it
//! calls; and turns map relocations into `map_idx` references into the
//! object's map list. Errors name the section or symbol at fault.

mod btf;
mod co_re;
mod kconfig;

use std::fmt;

use ebpf_core::insn::Insn;
use ebpf_core::opcode::{
    BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
    BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
};
use ebpf_core::ProgType;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex, SymbolKind};

use btf::{Btf, Type};

use crate::client::MapSpec;

/// Map types and flags used for global data (Linux's numbers).
use ebpf_core::maps::flags::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
use ebpf_core::MapType;

/// An error reading an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

fn e<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

/// Where a map comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOrigin {
    /// `.maps` (BTF) or `maps` (legacy definition).
    Defined,
    /// A global data section; the initial value is `data`.
    GlobalData(Vec<u8>),
}

/// A map the object declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Symbol (or section) name.
    pub name: String,
    /// The map to create: its type, sizes, flags, spin lock, and the
    /// name it gets (the symbol's, cut to 15 bytes).
    pub spec: MapSpec,
    /// `LIBBPF_PIN_BY_NAME` was asked for.
    pub pin_by_name: bool,
    /// Where it comes from.
    pub origin: MapOrigin,
    /// A program array's initial contents (`.values = { [i] = &prog }`):
    /// slot and program name.
    pub initial_programs: Vec<(u32, String)>,
    /// A map-in-map's inner map definition (`__array(values, struct {...})`):
    /// the template its inner maps must match, created for the outer map
    /// and closed once it exists, as libbpf does.
    pub inner: Option<Box<MapSpec>>,
    /// A map-in-map's initial contents (`.values = { [i] = &map }`): slot
    /// and map name.
    pub initial_maps: Vec<(u32, String)>,
}

/// A program of the object, linked and relocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgDef {
    /// Function name.
    pub name: String,
    /// Section name (`xdp`, `tc`, ...).
    pub section: String,
    /// Program type, from the section name.
    pub prog_type: ProgType,
    /// Where it is meant to run (Linux's `expected_attach_type`), from the
    /// section name as libbpf sets it: the devmap and cpumap XDP ones, or
    /// 0.
    pub expected_attach_type: u32,
    /// Why the runtime cannot load it, when its section names a program
    /// type the runtime does not provide or it needs what the runtime does
    /// not have (the object's other programs still load).
    pub unsupported: Option<String>,
    /// Why it cannot load whatever its type (a kfunc or extern of the
    /// Linux kernel, an exception callback Linux would refuse).
    pub problem: Option<String>,
    /// Instructions; map references are `map_idx` into the object's maps.
    pub insns: Vec<Insn>,
    /// The first instruction of its own exception callback
    /// (`__exception_cb(cb)`), if it has one.
    pub exception_cb: Option<usize>,
    /// The object types it allocates and its maps' lists hold.
    pub obj_types: Vec<ebpf_core::abi::ObjTypeDesc>,
}

impl ProgDef {
    /// Its map references: the `lddw` instructions naming a map by index
    /// into the object's maps (`map_idx`), with their positions.
    pub fn map_references(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let lddw = BPF_LD | BPF_IMM | BPF_DW;
        self.insns.iter().enumerate().filter_map(move |(at, insn)| {
            let by_index = insn.src == BPF_PSEUDO_MAP_IDX || insn.src == BPF_PSEUDO_MAP_IDX_VALUE;
            if insn.opcode != lddw || !by_index {
                return None;
            }
            usize::try_from(insn.imm).ok().map(|map| (at, map))
        })
    }
}

/// A parsed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfObject {
    /// The license string.
    pub license: String,
    /// Maps, in the order `map_idx` references count them.
    pub maps: Vec<MapDef>,
    /// Programs.
    pub programs: Vec<ProgDef>,
}

/// The program type a section name selects, as libbpf's section names do
/// (libbpf's `section_defs`), or why the runtime does not provide it.
pub fn prog_type_for(section: &str) -> Result<ProgType, String> {
    // libbpf's `?` prefix only turns autoloading off.
    let section = section.strip_prefix('?').unwrap_or(section);
    let head = section.split('/').next().unwrap_or("");
    match head {
        "xdp" | "xdp.frags" => Ok(ProgType::Xdp),
        "tc" | "classifier" | "tcx" | "netkit" => Ok(ProgType::SchedCls),
        "generic" => Ok(ProgType::Generic),
        _ if head.starts_with("socket") => Ok(ProgType::SocketFilter),
        "action" => Ok(ProgType::SchedAct),
        "kprobe" | "kretprobe" | "uprobe" | "uretprobe" | "ksyscall" | "kretsyscall"
        | "tracepoint" | "tp" | "raw_tracepoint" | "raw_tp" | "tp_btf" | "fentry" | "fexit"
        | "fmod_ret" | "lsm" | "iter" | "struct_ops" | "perf_event" | "usdt" | "kprobe.multi"
        | "uprobe.multi" | "syscall" | "fentry.s" | "fexit.s" | "lsm.s" | "iter.s" => Err(format!(
            "{head} programs need the Linux kernel's internals: not provided by this runtime"
        )),
        _ if head.starts_with("cgroup") || head.starts_with("sk_") || head.starts_with("lwt_") => {
            Err(format!(
                "{head} programs attach to the Linux kernel's sockets, cgroups or routes: not provided by this runtime"
            ))
        }
        _ => Err(format!(
            "section `{section}` names no program type this runtime provides (xdp, tc, socket, generic)"
        )),
    }
}

/// The `expected_attach_type` libbpf gives programs of `section` where
/// this runtime distinguishes it: XDP programs for devmap and cpumap
/// entries (`xdp/devmap`, `xdp.frags/cpumap`, ...); 0 otherwise.
pub fn attach_type_for(section: &str) -> u32 {
    let section = section.strip_prefix('?').unwrap_or(section);
    let mut parts = section.split('/');
    match (parts.next(), parts.next()) {
        (Some("xdp" | "xdp.frags"), Some("devmap")) => ebpf_core::abi::ATTACH_XDP_DEVMAP,
        (Some("xdp" | "xdp.frags"), Some("cpumap")) => ebpf_core::abi::ATTACH_XDP_CPUMAP,
        _ => 0,
    }
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

struct Section {
    index: SectionIndex,
    name: String,
    data: Vec<u8>,
    /// Holds code (`SHF_EXECINSTR`).
    executable: bool,
}

/// Whether a section holds global data libbpf makes a map of: `.data`,
/// `.rodata` and `.bss`, and their `.data.*` (`SEC(".data.custom")`),
/// `.rodata.*` (including the strings clang merges into `.rodata.str1.1`)
/// and `.bss.*` relatives.
fn is_global_data(name: &str) -> bool {
    [".data", ".rodata", ".bss"]
        .iter()
        .any(|base| name == *base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.')))
}

/// `PIN_OBJECT_NS` and `PIN_GLOBAL_NS` of iproute2's `struct bpf_elf_map`.
const PIN_OBJECT_NS: u32 = 1;
const PIN_GLOBAL_NS: u32 = 2;

/// A relocation: byte offset in its section, target symbol.
struct Reloc {
    offset: u64,
    symbol_name: String,
    symbol_section: Option<SectionIndex>,
    symbol_value: u64,
    symbol_is_section: bool,
}

impl BpfObject {
    /// The program `name` and every program it can reach by tail calls
    /// through the object's declared prog_array contents (`.values = {
    /// [i] = &prog }` of a map it references), in the object's order:
    /// what must be loaded for `name` to run as written.
    pub fn programs_reached_from(&self, name: &str) -> Vec<&str> {
        let mut reached: Vec<&str> = Vec::new();
        let mut todo = vec![name];
        while let Some(next) = todo.pop() {
            let Some(prog) = self.programs.iter().find(|p| p.name == next) else {
                continue;
            };
            if reached.contains(&prog.name.as_str()) {
                continue;
            }
            reached.push(&prog.name);
            for (_, i) in prog.map_references() {
                if let Some(map) = self.maps.get(i) {
                    todo.extend(map.initial_programs.iter().map(|(_, p)| p.as_str()));
                }
            }
        }
        self.programs
            .iter()
            .map(|p| p.name.as_str())
            .filter(|p| reached.contains(p))
            .collect()
    }

    /// Parses an object file.
    pub fn parse(bytes: &[u8]) -> Result<BpfObject, ElfError> {
        let file = object::File::parse(bytes)
            .map_err(|err| ElfError(format!("not an ELF object: {err}")))?;
        if file.architecture() != object::Architecture::Bpf {
            return e(format!(
                "not a BPF object (architecture {:?})",
                file.architecture()
            ));
        }
        if !file.is_little_endian() {
            return e("big-endian BPF objects are not supported");
        }
        let sections: Vec<Section> = file
            .sections()
            .map(|s| {
                let data = s.data().map(|d| d.to_vec()).unwrap_or_default();
                Section {
                    index: s.index(),
                    name: s.name().unwrap_or("").to_string(),
                    data,
                    executable: s.kind() == object::SectionKind::Text,
                }
            })
            .collect();
        let by_name = |n: &str| sections.iter().find(|s| s.name == n);
        // No license section: an empty license, as libbpf passes it (the
        // programs then cannot call GPL-only helpers).
        let license = match by_name("license") {
            Some(s) => {
                let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
                String::from_utf8_lossy(&s.data[..end]).into_owned()
            }
            None => String::new(),
        };
        let btf = match by_name(".BTF") {
            Some(s) => Some(Btf::parse(&s.data).map_err(ElfError)?),
            None => None,
        };

        // Maps: (section index, offset in section) -> map index.
        let mut maps = Vec::new();
        let mut map_at: Vec<(SectionIndex, u64, usize)> = Vec::new();
        if let Some(sec) = by_name(".maps") {
            let btf = btf
                .as_ref()
                .ok_or_else(|| ElfError("`.maps` needs BTF: compile with -g".into()))?;
            let vars = btf
                .datasec(".maps")
                .ok_or_else(|| ElfError(".BTF does not describe `.maps`".into()))?;
            let relocs = file
                .section_by_index(sec.index)
                .map(|s| s.relocations().collect::<Vec<_>>())
                .unwrap_or_default();
            for &(var, _, _) in vars {
                let (mut def, values_at) =
                    btf_map(btf, var).map_err(|m| ElfError(format!(".maps: {m}")))?;
                // clang leaves DATASEC offsets to the loader: take the
                // symbol's place (as libbpf does).
                let sym = file
                    .symbols()
                    .find(|s| s.section_index() == Some(sec.index) && s.name() == Ok(&def.name))
                    .ok_or_else(|| ElfError(format!(".maps: no symbol for map `{}`", def.name)))?;
                let (offset, size) = (sym.address(), sym.size());
                if let Some(values_at) = values_at {
                    let start = offset + values_at as u64;
                    let end = offset + size;
                    for (at, r) in relocs.iter().filter(|(at, _)| (start..end).contains(at)) {
                        let slot = ((at - start) / 8) as u32;
                        let target = match r.target() {
                            RelocationTarget::Symbol(si) => file.symbol_by_index(si).ok(),
                            _ => None,
                        };
                        if slot >= def.spec.max_entries {
                            return e(format!(
                                ".maps: `{}` slot {slot} is beyond max_entries",
                                def.name
                            ));
                        }
                        let name = target.as_ref().and_then(|s| s.name().ok()).unwrap_or("");
                        let name = name.to_string();
                        let kind = target.as_ref().map(|s| s.kind());
                        let in_maps =
                            target.as_ref().and_then(|s| s.section_index()) == Some(sec.index);
                        match kind {
                            Some(SymbolKind::Text) if def.inner.is_none() => {
                                def.initial_programs.push((slot, name))
                            }
                            // A map of `.maps`: which one is known once
                            // all are read.
                            Some(SymbolKind::Data) if def.inner.is_some() && in_maps => {
                                def.initial_maps.push((slot, name))
                            }
                            _ => {
                                let want = if def.inner.is_some() {
                                    "a map"
                                } else {
                                    "a program"
                                };
                                return e(format!(
                                    ".maps: `{}` slot {slot}: initial value is not {want}",
                                    def.name
                                ));
                            }
                        }
                    }
                }
                map_at.push((sec.index, offset, maps.len()));
                maps.push(def);
            }
            for def in &maps {
                for (slot, inner) in &def.initial_maps {
                    if !maps.iter().any(|m| &m.name == inner && m.inner.is_none()) {
                        return e(format!(
                            ".maps: `{}` slot {slot}: `{inner}` is not a map of the object \
                             that can be an inner map",
                            def.name
                        ));
                    }
                }
            }
        }
        if let Some(sec) = by_name("maps") {
            // iproute2's maps of maps: an outer map names its template by
            // `inner_id`; maps with that `id` go into its `inner_idx` slot.
            let mut legacy_ids = Vec::new();
            for sym in file
                .symbols()
                .filter(|s| s.section_index() == Some(sec.index))
            {
                let name = sym.name().unwrap_or("").to_string();
                let at = sym.address() as usize;
                let field = |i: usize| u32_at(&sec.data, at.checked_add(4 * i)?);
                let (Some(t), Some(k), Some(v), Some(m)) = (field(0), field(1), field(2), field(3))
                else {
                    return e(format!("maps: definition of `{name}` is truncated"));
                };
                // iproute2's and Cilium's `struct bpf_elf_map` go on with
                // id, pinning, inner_id and inner_idx (libbpf's `struct
                // bpf_map_def` stops after the flags).
                let has = |i: usize| sym.size() >= 4 * (i as u64 + 1);
                let legacy = |i: usize| if has(i) { field(i).unwrap_or(0) } else { 0 };
                let pinning = legacy(6);
                // inner_id and inner_idx: the 36-byte struct of iproute2
                // 4.11 and later.
                let inner = if has(8) {
                    (legacy(7), legacy(8))
                } else {
                    (0, 0)
                };
                if matches!(t, 12 | 13) && !has(8) {
                    return e(format!(
                        "maps: `{name}`: a map of maps needs its inner map: a {}-byte definition \
                         has no inner_id (iproute2's 36-byte `struct bpf_elf_map` does; or \
                         define it in `.maps` with `__array(values, ...)`)",
                        sym.size()
                    ));
                }
                legacy_ids.push((legacy(5), inner.0, inner.1));
                map_at.push((sec.index, at as u64, maps.len()));
                maps.push(MapDef {
                    spec: MapSpec {
                        map_type: t,
                        key_size: k,
                        value_size: v,
                        max_entries: m,
                        flags: field(4).unwrap_or(0),
                        ..MapSpec::named(&name)
                    },
                    name,
                    pin_by_name: matches!(pinning, PIN_OBJECT_NS | PIN_GLOBAL_NS),
                    origin: MapOrigin::Defined,
                    initial_programs: Vec::new(),
                    inner: None,
                    initial_maps: Vec::new(),
                });
            }
            let first = maps.len() - legacy_ids.len();
            for (i, &(_, inner_id, _)) in legacy_ids.iter().enumerate() {
                let outer = &maps[first + i];
                if !matches!(outer.spec.map_type, 12 | 13) {
                    continue;
                }
                if inner_id == 0 {
                    return e(format!(
                        "maps: `{}`: a map of maps needs `inner_id`, the id of its inner map",
                        outer.name
                    ));
                }
                let mut template = None;
                let mut slots = Vec::new();
                for (j, &(id, its_inner_id, idx)) in legacy_ids.iter().enumerate() {
                    if id != inner_id || its_inner_id != 0 {
                        continue;
                    }
                    let inner = &maps[first + j];
                    template.get_or_insert_with(|| inner.spec.clone());
                    if idx >= outer.spec.max_entries {
                        return e(format!(
                            "maps: `{}`: slot {idx} for `{}` is beyond max_entries",
                            outer.name, inner.name
                        ));
                    }
                    slots.push((idx, inner.name.clone()));
                }
                let Some(template) = template else {
                    return e(format!(
                        "maps: `{}`: no map has id {inner_id}, its inner_id",
                        outer.name
                    ));
                };
                let outer = &mut maps[first + i];
                outer.inner = Some(Box::new(template));
                outer.initial_maps = slots;
            }
        }
        for sec in sections.iter().filter(|s| is_global_data(&s.name)) {
            let data_name = sec.name.as_str();
            let size = file
                .section_by_index(sec.index)
                .map(|s| s.size())
                .unwrap_or(sec.data.len() as u64);
            if size == 0 {
                continue;
            }
            // One map value holds the section: refuse what no map can hold
            // before allocating it (a NOBITS section may claim any size).
            let max = ebpf_core::maps::MAX_VALUE_SIZE;
            if size > max as u64 {
                return e(format!(
                    "{data_name}: {size} bytes, over the {max} bytes a map value may hold"
                ));
            }
            let mut flags = BPF_F_MMAPABLE;
            if data_name.starts_with(".rodata") {
                flags |= BPF_F_RDONLY_PROG;
            }
            // Locks and lists of objects in global data (`private(A)`
            // sections): the runtime's to keep, so the section is not
            // mapped into the process (as libbpf leaves hidden sections).
            let fields = match &btf {
                Some(b) => b
                    .datasec_graph_fields(data_name, &|var| {
                        file.symbols()
                            .find(|s| s.name() == Ok(var) && s.section_index() == Some(sec.index))
                            .map(|s| s.address() as u32)
                    })
                    .map_err(|e| ElfError(format!("{data_name}: {e}")))?,
                None => Vec::new(),
            };
            let locks: Vec<u32> = fields
                .iter()
                .filter(|f| f.kind == ebpf_core::abi::FIELD_SPIN_LOCK)
                .map(|f| f.offset)
                .collect();
            let spin_lock = (locks.len() == 1).then(|| locks[0]);
            if spin_lock.is_some() || fields.iter().any(|f| runtime_kept(f.kind)) {
                flags &= !BPF_F_MMAPABLE;
            }
            let value_fields = if fields.iter().any(|f| runtime_kept(f.kind)) {
                fields
            } else {
                Vec::new()
            };
            let mut init = sec.data.clone();
            init.resize(size as usize, 0);
            map_at.push((sec.index, u64::MAX, maps.len()));
            maps.push(MapDef {
                name: data_name.to_string(),
                spec: MapSpec {
                    map_type: MapType::Array as u32,
                    key_size: 4,
                    value_size: size as u32,
                    max_entries: 1,
                    flags,
                    spin_lock_offset: spin_lock,
                    value_fields,
                    ..MapSpec::named(data_name)
                },
                pin_by_name: false,
                origin: MapOrigin::GlobalData(init),
                initial_programs: Vec::new(),
                inner: None,
                initial_maps: Vec::new(),
            });
        }

        // `__kconfig` externs: one read-only map, as libbpf's `.kconfig`.
        let kconfig = match &btf {
            Some(b) => kconfig::resolve(b, &|name| {
                file.symbols().any(|s| s.name() == Ok(name) && s.is_weak())
            })
            .map_err(ElfError)?,
            None => None,
        };
        let kconfig_map = kconfig.as_ref().map(|k| {
            maps.push(MapDef {
                name: ".kconfig".to_string(),
                spec: MapSpec {
                    map_type: MapType::Array as u32,
                    key_size: 4,
                    value_size: k.value.len() as u32,
                    max_entries: 1,
                    flags: BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
                    ..MapSpec::named(".kconfig")
                },
                pin_by_name: false,
                origin: MapOrigin::GlobalData(k.value.clone()),
                initial_programs: Vec::new(),
                inner: None,
                initial_maps: Vec::new(),
            });
            maps.len() - 1
        });

        // The object types maps' lists hold (inner map templates' too).
        let mut held_by_maps: Vec<u32> = Vec::new();
        if let Some(b) = &btf {
            for m in maps.iter_mut() {
                let specs = core::iter::once(&mut m.spec).chain(m.inner.as_deref_mut());
                for spec in specs {
                    let roots: Vec<u32> = spec
                        .value_fields
                        .iter()
                        .filter(|f| runtime_kept(f.kind))
                        .map(|f| f.contains)
                        .collect();
                    if !roots.is_empty() {
                        spec.obj_types = b
                            .obj_types(&roots)
                            .map_err(|e| ElfError(format!("map `{}`: {e}", m.name)))?;
                        held_by_maps.extend(roots);
                    }
                }
            }
        }

        // Relocations per section.
        let relocs_of = |index: SectionIndex| -> Result<Vec<Reloc>, ElfError> {
            let s = file
                .section_by_index(index)
                .map_err(|err| ElfError(err.to_string()))?;
            let mut out = Vec::new();
            for (offset, r) in s.relocations() {
                let RelocationTarget::Symbol(si) = r.target() else {
                    return e(format!(
                        "{}: relocation at {offset:#x} has no symbol",
                        s.name().unwrap_or("?")
                    ));
                };
                let sym = file
                    .symbol_by_index(si)
                    .map_err(|err| ElfError(err.to_string()))?;
                out.push(Reloc {
                    offset,
                    symbol_name: sym.name().unwrap_or("").to_string(),
                    symbol_section: sym.section_index(),
                    symbol_value: sym.address(),
                    symbol_is_section: sym.kind() == SymbolKind::Section,
                });
            }
            Ok(out)
        };

        let core_relos = match (&btf, by_name(".BTF.ext")) {
            (Some(btf), Some(ext)) => co_re::relocations(&ext.data, btf).map_err(ElfError)?,
            _ => Vec::new(),
        };

        let text = by_name(".text");
        let text_insns = match text {
            Some(t) => decode(&t.data, ".text")?,
            None => Vec::new(),
        };
        let text_relocs = match text {
            Some(t) => relocs_of(t.index)?,
            None => Vec::new(),
        };
        // The `.text` functions, as instruction ranges from its start.
        let text_functions: Vec<(usize, usize)> = match text {
            Some(t) => {
                let mut starts: Vec<(u64, u64)> = file
                    .symbols()
                    .filter(|s| s.section_index() == Some(t.index) && s.kind() == SymbolKind::Text)
                    .map(|s| (s.address(), s.size()))
                    .collect();
                starts.sort();
                starts.dedup_by_key(|s| s.0);
                let len = t.data.len() as u64;
                let mut fns = Vec::new();
                for (i, &(at, size)) in starts.iter().enumerate().filter(|(_, s)| s.0 < len) {
                    let next = starts.get(i + 1).map_or(len, |n| n.0.min(len));
                    let end = if size > 0 {
                        at.saturating_add(size).min(len)
                    } else {
                        next
                    };
                    fns.push(((at / 8) as usize, (end / 8) as usize));
                }
                if fns.is_empty() {
                    fns.push((0, text_insns.len()));
                }
                fns
            }
            None => Vec::new(),
        };

        let mut programs = Vec::new();
        for (si, sec, name, start, end) in entry_points(&file, &sections) {
            let (start, end) = (start as usize, end as usize);
            let code = sec.data.get(start..end).ok_or_else(|| {
                ElfError(format!(
                    "{}: function `{name}` lies outside its section",
                    sec.name
                ))
            })?;
            let mut insns = decode(code, &sec.name)?;
            let base_len = insns.len();
            let relocs: Vec<Reloc> = relocs_of(si)?
                .into_iter()
                .filter(|r| r.offset >= start as u64 && r.offset < end as u64)
                .map(|r| Reloc {
                    offset: r.offset - start as u64,
                    ..r
                })
                .collect();
            // Its own exception callback (`__exception_cb(cb)`): a global
            // function of `.text`, carried whether or not the program
            // calls into `.text` otherwise.
            let (exception_cb, cb_problem) = match btf.as_ref().map(|b| b.exception_callback(&name))
            {
                Some(Ok(Some(cb))) => match text.and_then(|t| {
                    file.symbols()
                        .find(|s| s.name() == Ok(cb.as_str()) && s.section_index() == Some(t.index))
                }) {
                    Some(sym) => (Some((sym.address() / 8) as usize), None),
                    None => (
                        None,
                        Some(format!(
                            "exception callback '{cb}' is not a function of .text"
                        )),
                    ),
                },
                Some(Err(why)) => (None, Some(why)),
                _ => (None, None),
            };
            let needs_text = exception_cb.is_some()
                || relocs
                    .iter()
                    .any(|r| text.is_some_and(|t| r.symbol_section == Some(t.index)));
            let text_base = base_len;
            if needs_text {
                insns.extend_from_slice(&text_insns);
            }
            let ctx = Linker {
                maps: &map_at,
                text: text.map(|t| t.index),
                text_base,
                text_len: text_insns.len(),
                kconfig: kconfig.as_ref().zip(kconfig_map),
            };
            // A relocation that cannot be applied (a kfunc, an extern)
            // makes this program unloadable, not its siblings; nor this
            // one, if it lies in a `.text` function the program never
            // reaches.
            let mut problems: Vec<(usize, String)> = Vec::new();
            for r in &relocs {
                if let Err(err) = ctx.apply(&mut insns, 0, r, &sec.name, &name) {
                    problems.push(((r.offset / 8) as usize, err.0));
                }
            }
            if needs_text {
                for r in &text_relocs {
                    if let Err(err) = ctx.apply(&mut insns, text_base, r, ".text", &name) {
                        problems.push((text_base.saturating_add((r.offset / 8) as usize), err.0));
                    }
                }
            }
            // CO-RE: in the program's own code, and in the `.text`
            // functions it carries.
            if let Some(btf) = &btf {
                let in_program = core_relos.iter().filter_map(|r| {
                    let off = r.insn_off as usize;
                    (r.section == sec.name && (start..end).contains(&off))
                        .then(|| (r, (off - start) / 8))
                });
                let in_text = core_relos
                    .iter()
                    .filter(|r| needs_text && r.section == ".text")
                    .map(|r| (r, text_base + r.insn_off as usize / 8));
                for (r, at) in in_program.chain(in_text) {
                    if let Err(why) = co_re::apply(btf, r, &mut insns, at) {
                        problems.push((at, why));
                    }
                }
            }
            // As libbpf: only the `.text` functions the program reaches.
            let cb_at = exception_cb.map(|i| text_base + i);
            let kept = if needs_text {
                let roots: Vec<usize> = cb_at.into_iter().collect();
                let (linked, kept) = keep_reached(insns, text_base, &text_functions, &roots);
                insns = linked;
                kept
            } else {
                (0..insns.len()).map(Some).collect()
            };
            let problem = problems
                .into_iter()
                .find(|(at, _)| kept.get(*at).is_some_and(Option::is_some))
                .map(|(_, why)| why);
            let problem = cb_problem.or(problem);
            let exception_cb = cb_at.and_then(|at| kept.get(at).copied().flatten());
            // The object types it may allocate (`bpf_obj_new(T)` is a
            // local type id relocation) and those the maps' lists hold.
            let (obj_types, obj_problem) = match &btf {
                Some(b) => {
                    let mut roots: Vec<u32> = core_relos
                        .iter()
                        .filter(|r| {
                            r.kind == co_re::kind::TYPE_ID_LOCAL
                                && (r.section == sec.name
                                    && (start..end).contains(&(r.insn_off as usize))
                                    || needs_text && r.section == ".text")
                        })
                        .map(|r| r.type_id)
                        .collect();
                    roots.extend(&held_by_maps);
                    match b.obj_types(&roots) {
                        Ok(t) => (t, None),
                        Err(e) => (Vec::new(), Some(e)),
                    }
                }
                None => (Vec::new(), None),
            };
            let problem = problem.or(obj_problem);
            let (prog_type, unsupported) = match prog_type_for(&sec.name) {
                Ok(t) => (t, problem.clone()),
                Err(why) => (ProgType::Generic, Some(why)),
            };
            programs.push(ProgDef {
                name,
                expected_attach_type: attach_type_for(&sec.name),
                section: sec.name.clone(),
                prog_type,
                unsupported,
                problem,
                insns,
                exception_cb,
                obj_types,
            });
        }
        if programs.is_empty() {
            return e("no programs: no global function in a SEC() section");
        }
        Ok(BpfObject {
            license,
            maps,
            programs,
        })
    }
}

/// Whether a special field's kind is one the runtime keeps beyond a lone
/// spin lock, which makes the map's fields part of its creation: one that
/// holds objects (a list head, tree root or kptr) or a timer.
fn runtime_kept(kind: u32) -> bool {
    matches!(
        kind,
        ebpf_core::abi::FIELD_LIST_HEAD
            | ebpf_core::abi::FIELD_RB_ROOT
            | ebpf_core::abi::FIELD_KPTR
            | ebpf_core::abi::FIELD_TIMER
    )
}

/// Keeps, of the `.text` functions appended at `text_base` (`functions`:
/// instruction ranges from there), those the program reaches through
/// calls and function addresses, transitively, as libbpf appends only
/// those; the others would be unreachable code. Returns the instructions
/// and where each old one went.
fn keep_reached(
    insns: Vec<Insn>,
    text_base: usize,
    functions: &[(usize, usize)],
    roots: &[usize],
) -> (Vec<Insn>, Vec<Option<usize>>) {
    let lddw = BPF_LD | BPF_IMM | BPF_DW;
    let target = |i: usize, insn: &Insn| -> Option<usize> {
        let refers = (insn.opcode == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL)
            || (insn.opcode == lddw && insn.src == BPF_PSEUDO_FUNC);
        let t = i as i64 + 1 + insn.imm as i64;
        (refers && t >= 0).then_some(t as usize)
    };
    let function_of = |i: usize| {
        i.checked_sub(text_base)
            .and_then(|rel| functions.iter().position(|&(s, e)| (s..e).contains(&rel)))
    };
    let mut reached = vec![false; functions.len()];
    let mut work = vec![(0, text_base.min(insns.len()))];
    for f in roots.iter().filter_map(|&r| function_of(r)) {
        if !reached[f] {
            reached[f] = true;
            let (s, e) = functions[f];
            work.push((
                text_base.saturating_add(s),
                text_base.saturating_add(e).min(insns.len()),
            ));
        }
    }
    while let Some((lo, hi)) = work.pop() {
        for (i, insn) in insns.iter().enumerate().take(hi).skip(lo) {
            if let Some(f) = target(i, insn).and_then(function_of) {
                if !reached[f] {
                    reached[f] = true;
                    let (s, e) = functions[f];
                    work.push((
                        text_base.saturating_add(s),
                        text_base.saturating_add(e).min(insns.len()),
                    ));
                }
            }
        }
    }
    let mut kept = vec![None; insns.len()];
    let mut out = Vec::with_capacity(insns.len());
    for (i, insn) in insns.iter().enumerate() {
        if i < text_base || function_of(i).is_some_and(|f| reached[f]) {
            kept[i] = Some(out.len());
            out.push(*insn);
        }
    }
    for (i, insn) in insns.iter().enumerate() {
        if let (Some(ni), Some(Some(nt))) = (
            kept[i],
            target(i, insn).map(|t| kept.get(t).copied().flatten()),
        ) {
            out[ni].imm = (nt as i64 - (ni as i64 + 1)) as i32;
        }
    }
    (out, kept)
}

/// The programs of an object: (section index, section, name, start, end)
/// of each global function in a code section other than `.text` (old
/// compilers mark them `NOTYPE`, and give them no size: a program then
/// ends where the next begins), or the whole section when it has no such
/// symbol (named after the section, as iproute2 loads it).
fn entry_points<'s>(
    file: &object::File<'_>,
    sections: &'s [Section],
) -> Vec<(SectionIndex, &'s Section, String, u64, u64)> {
    let mut out = Vec::new();
    for sec in sections
        .iter()
        .filter(|s| s.executable && !s.name.starts_with('.'))
    {
        let mut entries: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.section_index() == Some(sec.index) && s.is_global())
            .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown))
            .map(|s| (s.address(), s.size(), s.name().unwrap_or("").to_string()))
            .collect();
        entries.sort();
        if entries.is_empty() && !sec.data.is_empty() {
            entries.push((0, sec.data.len() as u64, sec.name.replace(['/', '.'], "_")));
        }
        let starts: Vec<u64> = entries.iter().map(|e| e.0).collect();
        for (i, (start, size, name)) in entries.into_iter().enumerate() {
            let end = if size > 0 {
                start.saturating_add(size)
            } else {
                starts.get(i + 1).copied().unwrap_or(sec.data.len() as u64)
            };
            out.push((sec.index, sec, name, start, end));
        }
    }
    out
}

fn decode(code: &[u8], section: &str) -> Result<Vec<Insn>, ElfError> {
    if code.len() % 8 != 0 {
        return e(format!(
            "{section}: size {} is not a whole number of instructions",
            code.len()
        ));
    }
    Ok(code
        .chunks_exact(8)
        .map(|c| Insn::from_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

struct Linker<'a> {
    maps: &'a [(SectionIndex, u64, usize)],
    text: Option<SectionIndex>,
    text_base: usize,
    text_len: usize,
    /// The `__kconfig` externs and the index of the map holding them.
    kconfig: Option<(&'a kconfig::Kconfig, usize)>,
}

impl Linker<'_> {
    /// Applies relocation `r` of code placed at `base` in `insns`.
    fn apply(
        &self,
        insns: &mut [Insn],
        base: usize,
        r: &Reloc,
        section: &str,
        prog: &str,
    ) -> Result<(), ElfError> {
        let at = base.saturating_add((r.offset / 8) as usize);
        let sym = if r.symbol_name.is_empty() {
            "<section>"
        } else {
            &r.symbol_name
        };
        let here = || {
            format!(
                "{section}: relocation at insn {} (program `{prog}`) against `{sym}`",
                r.offset / 8
            )
        };
        let insn = *insns
            .get(at)
            .ok_or_else(|| ElfError(format!("{}: outside the code", here())))?;
        let lddw = BPF_LD | BPF_IMM | BPF_DW;
        let extern_kconfig = self
            .kconfig
            .and_then(|(k, idx)| Some((k.get(&r.symbol_name)?, idx)));
        if let (None, Some((ext, idx))) = (r.symbol_section, extern_kconfig) {
            if !ext.resolved {
                return e(format!(
                    "reads `{sym}`, a kernel configuration option this machine's configuration \
                     does not set (declare it __weak for 0)"
                ));
            }
            if insn.opcode != lddw {
                return e(format!(
                    "{}: a kconfig extern in an instruction that is not lddw",
                    here()
                ));
            }
            insns[at].src = BPF_PSEUDO_MAP_IDX_VALUE;
            insns[at].imm = idx as i32;
            if let Some(next) = insns.get_mut(at + 1) {
                next.imm = (ext.offset as i32).wrapping_add(insn.imm);
            }
            return Ok(());
        }
        let kfunc = ebpf_core::helpers::kfunc::by_name(&r.symbol_name);
        if let (None, Some(id), true) = (r.symbol_section, kfunc, insn.opcode == BPF_JMP | BPF_CALL)
        {
            // A kernel function the runtime provides, by its id (libbpf
            // writes the kernel's BTF id there).
            insns[at].src = ebpf_core::opcode::BPF_PSEUDO_KFUNC_CALL;
            insns[at].imm = id as i32;
            insns[at].off = 0;
            return Ok(());
        }
        let Some(target_sec) = r.symbol_section else {
            return e(format!(
                "calls or reads `{sym}`, a function or variable of the Linux kernel \
                 (kfunc or extern): not provided by this runtime"
            ));
        };
        if Some(target_sec) == self.text {
            let target = if insn.opcode == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL {
                (r.symbol_value as i64 / 8) + insn.imm as i64 + 1
            } else if insn.opcode == lddw {
                (r.symbol_value as i64 + insn.imm as i64) / 8
            } else {
                return e(format!("{}: not a call or a function address", here()));
            };
            if target < 0 || target as usize >= self.text_len {
                return e(format!("{}: target outside .text", here()));
            }
            let rel = (self.text_base as i64 + target) - (at as i64 + 1);
            let imm =
                i32::try_from(rel).map_err(|_| ElfError(format!("{}: call too far", here())))?;
            insns[at].imm = imm;
            if insn.opcode == lddw {
                insns[at].src = BPF_PSEUDO_FUNC;
                if let Some(next) = insns.get_mut(at + 1) {
                    next.imm = 0;
                }
            }
            return Ok(());
        }
        if insn.opcode != lddw {
            return e(format!(
                "{}: map or data reference in an instruction that is not lddw",
                here()
            ));
        }
        // A defined map: exact symbol address; global data: any offset.
        if let Some(&(_, _, idx)) = self
            .maps
            .iter()
            .find(|m| m.0 == target_sec && m.1 == r.symbol_value)
        {
            insns[at].src = BPF_PSEUDO_MAP_IDX;
            insns[at].imm = idx as i32;
            return Ok(());
        }
        if let Some(&(_, _, idx)) = self
            .maps
            .iter()
            .find(|m| m.0 == target_sec && m.1 == u64::MAX)
        {
            let offset = if r.symbol_is_section {
                insn.imm as i64
            } else {
                r.symbol_value as i64 + insn.imm as i64
            };
            insns[at].src = BPF_PSEUDO_MAP_IDX_VALUE;
            insns[at].imm = idx as i32;
            if let Some(next) = insns.get_mut(at + 1) {
                next.imm = i32::try_from(offset)
                    .map_err(|_| ElfError(format!("{}: offset too large", here())))?;
            }
            return Ok(());
        }
        e(format!(
            "{}: symbol is neither a map, global data nor a function",
            here()
        ))
    }
}

/// Reads one BTF-defined map: a variable whose type is a struct of
/// `__uint(field, N)` (pointer to an array of N) and `__type(field, T)`
/// (pointer to T) members. Also returns the byte offset of an
/// `__array(values, ...)` member (a program array's programs, or a
/// map-in-map's inner definition), whose relocations name the initial
/// contents.
fn btf_map(btf: &Btf, var: u32) -> Result<(MapDef, Option<u32>), String> {
    let Type::Var { name, target } = btf.get(var)? else {
        return Err(format!("type {var} is not a variable"));
    };
    btf_map_struct(btf, name, *target, 0)
}

/// The map definition struct `id`, named `name`; `depth` 1 for an inner
/// map's (which cannot hold maps itself).
fn btf_map_struct(
    btf: &Btf,
    name: &str,
    id: u32,
    depth: u32,
) -> Result<(MapDef, Option<u32>), String> {
    let (_, Type::Struct { members, .. }) = btf.resolve(id)? else {
        return Err(format!("map `{name}` is not a struct"));
    };
    let mut def = MapDef {
        name: name.to_string(),
        spec: MapSpec::named(name),
        pin_by_name: false,
        origin: MapOrigin::Defined,
        initial_programs: Vec::new(),
        inner: None,
        initial_maps: Vec::new(),
    };
    let mut values = None;
    let uint = |m: &btf::Member| -> Result<u32, String> {
        match btf.resolve(m.type_id)?.1 {
            Type::Ptr { target } => match btf.resolve(*target)?.1 {
                Type::Array { nelems, .. } => Ok(*nelems),
                _ => Err(format!("map `{name}`: field `{}` is not __uint()", m.name)),
            },
            _ => Err(format!("map `{name}`: field `{}` is not __uint()", m.name)),
        }
    };
    let pointee = |m: &btf::Member| -> Result<u32, String> {
        match btf.resolve(m.type_id)?.1 {
            Type::Ptr { target } => Ok(*target),
            _ => Err(format!("map `{name}`: field `{}` is not __type()", m.name)),
        }
    };
    for m in members {
        match m.name.as_str() {
            "type" => def.spec.map_type = uint(m)?,
            "max_entries" => def.spec.max_entries = uint(m)?,
            "map_flags" => def.spec.flags = uint(m)?,
            "map_extra" => def.spec.map_extra = uint(m)?,
            "key_size" => def.spec.key_size = uint(m)?,
            "value_size" => def.spec.value_size = uint(m)?,
            "pinning" => def.pin_by_name = uint(m)? == 1,
            "key" => def.spec.key_size = btf.size_of(pointee(m)?)?,
            "value" => {
                let t = pointee(m)?;
                def.spec.value_size = btf.size_of(t)?;
                def.spec.spin_lock_offset = btf.spin_lock_offset(t);
                let fields = btf
                    .graph_fields(t)
                    .map_err(|e| format!("map `{name}`: {e}"))?;
                if fields.iter().any(|f| runtime_kept(f.kind)) {
                    def.spec.value_fields = fields;
                }
                if let Some((field, what)) = btf.special_field(t) {
                    return Err(format!(
                        "map `{name}`: its values hold `{field}`, a {what}, which Linux gives \
                         a meaning of its own: not provided by this runtime"
                    ));
                }
            }
            // `__array(values, T)`: an array of pointers to T, a function
            // prototype (program array) or a map definition (map-in-map).
            "values" => {
                let elem = match btf.resolve(m.type_id)?.1 {
                    Type::Array { elem, .. } => match btf.resolve(*elem)?.1 {
                        Type::Ptr { target } => Some(*target),
                        _ => None,
                    },
                    _ => None,
                };
                let elem = elem.ok_or_else(|| {
                    format!("map `{name}`: `values` is not an array of pointers (__array())")
                })?;
                values = Some((m.bit_offset / 8, elem));
            }
            "numa_node" => {}
            other => return Err(format!("map `{name}`: unknown field `{other}`")),
        }
    }
    let Some((values_at, elem)) = values else {
        return Ok((def, None));
    };
    let map_in_map =
        [MapType::ArrayOfMaps as u32, MapType::HashOfMaps as u32].contains(&def.spec.map_type);
    match btf.resolve(elem)?.1 {
        Type::FuncProto { .. } if def.spec.map_type == MapType::ProgArray as u32 => {}
        Type::Struct { .. } if map_in_map && depth == 0 => {
            let inner_name = format!("{name}.inner");
            let (inner, nested) = btf_map_struct(btf, &inner_name, elem, depth + 1)?;
            if nested.is_some() {
                return Err(format!(
                    "map `{name}`: an inner map cannot hold maps or programs"
                ));
            }
            def.inner = Some(Box::new(inner.spec));
        }
        _ => {
            return Err(format!(
                "map `{name}`: `values` fits neither a program array (functions) nor a map of \
                 maps (map definitions)"
            ))
        }
    }
    // Slots hold 4-byte handles; keys are slot numbers (4 bytes unless
    // the definition says otherwise).
    if def.spec.key_size == 0 {
        def.spec.key_size = 4;
    }
    match def.spec.value_size {
        0 => def.spec.value_size = 4,
        4 => {}
        n => {
            return Err(format!(
                "map `{name}`: value_size {n} with `values`: slots hold 4 bytes"
            ))
        }
    }
    Ok((def, Some(values_at)))
}

impl BpfObject {
    /// The object with every program of type `t`, whatever its section
    /// says (bpftool's `type`; tc and ip load any section as their type).
    pub fn with_prog_type(mut self, t: ProgType) -> Self {
        for p in &mut self.programs {
            p.prog_type = t;
            p.unsupported = p.problem.clone();
            if t != ProgType::Xdp {
                p.expected_attach_type = 0;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(BpfObject::parse(b"").is_err());
        assert!(BpfObject::parse(b"\x7fELF garbage").is_err());
        assert!(BpfObject::parse(&[0u8; 4096]).is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0]).is_err());
    }

    #[test]
    fn section_names_select_program_types() {
        assert_eq!(prog_type_for("xdp"), Ok(ProgType::Xdp));
        assert_eq!(prog_type_for("xdp/frags"), Ok(ProgType::Xdp));
        assert_eq!(prog_type_for("xdp.frags"), Ok(ProgType::Xdp));
        assert_eq!(prog_type_for("tc"), Ok(ProgType::SchedCls));
        assert_eq!(prog_type_for("tc/ingress"), Ok(ProgType::SchedCls));
        assert_eq!(prog_type_for("tcx/egress"), Ok(ProgType::SchedCls));
        assert_eq!(prog_type_for("classifier"), Ok(ProgType::SchedCls));
        assert_eq!(prog_type_for("?socket"), Ok(ProgType::SocketFilter));
        assert_eq!(prog_type_for("xdp/devmap"), Ok(ProgType::Xdp));
        assert_eq!(attach_type_for("xdp/devmap"), 33);
        assert_eq!(attach_type_for("xdp.frags/cpumap"), 35);
        assert_eq!(attach_type_for("?xdp/cpumap"), 35);
        assert_eq!(attach_type_for("xdp"), 0);
        assert_eq!(attach_type_for("xdp/devmapx"), 0);
        assert_eq!(attach_type_for("tc/devmap"), 0);
        assert_eq!(prog_type_for("xdp/anything"), Ok(ProgType::Xdp));
        assert_eq!(prog_type_for("?tc"), Ok(ProgType::SchedCls));
        assert_eq!(prog_type_for("action/police"), Ok(ProgType::SchedAct));
        assert_eq!(prog_type_for("socket"), Ok(ProgType::SocketFilter));
        assert_eq!(prog_type_for("socket1"), Ok(ProgType::SocketFilter));
        assert_eq!(prog_type_for("generic"), Ok(ProgType::Generic));
        let why = prog_type_for("kprobe/sys_open").unwrap_err();
        assert!(
            why.contains("kprobe") && why.contains("not provided"),
            "{why}"
        );
        let why = prog_type_for("cgroup_skb/ingress").unwrap_err();
        assert!(why.contains("not provided"), "{why}");
        let why = prog_type_for("foo").unwrap_err();
        assert!(why.contains("`foo`"), "{why}");
    }
}
