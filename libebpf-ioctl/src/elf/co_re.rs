//! CO-RE (compile once, run everywhere) relocations: what clang records in
//! `.BTF.ext` for every access through a type marked
//! `preserve_access_index` (all of `vmlinux.h`), resolved as libbpf
//! resolves them, against the types this runtime provides instead of a
//! kernel's BTF:
//!
//! - the program contexts (`struct __sk_buff`, `struct xdp_md`): field
//!   offsets, sizes and existence from the runtime's own layouts
//!   (`ebpf_core::prog_type`), so a program built against another kernel's
//!   headers reads the right field or learns that it does not exist;
//! - the headers of packets (`struct ethhdr`, `struct iphdr`, ...), whose
//!   layout the wire fixes: as the object describes them;
//! - anything else is a type of the Linux kernel's internals, which this
//!   runtime does not have: the program is refused, naming the type.
//!
//! Never is a relocation left unresolved: an instruction whose field does
//! not exist is poisoned as libbpf poisons it (a call of the invalid helper
//! `0xbad2310`), so the program fails to load if it can reach it.

use ebpf_core::insn::Insn;
use ebpf_core::opcode::*;
use ebpf_core::prog_type::ContextLayout;
use ebpf_core::ProgType;

use super::btf::{Btf, Type};

/// What libbpf writes into an instruction it cannot relocate.
pub const POISON_HELPER: i32 = 0xbad2310;

/// Relocation kinds (`enum bpf_core_relo_kind`).
mod kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const TYPE_MATCHES: u32 = 12;
}

/// One relocation of `.BTF.ext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// The code section it applies to.
    pub section: String,
    /// Byte offset of the instruction in that section.
    pub insn_off: u32,
    /// The local (object's) root type.
    pub type_id: u32,
    /// The access path: `0:1:2` (array index, then member or element
    /// indices).
    pub access: String,
    /// What to compute.
    pub kind: u32,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The CO-RE relocations of a `.BTF.ext` section, names from `btf`.
pub fn relocations(ext: &[u8], btf: &Btf) -> Result<Vec<CoreRelo>, String> {
    let bad = |what: &str| format!(".BTF.ext: {what}");
    if ext.get(..2) != Some(&[0x9f, 0xeb]) {
        return Err(bad("bad magic (or a big-endian object)"));
    }
    let hdr_len = u32_at(ext, 4).ok_or_else(|| bad("truncated header"))? as usize;
    // The CO-RE part came with the header's second version (32 bytes).
    if hdr_len < 32 {
        return Ok(Vec::new());
    }
    let off = u32_at(ext, 24).ok_or_else(|| bad("truncated header"))? as usize;
    let len = u32_at(ext, 28).ok_or_else(|| bad("truncated header"))? as usize;
    let start = hdr_len.checked_add(off).ok_or_else(|| bad("bad header"))?;
    let data = ext
        .get(start..start.checked_add(len).ok_or_else(|| bad("bad header"))?)
        .ok_or_else(|| bad("CO-RE records out of bounds"))?;
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let rec_size = u32_at(data, 0).ok_or_else(|| bad("truncated CO-RE records"))? as usize;
    if rec_size < 16 {
        return Err(bad("CO-RE records too small"));
    }
    let mut out = Vec::new();
    let mut at = 4;
    while at < data.len() {
        let name_off = u32_at(data, at).ok_or_else(|| bad("truncated CO-RE section"))?;
        let n = u32_at(data, at + 4).ok_or_else(|| bad("truncated CO-RE section"))? as usize;
        at += 8;
        let section = btf
            .string_at(name_off)
            .ok_or_else(|| bad("CO-RE section name out of bounds"))?
            .to_string();
        for _ in 0..n {
            let rec = data
                .get(at..at + rec_size)
                .ok_or_else(|| bad("truncated CO-RE record"))?;
            let field = |i: usize| u32_at(rec, 4 * i).unwrap_or(0);
            let access = btf
                .string_at(field(2))
                .ok_or_else(|| bad("CO-RE access string out of bounds"))?
                .to_string();
            out.push(CoreRelo {
                section: section.clone(),
                insn_off: field(0),
                type_id: field(1),
                access,
                kind: field(3),
            });
            at += rec_size;
        }
    }
    Ok(out)
}

/// Packet headers whose layout the wire fixes: the object's own
/// description of them is the truth.
const WIRE_TYPES: &[&str] = &[
    "ethhdr",
    "vlan_hdr",
    "iphdr",
    "ipv6hdr",
    "in6_addr",
    "tcphdr",
    "udphdr",
    "icmphdr",
    "icmp6hdr",
    "arphdr",
    "gre_base_hdr",
    "sctphdr",
    "ip_esp_hdr",
    "ipv6_opt_hdr",
    "frag_hdr",
    "in_addr",
];

/// A type's name without libbpf's flavour suffix (`__sk_buff___v2`).
fn essential(name: &str) -> &str {
    match name.find("___") {
        Some(i) => &name[..i],
        None => name,
    }
}

/// What the runtime has for a type of this name.
enum Target {
    /// A context structure.
    Context(&'static ContextLayout),
    /// A packet header: as described.
    Wire,
}

fn target_of(name: &str) -> Option<Target> {
    let layouts = [
        ProgType::Xdp.spec().context,
        ProgType::SchedCls.spec().context,
    ];
    for layout in layouts.into_iter().flatten() {
        if layout.name.strip_prefix("struct ") == Some(name) {
            return Some(Target::Context(layout));
        }
    }
    WIRE_TYPES.contains(&name).then_some(Target::Wire)
}

/// A field the access path reaches: its byte offset and size, in the
/// object's layout.
struct Field {
    offset: u32,
    size: u32,
    signed: bool,
    /// The top-level member's name and offset, and the element index
    /// inside it (for `cb[2]`), when the root is a struct.
    member: Option<(String, u32)>,
}

fn root_name(btf: &Btf, type_id: u32) -> Result<String, String> {
    match btf.resolve(type_id)?.1 {
        Type::Struct { name, .. } => Ok(name.clone()),
        Type::Sized { .. } => Ok("an integer".into()),
        _ => Ok(format!("type {type_id}")),
    }
}

/// Walks the access path in the object's types.
fn local_field(btf: &Btf, type_id: u32, access: &str) -> Result<Field, String> {
    let mut idx = access.split(':').map(|s| {
        s.parse::<u32>()
            .map_err(|_| format!("bad CO-RE access path `{access}`"))
    });
    let first = idx.next().ok_or("empty CO-RE access path")??;
    let mut ty = type_id;
    let mut offset = first
        .checked_mul(btf.size_of(ty)?)
        .ok_or("CO-RE offset overflows")?;
    let mut member = None;
    for i in idx {
        let i = i?;
        match btf.resolve(ty)?.1 {
            Type::Struct { members, .. } => {
                let m = members
                    .get(i as usize)
                    .ok_or_else(|| format!("CO-RE access path `{access}` past the members"))?;
                if m.bit_offset % 8 != 0 {
                    return Err(format!("CO-RE access to bitfield `{}`", m.name));
                }
                offset = offset
                    .checked_add(m.bit_offset / 8)
                    .ok_or("CO-RE offset overflows")?;
                if member.is_none() {
                    member = Some((m.name.clone(), offset));
                }
                ty = m.type_id;
            }
            Type::Array { elem, .. } => {
                offset = i
                    .checked_mul(btf.size_of(*elem)?)
                    .and_then(|o| o.checked_add(offset))
                    .ok_or("CO-RE offset overflows")?;
                ty = *elem;
            }
            _ => return Err(format!("CO-RE access path `{access}` into a scalar")),
        }
    }
    Ok(Field {
        offset,
        size: btf.size_of(ty)?,
        signed: false,
        member,
    })
}

/// The relocated value, or `None` where the field does not exist here.
fn resolve(btf: &Btf, r: &CoreRelo) -> Result<Option<u64>, String> {
    let name = root_name(btf, r.type_id)?;
    let target = target_of(essential(&name));
    match r.kind {
        kind::TYPE_EXISTS | kind::TYPE_MATCHES => return Ok(Some(target.is_some() as u64)),
        kind::TYPE_ID_LOCAL => return Ok(Some(r.type_id as u64)),
        _ => {}
    }
    let Some(target) = target else {
        return Err(format!(
            "CO-RE relocation against `struct {name}`: a type of the Linux kernel's internals, \
             which this runtime does not have"
        ));
    };
    if r.kind == kind::TYPE_SIZE {
        return Ok(Some(match target {
            Target::Context(l) => l.size as u64,
            Target::Wire => btf.size_of(r.type_id)? as u64,
        }));
    }
    let local = local_field(btf, r.type_id, &r.access)?;
    // Where the field is here.
    let here = match target {
        Target::Wire => Some((local.offset, local.size)),
        Target::Context(layout) => {
            let (name, member_off) = local
                .member
                .clone()
                .ok_or("CO-RE access to a whole context")?;
            layout.fields.iter().find(|f| f.name == name).map(|f| {
                let within = local.offset.saturating_sub(member_off);
                ((f.offset as u32).saturating_add(within), local.size)
            })
        }
    };
    Ok(match (r.kind, here) {
        (kind::FIELD_EXISTS, h) => Some(h.is_some() as u64),
        (_, None) => None,
        (kind::FIELD_BYTE_OFFSET, Some((off, _))) => Some(off as u64),
        (kind::FIELD_BYTE_SIZE, Some((_, size))) => Some(size as u64),
        (kind::FIELD_SIGNED, Some(_)) => Some(local.signed as u64),
        (k, _) => return Err(format!("CO-RE relocation kind {k} is not supported")),
    })
}

/// Applies `r` to `insn` (and the next slot, for `lddw`): the value the
/// object computed is replaced by the runtime's; `None` poisons it.
pub fn apply(btf: &Btf, r: &CoreRelo, insns: &mut [Insn], at: usize) -> Result<(), String> {
    let value = resolve(btf, r)?;
    let insn = insns
        .get(at)
        .copied()
        .ok_or("CO-RE relocation outside the code")?;
    let Some(value) = value else {
        insns[at] = Insn {
            opcode: BPF_JMP | BPF_CALL,
            dst: 0,
            src: 0,
            off: 0,
            imm: POISON_HELPER,
        };
        return Ok(());
    };
    match insn.opcode & 7 {
        BPF_ALU | BPF_ALU64 if insn.opcode & BPF_X == 0 => insns[at].imm = value as i32,
        BPF_LDX | BPF_ST | BPF_STX => {
            insns[at].off = i16::try_from(value).map_err(|_| "CO-RE offset out of range")?;
        }
        BPF_LD if insn.opcode == BPF_LD | BPF_IMM | BPF_DW => {
            insns[at].imm = value as i32;
            if let Some(next) = insns.get_mut(at + 1) {
                next.imm = (value >> 32) as i32;
            }
        }
        _ => {
            return Err(format!(
                "CO-RE relocation of an unexpected instruction at {at}"
            ))
        }
    }
    Ok(())
}
