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
//!   layout the wire fixes: as the object describes them, bitfields too
//!   (`ihl`, `version`: the load unit, its size and the shifts, as libbpf
//!   computes them for `BPF_CORE_READ_BITFIELD`);
//! - the enums of Linux's UAPI whose values depend on the runtime
//!   (`enum bpf_func_id`: the helpers it provides; `enum bpf_map_type`: its
//!   map types; `enum xdp_action`, `enum sk_action`): an enumerator the
//!   runtime lacks does not exist (`bpf_core_enum_value_exists` is 0);
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
pub(crate) mod kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
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
    /// An enum of Linux's UAPI this runtime gives values of its own: the
    /// value of an enumerator name, if the runtime has it.
    Enum(EnumValues),
}

/// The value of an enumerator name, if the runtime has it.
type EnumValues = fn(&str) -> Option<i64>;

/// `enum bpf_func_id`: the helpers this runtime provides, by Linux id.
fn helper_id(enumerator: &str) -> Option<i64> {
    let name = enumerator.strip_prefix("BPF_FUNC_")?;
    (1..ebpf_core::helpers::ids::KFUNC_BASE)
        .take(1024)
        .find(|&id| {
            ebpf_core::helpers::proto::proto_of(id)
                .is_some_and(|p| p.name.strip_prefix("bpf_") == Some(name))
        })
        .map(i64::from)
}

/// `enum xdp_action`.
fn xdp_action(enumerator: &str) -> Option<i64> {
    [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .iter()
    .position(|&n| n == enumerator)
    .map(|i| i as i64)
}

/// `enum sk_action`.
fn sk_action(enumerator: &str) -> Option<i64> {
    ["SK_DROP", "SK_PASS"]
        .iter()
        .position(|&n| n == enumerator)
        .map(|i| i as i64)
}

/// `enum bpf_map_type`: the map types this runtime provides.
fn map_type(enumerator: &str) -> Option<i64> {
    let name = enumerator
        .strip_prefix("BPF_MAP_TYPE_")?
        .to_ascii_lowercase();
    (1..64u32)
        .find(|&n| ebpf_core::MapType::from_u32(n).is_ok_and(|t| t.name() == name))
        .map(i64::from)
}

/// The enums of Linux's UAPI a program may ask about.
const ENUMS: &[(&str, EnumValues)] = &[
    ("bpf_func_id", helper_id),
    ("xdp_action", xdp_action),
    ("sk_action", sk_action),
    ("bpf_map_type", map_type),
];

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
    if let Some(&(_, values)) = ENUMS.iter().find(|(n, _)| *n == name) {
        return Some(Target::Enum(values));
    }
    WIRE_TYPES.contains(&name).then_some(Target::Wire)
}

/// A field the access path reaches: its byte offset and size, in the
/// object's layout.
struct Field {
    offset: u32,
    size: u32,
    signed: bool,
    /// A bitfield's offset and width in bits (from the root).
    bits: Option<(u32, u32)>,
    /// The top-level member's name and offset, and the element index
    /// inside it (for `cb[2]`), when the root is a struct.
    member: Option<(String, u32)>,
}

fn root_name(btf: &Btf, type_id: u32) -> Result<String, String> {
    match btf.resolve(type_id)?.1 {
        Type::Struct { name, .. } => Ok(name.clone()),
        Type::Enum { name, .. } => Ok(name.clone()),
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
    let mut bits = None;
    for i in idx {
        let i = i?;
        if bits.is_some() {
            return Err(format!("CO-RE access path `{access}` into a bitfield"));
        }
        match btf.resolve(ty)?.1 {
            Type::Struct { members, .. } => {
                let m = members
                    .get(i as usize)
                    .ok_or_else(|| format!("CO-RE access path `{access}` past the members"))?;
                if m.bitfield_size != 0 || m.bit_offset % 8 != 0 {
                    let width = if m.bitfield_size != 0 {
                        m.bitfield_size
                    } else {
                        btf.size_of(m.type_id)?.saturating_mul(8)
                    };
                    let at = offset
                        .checked_mul(8)
                        .and_then(|o| o.checked_add(m.bit_offset))
                        .ok_or("CO-RE offset overflows")?;
                    bits = Some((at, width));
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
    let signed = match btf.resolve(ty)?.1 {
        Type::Sized { signed, .. } | Type::Enum { signed, .. } => *signed,
        _ => false,
    };
    Ok(Field {
        offset,
        size: btf.size_of(ty)?,
        signed,
        bits,
        member,
    })
}

/// The load a bitfield is read with, as libbpf computes it: the smallest
/// naturally aligned unit from the member's size up holding all its bits.
/// Byte offset and size.
fn bitfield_unit(bit_off: u32, bit_size: u32, member_size: u32) -> Result<(u32, u32), String> {
    let too_wide = || "CO-RE bitfield wider than 8 bytes".to_string();
    if member_size > 8 || bit_size > 64 {
        return Err(too_wide());
    }
    let (bit_off, bit_size) = (u64::from(bit_off), u64::from(bit_size));
    let mut size = u64::from(member_size.max(1));
    loop {
        let off = bit_off / 8 / size * size;
        if bit_off + bit_size - off * 8 <= size * 8 {
            // Both fit in u32: off <= bit_off / 8, size <= 8.
            return Ok((off as u32, size as u32));
        }
        if size >= 8 {
            return Err(too_wide());
        }
        size *= 2;
    }
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
            Target::Wire | Target::Enum(_) => btf.size_of(r.type_id)? as u64,
        }));
    }
    if let Target::Enum(values) = target {
        let Type::Enum { values: local, .. } = btf.resolve(r.type_id)?.1 else {
            return Err(format!(
                "CO-RE enum relocation against `{name}`, not an enum"
            ));
        };
        let index: usize = r
            .access
            .parse()
            .map_err(|_| format!("bad CO-RE enum access `{}`", r.access))?;
        let (enumerator, _) = local
            .get(index)
            .ok_or_else(|| format!("CO-RE enum access `{}` past `{name}`", r.access))?;
        let value = values(enumerator);
        return match r.kind {
            kind::ENUMVAL_EXISTS => Ok(Some(value.is_some() as u64)),
            kind::ENUMVAL_VALUE => Ok(value.map(|v| v as u64)),
            k => Err(format!("CO-RE relocation kind {k} against enum `{name}`")),
        };
    }
    if matches!(r.kind, kind::ENUMVAL_EXISTS | kind::ENUMVAL_VALUE) {
        return Err(format!(
            "CO-RE enum relocation against `{name}`, not an enum"
        ));
    }
    let local = local_field(btf, r.type_id, &r.access)?;
    if let Some((bit_off, bit_size)) = local.bits {
        // Bitfields exist only in packet headers, laid out as described.
        if !matches!(target, Target::Wire) {
            return Err(format!("CO-RE access to a bitfield of `{name}`"));
        }
        let (off, size) = bitfield_unit(bit_off, bit_size, local.size)?;
        // Within the unit (at most 64 bits), as `bitfield_unit` found it.
        let top = u64::from(bit_off) + u64::from(bit_size) - u64::from(off) * 8;
        return Ok(Some(match r.kind {
            kind::FIELD_EXISTS => 1,
            kind::FIELD_BYTE_OFFSET => u64::from(off),
            kind::FIELD_BYTE_SIZE => u64::from(size),
            kind::FIELD_SIGNED => local.signed as u64,
            // Little-endian: the field's top bit to bit 63, then down.
            kind::FIELD_LSHIFT_U64 => 64 - top,
            kind::FIELD_RSHIFT_U64 => 64 - u64::from(bit_size),
            k => return Err(format!("CO-RE relocation kind {k} is not supported")),
        }));
    }
    // Where the field is here.
    let here = match target {
        Target::Enum(_) => None,
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
        // A whole field, read with a load of its own size (8 bytes at most).
        (kind::FIELD_LSHIFT_U64 | kind::FIELD_RSHIFT_U64, Some((_, size))) if size <= 8 => {
            Some(64 - u64::from(size) * 8)
        }
        (kind::FIELD_LSHIFT_U64 | kind::FIELD_RSHIFT_U64, Some(_)) => {
            return Err("CO-RE shifts of a field wider than 8 bytes".into())
        }
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

#[cfg(test)]
mod tests {
    use super::bitfield_unit;

    #[test]
    fn bitfield_units_are_libbpfs_and_odd_sizes_are_errors() {
        // iphdr's version: bits 4..8 of a u8.
        assert_eq!(bitfield_unit(4, 4, 1), Ok((0, 1)));
        // 12 bits from bit 6 of a u16 need a u32.
        assert_eq!(bitfield_unit(6, 12, 2), Ok((0, 4)));
        // A crafted object: no overflow, an error (the fuzzer's find).
        assert!(bitfield_unit(u32::MAX, u32::MAX, 1).is_err());
        assert!(bitfield_unit(0, 8, 1 << 30).is_err());
        assert!(bitfield_unit(60, 8, 8).is_err());
    }
}
