//! Just enough of BTF (the BPF Type Format in an object's `.BTF` section)
//! to read libbpf's BTF-defined maps and CO-RE relocations: types, their
//! sizes, struct members, variables and data sections. Every read is bounds-checked; a malformed
//! section is an error, never a panic.

use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;

/// BTF kinds used here.
mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

/// A struct member.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its type id.
    pub type_id: u32,
    /// Offset in bits.
    pub bit_offset: u32,
    /// Width in bits of a bitfield, 0 for other members.
    pub bitfield_size: u32,
}

/// A special field of a layout, as the ABI describes it
/// ([`ebpf_core::abi::ObjField`]): the list's type is a BTF id.
pub type GraphField = ebpf_core::abi::ObjField;

/// One type.
#[derive(Clone, Debug)]
pub enum Type {
    /// Integer or float of `size` bytes.
    Sized { size: u32, signed: bool },
    /// An enum of `size` bytes: its enumerators' names and values.
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    /// Pointer to `target`.
    Ptr { target: u32 },
    /// `nelems` of `elem`.
    Array { elem: u32, nelems: u32 },
    /// Struct or union.
    Struct {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    /// typedef, volatile, const, restrict: another name for `target`.
    Alias { target: u32 },
    /// `target` with a type tag (`__kptr` is `btf_type_tag("kptr")`).
    Tagged { tag: String, target: u32 },
    /// A function: its name, whether it has global linkage, its
    /// prototype.
    Func {
        name: String,
        global: bool,
        proto: u32,
    },
    /// A declaration tag on `target` (`component` -1: the whole of it).
    DeclTag {
        tag: String,
        target: u32,
        component: u32,
    },
    /// A variable of type `target`.
    Var { name: String, target: u32 },
    /// A data section: (variable type id, offset, size).
    DataSec {
        name: String,
        vars: Vec<(u32, u32, u32)>,
    },
    /// A function prototype: return type (0 for void) and parameter
    /// types.
    FuncProto { ret: u32, params: Vec<u32> },
    /// Anything else (functions, forward declarations, tags).
    Other,
}

/// Parsed BTF.
pub struct Btf {
    types: Vec<Type>,
    by_name: HashMap<String, u32>,
    strings: Vec<u8>,
}

struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn u32(&self, at: usize) -> Result<u32, String> {
        let b = self
            .data
            .get(at..at + 4)
            .ok_or_else(|| format!(".BTF: truncated at byte {at}"))?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
}

impl Btf {
    /// Parses a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, String> {
        let magic_le = data.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let big_endian = match magic_le {
            Some(MAGIC) => false,
            Some(m) if m.swap_bytes() == MAGIC => true,
            _ => return Err(".BTF: bad magic".into()),
        };
        let r = Reader { data, big_endian };
        let hdr_len = r.u32(4)? as usize;
        let type_off = r.u32(8)? as usize;
        let type_len = r.u32(12)? as usize;
        let str_off = r.u32(16)? as usize;
        let str_len = r.u32(20)? as usize;
        let types_start = hdr_len.checked_add(type_off).ok_or(".BTF: bad header")?;
        let types_end = types_start
            .checked_add(type_len)
            .ok_or(".BTF: bad header")?;
        let str_start = hdr_len.checked_add(str_off).ok_or(".BTF: bad header")?;
        let strings = data
            .get(str_start..str_start.saturating_add(str_len))
            .ok_or(".BTF: string section out of bounds")?;
        if types_end > data.len() {
            return Err(".BTF: type section out of bounds".into());
        }
        let name = |off: u32| -> String {
            let s = strings.get(off as usize..).unwrap_or(&[]);
            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        };
        // Type 0 is void.
        let mut types = vec![Type::Other];
        let mut by_name = HashMap::new();
        let mut at = types_start;
        while at < types_end {
            let name_off = r.u32(at)?;
            let info = r.u32(at + 4)?;
            let size_or_type = r.u32(at + 8)?;
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let k = (info >> 24) & 0x1f;
            let t = match k {
                kind::INT => {
                    // BTF_INT_SIGNED, in the encoding byte.
                    let signed = (r.u32(at)? >> 24) & 1 != 0;
                    at += 4;
                    Type::Sized {
                        size: size_or_type,
                        signed,
                    }
                }
                kind::FLOAT => Type::Sized {
                    size: size_or_type,
                    signed: true,
                },
                kind::ENUM | kind::ENUM64 => {
                    let signed = info >> 31 != 0;
                    let wide = k == kind::ENUM64;
                    let mut values = Vec::with_capacity(vlen.min(1024));
                    for _ in 0..vlen {
                        let low = r.u32(at + 4)?;
                        let value = if wide {
                            (u64::from(r.u32(at + 8)?) << 32 | u64::from(low)) as i64
                        } else if signed {
                            i64::from(low as i32)
                        } else {
                            i64::from(low)
                        };
                        values.push((name(r.u32(at)?), value));
                        at += if wide { 12 } else { 8 };
                    }
                    Type::Enum {
                        name: name(name_off),
                        size: size_or_type,
                        signed,
                        values,
                    }
                }
                kind::PTR => Type::Ptr {
                    target: size_or_type,
                },
                kind::ARRAY => {
                    let elem = r.u32(at)?;
                    let nelems = r.u32(at + 8)?;
                    at += 12;
                    Type::Array { elem, nelems }
                }
                kind::STRUCT | kind::UNION => {
                    let kind_flag = info >> 31 != 0;
                    let mut members = Vec::with_capacity(vlen.min(1024));
                    for _ in 0..vlen {
                        let offset = r.u32(at + 8)?;
                        members.push(Member {
                            name: name(r.u32(at)?),
                            type_id: r.u32(at + 4)?,
                            bit_offset: if kind_flag {
                                offset & 0xff_ffff
                            } else {
                                offset
                            },
                            bitfield_size: if kind_flag { offset >> 24 } else { 0 },
                        });
                        at += 12;
                    }
                    Type::Struct {
                        name: name(name_off),
                        size: size_or_type,
                        members,
                    }
                }
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT => Type::Alias {
                    target: size_or_type,
                },
                kind::TYPE_TAG => Type::Tagged {
                    tag: name(name_off),
                    target: size_or_type,
                },
                kind::FUNC => Type::Func {
                    name: name(name_off),
                    // BTF_FUNC_GLOBAL, in the vlen bits.
                    global: vlen == 1,
                    proto: size_or_type,
                },
                kind::FWD => Type::Other,
                kind::FUNC_PROTO => {
                    let mut params = Vec::with_capacity(vlen.min(16));
                    for _ in 0..vlen {
                        params.push(r.u32(at + 4)?);
                        at += 8;
                    }
                    Type::FuncProto {
                        ret: size_or_type,
                        params,
                    }
                }
                kind::VAR => {
                    at += 4;
                    Type::Var {
                        name: name(name_off),
                        target: size_or_type,
                    }
                }
                kind::DATASEC => {
                    let mut vars = Vec::with_capacity(vlen.min(1024));
                    for _ in 0..vlen {
                        vars.push((r.u32(at)?, r.u32(at + 4)?, r.u32(at + 8)?));
                        at += 12;
                    }
                    Type::DataSec {
                        name: name(name_off),
                        vars,
                    }
                }
                kind::DECL_TAG => {
                    let component = r.u32(at)?;
                    at += 4;
                    Type::DeclTag {
                        tag: name(name_off),
                        target: size_or_type,
                        component,
                    }
                }
                other => return Err(format!(".BTF: unknown type kind {other}")),
            };
            if let Type::DataSec { name, .. } = &t {
                by_name.insert(name.clone(), types.len() as u32);
            }
            types.push(t);
        }
        Ok(Btf {
            types,
            by_name,
            strings: strings.to_vec(),
        })
    }

    /// The string at `off` of the string section (`.BTF.ext` names its
    /// sections and CO-RE access paths there).
    pub fn string_at(&self, off: u32) -> Option<&str> {
        let s = self.strings.get(off as usize..)?;
        let end = s.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&s[..end]).ok()
    }

    /// The type with `id`.
    pub fn get(&self, id: u32) -> Result<&Type, String> {
        self.types
            .get(id as usize)
            .ok_or_else(|| format!(".BTF: no type {id}"))
    }

    /// Follows aliases.
    pub fn resolve(&self, mut id: u32) -> Result<(u32, &Type), String> {
        for _ in 0..32 {
            match self.get(id)? {
                Type::Alias { target } | Type::Tagged { target, .. } => id = *target,
                t => return Ok((id, t)),
            }
        }
        Err(".BTF: alias chain too long".into())
    }

    /// Size in bytes of type `id`.
    pub fn size_of(&self, id: u32) -> Result<u32, String> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: u32) -> Result<u32, String> {
        if depth > 32 {
            return Err(".BTF: type nesting too deep".into());
        }
        match self.resolve(id)?.1 {
            Type::Sized { size, .. } | Type::Enum { size, .. } | Type::Struct { size, .. } => {
                Ok(*size)
            }
            Type::Ptr { .. } => Ok(8),
            Type::Array { elem, nelems } => self
                .size_of_depth(*elem, depth + 1)?
                .checked_mul(*nelems)
                .ok_or_else(|| ".BTF: array size overflows".into()),
            Type::Var { target, .. } => self.size_of_depth(*target, depth + 1),
            _ => Err(format!(".BTF: type {id} has no size")),
        }
    }

    /// The data section named `name`, if described.
    pub fn datasec(&self, name: &str) -> Option<&[(u32, u32, u32)]> {
        match self.types.get(*self.by_name.get(name)? as usize)? {
            Type::DataSec { vars, .. } => Some(vars),
            _ => None,
        }
    }

    /// The first field of struct type `id` (or inside its nested structs)
    /// that Linux gives a meaning of its own and this runtime does not
    /// provide: a kernel pointer (`__kptr_untrusted`, `__percpu_kptr`) or
    /// a work queue. Its name and kind.
    pub fn special_field(&self, id: u32) -> Option<(String, String)> {
        self.special_field_depth(id, 0)
    }

    fn special_field_depth(&self, id: u32, depth: u32) -> Option<(String, String)> {
        // (Spin locks, lists and trees of objects, kptrs of the program's
        // objects, reference counts and timers are provided:
        // `graph_fields`.)
        const SPECIAL: &[&str] = &["bpf_wq"];
        if depth > 8 {
            return None;
        }
        let Ok((_, Type::Struct { members, .. })) = self.resolve(id) else {
            return None;
        };
        for m in members {
            // A pointer to a tagged type: `struct foo __kptr *p`.
            let mut t = m.type_id;
            for _ in 0..8 {
                match self.get(t).ok()? {
                    Type::Alias { target } | Type::Ptr { target } => t = *target,
                    Type::Tagged { tag, .. } if tag.contains("kptr") && tag != "kptr" => {
                        return Some((m.name.clone(), format!("__{tag}")));
                    }
                    Type::Tagged { target, .. } => t = *target,
                    _ => break,
                }
            }
            match self.resolve(m.type_id) {
                Ok((_, Type::Struct { name, .. })) if SPECIAL.contains(&name.as_str()) => {
                    return Some((m.name.clone(), format!("struct {name}")));
                }
                Ok((inner, Type::Struct { .. })) => {
                    if let Some(found) = self.special_field_depth(inner, depth + 1) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The declaration tags on the function named `name`.
    pub fn function_tags(&self, name: &str) -> Vec<&str> {
        let Some(func) = self
            .types
            .iter()
            .position(|t| matches!(t, Type::Func { name: n, .. } if n == name))
        else {
            return Vec::new();
        };
        self.types
            .iter()
            .filter_map(|t| match t {
                Type::DeclTag {
                    tag,
                    target,
                    component: u32::MAX,
                } if *target as usize == func => Some(tag.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The special fields the runtime provides of a map value or object
    /// of type `id` (a struct, or a global data section's variable):
    /// spin locks, lists and trees of objects, kptrs and reference counts,
    /// inside nested structs and arrays too, lists naming the type they
    /// hold (`__contains(foo, node)`) by BTF id and node offset, kptrs
    /// (`struct foo __kptr *`) by BTF id.
    pub fn graph_fields(&self, id: u32) -> Result<Vec<GraphField>, String> {
        let mut out = Vec::new();
        self.graph_fields_at(id, 0, None, &mut out, 0)?;
        Ok(out)
    }

    /// The fields of the variables of data section `name`, each at the
    /// offset `offset_of` gives for its name (the symbol table's: the
    /// compiler leaves a DATASEC's offsets for the loader to fix, as
    /// libbpf does).
    pub fn datasec_graph_fields(
        &self,
        name: &str,
        offset_of: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Vec<GraphField>, String> {
        let mut out = Vec::new();
        for &(var, offset, _) in self.datasec(name).unwrap_or(&[]) {
            let tag = self.tag_on(var, u32::MAX, "contains:");
            let at = match self.get(var)? {
                Type::Var { name, .. } => offset_of(name).unwrap_or(offset),
                _ => offset,
            };
            self.graph_fields_at(var, at, tag, &mut out, 0)?;
        }
        Ok(out)
    }

    /// The first tag starting with `prefix` on `target`'s `component`.
    fn tag_on(&self, target: u32, component: u32, prefix: &str) -> Option<&str> {
        self.types.iter().find_map(|t| match t {
            Type::DeclTag {
                tag,
                target: t,
                component: c,
            } if *t == target && *c == component => tag.strip_prefix(prefix),
            _ => None,
        })
    }

    /// A list's `contains:NAME:NODE` resolved: the struct's id and the
    /// node member's offset.
    fn contained(&self, spec: &str) -> Result<(u32, u32), String> {
        let (name, node) = spec
            .split_once(':')
            .ok_or_else(|| format!("bad __contains tag `{spec}`"))?;
        let id = self
            .types
            .iter()
            .position(|t| matches!(t, Type::Struct { name: n, .. } if n == name))
            .ok_or_else(|| format!("__contains names `{name}`, which is no struct"))?
            as u32;
        let Ok((_, Type::Struct { members, .. })) = self.resolve(id) else {
            return Err(format!("__contains names `{name}`, which is no struct"));
        };
        let m = members
            .iter()
            .find(|m| m.name == node)
            .ok_or_else(|| format!("struct {name} has no member `{node}`"))?;
        Ok((id, m.bit_offset / 8))
    }

    fn graph_fields_at(
        &self,
        id: u32,
        base: u32,
        contains: Option<&str>,
        out: &mut Vec<GraphField>,
        depth: u32,
    ) -> Result<(), String> {
        if depth > 8 || out.len() > 16 {
            return Err("special fields nested too deep or too many".into());
        }
        let (rid, t) = self.resolve(id)?;
        match t {
            Type::Var { target, .. } => {
                self.graph_fields_at(*target, base, contains, out, depth + 1)?
            }
            Type::Struct { name, members, .. } => match name.as_str() {
                "bpf_spin_lock" => out.push(GraphField {
                    kind: ebpf_core::abi::FIELD_SPIN_LOCK,
                    offset: base,
                    contains: 0,
                    node_offset: 0,
                }),
                "bpf_list_node" => out.push(GraphField {
                    kind: ebpf_core::abi::FIELD_LIST_NODE,
                    offset: base,
                    contains: 0,
                    node_offset: 0,
                }),
                "bpf_rb_node" => out.push(GraphField {
                    kind: ebpf_core::abi::FIELD_RB_NODE,
                    offset: base,
                    contains: 0,
                    node_offset: 0,
                }),
                "bpf_refcount" => out.push(GraphField {
                    kind: ebpf_core::abi::FIELD_REFCOUNT,
                    offset: base,
                    contains: 0,
                    node_offset: 0,
                }),
                "bpf_timer" => out.push(GraphField {
                    kind: ebpf_core::abi::FIELD_TIMER,
                    offset: base,
                    contains: 0,
                    node_offset: 0,
                }),
                "bpf_list_head" | "bpf_rb_root" => {
                    let spec = contains
                        .ok_or_else(|| format!("a {name} without __contains(type, node)"))?;
                    let (held, node) = self.contained(spec)?;
                    out.push(GraphField {
                        kind: if name == "bpf_list_head" {
                            ebpf_core::abi::FIELD_LIST_HEAD
                        } else {
                            ebpf_core::abi::FIELD_RB_ROOT
                        },
                        offset: base,
                        contains: held,
                        node_offset: node,
                    });
                }
                _ => {
                    for (k, m) in members.iter().enumerate() {
                        let tag = self.tag_on(rid, k as u32, "contains:");
                        self.graph_fields_at(
                            m.type_id,
                            base + m.bit_offset / 8,
                            tag,
                            out,
                            depth + 1,
                        )?;
                    }
                }
            },
            Type::Ptr { target } => {
                if let Some(held) = self.kptr_target(*target)? {
                    out.push(GraphField {
                        kind: ebpf_core::abi::FIELD_KPTR,
                        offset: base,
                        contains: held,
                        node_offset: 0,
                    });
                }
            }
            Type::Array { elem, nelems } => {
                let mut probe = Vec::new();
                self.graph_fields_at(*elem, 0, contains, &mut probe, depth + 1)?;
                if !probe.is_empty() {
                    if *nelems > 16 {
                        return Err("an array of more than 16 locks or lists".into());
                    }
                    let size = self.size_of(*elem)?;
                    for i in 0..*nelems {
                        self.graph_fields_at(*elem, base + i * size, contains, out, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The struct a pointer to `target` holds as a kptr (`struct foo
    /// __kptr *`: the pointee tagged `kptr`), if it is one; an error for
    /// a kptr to anything but a struct defined in the object.
    fn kptr_target(&self, target: u32) -> Result<Option<u32>, String> {
        let mut t = target;
        let mut tagged = false;
        for _ in 0..8 {
            match self.get(t)? {
                Type::Tagged { tag, target } => {
                    tagged |= tag == "kptr";
                    t = *target;
                }
                Type::Alias { target } => t = *target,
                Type::Struct { .. } => return Ok(tagged.then_some(t)),
                _ if tagged => {
                    return Err(format!(
                        "a __kptr to type {t}, which is no struct this object defines"
                    ))
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The object types `roots` name and those their lists hold,
    /// transitively, as the ABI describes them (non-struct roots are
    /// skipped).
    pub fn obj_types(&self, roots: &[u32]) -> Result<Vec<ebpf_core::abi::ObjTypeDesc>, String> {
        let mut out: Vec<ebpf_core::abi::ObjTypeDesc> = Vec::new();
        let mut work: Vec<u32> = roots.to_vec();
        while let Some(id) = work.pop() {
            if out.iter().any(|d| d.btf_id == id) {
                continue;
            }
            let Ok((_, Type::Struct { name, size, .. })) = self.resolve(id) else {
                continue;
            };
            let fields = self.graph_fields(id)?;
            if fields.len() > ebpf_core::abi::MAX_OBJ_FIELDS || out.len() >= 64 {
                return Err(format!(
                    "struct {name}: too many locks, lists or object types"
                ));
            }
            let mut d = ebpf_core::abi::ObjTypeDesc {
                btf_id: id,
                size: *size,
                nr_fields: fields.len() as u32,
                ..Default::default()
            };
            let n = name.len().min(15);
            d.name[..n].copy_from_slice(&name.as_bytes()[..n]);
            for (slot, f) in d.fields.iter_mut().zip(&fields) {
                *slot = *f;
                if matches!(
                    f.kind,
                    ebpf_core::abi::FIELD_LIST_HEAD
                        | ebpf_core::abi::FIELD_RB_ROOT
                        | ebpf_core::abi::FIELD_KPTR
                ) {
                    work.push(f.contains);
                }
            }
            out.push(d);
        }
        Ok(out)
    }

    /// The exception callback program `name` names with its
    /// `__exception_cb(cb)` tag, checked as Linux checks it: a global
    /// function returning an integer, of one integer argument.
    pub fn exception_callback(&self, name: &str) -> Result<Option<String>, String> {
        let named: Vec<&str> = self
            .function_tags(name)
            .into_iter()
            .filter_map(|t| t.strip_prefix("exception_callback:"))
            .collect();
        let cb = match named.as_slice() {
            [] => return Ok(None),
            [cb] => *cb,
            _ => return Err("multiple exception callback tags for main subprog".into()),
        };
        let func = self.types.iter().find_map(|t| match t {
            Type::Func {
                name: n,
                global,
                proto,
            } if n == cb => Some((*global, *proto)),
            _ => None,
        });
        let Some((global, proto)) = func else {
            return Err(format!(
                "exception callback '{cb}' could not be found in BTF"
            ));
        };
        if !global {
            return Err(format!(
                "exception callback '{cb}' must have global linkage"
            ));
        }
        let integer = |id: u32| {
            id != 0
                && matches!(
                    self.resolve(id).map(|(_, t)| t),
                    Ok(Type::Sized { .. } | Type::Enum { .. })
                )
        };
        let Ok((_, Type::FuncProto { ret, params })) = self.resolve(proto) else {
            return Err(format!("exception callback '{cb}' has no prototype"));
        };
        if !integer(*ret) {
            return Err(format!(
                "Global function {cb}() doesn't return scalar. Only those are supported."
            ));
        }
        if params.len() != 1 || !integer(params[0]) {
            return Err("exception cb only supports single integer argument".into());
        }
        Ok(Some(cb.to_string()))
    }

    /// Offset in bytes of a `struct bpf_spin_lock` member directly inside
    /// struct type `id`.
    pub fn spin_lock_offset(&self, id: u32) -> Option<u32> {
        let Ok((_, Type::Struct { members, .. })) = self.resolve(id) else {
            return None;
        };
        members.iter().find_map(|m| match self.resolve(m.type_id) {
            Ok((_, Type::Struct { name, .. })) if name == "bpf_spin_lock" => Some(m.bit_offset / 8),
            _ => None,
        })
    }
}
