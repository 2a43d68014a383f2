//! `ebpfctl prog ...` and `ebpfctl map ...`: bpftool's verbs over a device.

use std::path::Path;

use clap::{Args, Subcommand};
use ebpf_core::abi::ObjKind;
use ebpf_core::asm;
use libebpf_ioctl::Ebpf;
use serde_json::{json, Value};

use crate::hex;
use crate::objrun;

/// What `load` and `prog load` take.
#[derive(Args, Clone)]
pub struct LoadArgs {
    /// Object file from `clang -target bpf`.
    pub file: std::path::PathBuf,
    /// Load only this program of the object and the programs it reaches by
    /// tail calls through the object's prog_array contents (its maps all
    /// the same).
    #[arg(long, value_name = "NAME")]
    pub prog: Option<String>,
    /// Pin the programs as NAME/<program> and the maps as NAME/<map>, so
    /// they outlive this process (on a kernel device).
    #[arg(long, value_name = "NAME")]
    pub pin: Option<String>,
    /// Admit programs the verifier rejects as checked programs (run-time
    /// checks and an instruction budget) instead of failing.
    #[arg(long)]
    pub checked: bool,
}

/// Program verbs.
#[derive(Subcommand, Clone)]
pub enum ProgCmd {
    /// Load the programs and maps of an object file.
    Load(LoadArgs),
    /// Run a program (pinned name, id or `id:N`; or an object file, loaded
    /// for the run) on packets.
    Run {
        /// The program, or an object file.
        target: String,
        /// With an object file: the program to run (default: the first).
        #[arg(long)]
        prog: Option<String>,
        /// A packet as hex; repeat for several.
        #[arg(long = "data-hex", value_name = "HEX")]
        data_hex: Vec<String>,
        /// A packet read from a file.
        #[arg(long, value_name = "FILE")]
        data: Vec<std::path::PathBuf>,
        /// Runs per packet.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// List the device's programs.
    List,
    /// Show one program.
    Show {
        /// Pinned name, id or `id:N`.
        program: String,
    },
    /// Disassemble a program as the device runs it.
    Dump {
        /// Pinned name, id or `id:N`.
        program: String,
    },
    /// Remove a program's pin (the program goes when nothing else uses it).
    Unload {
        /// Pinned name.
        name: String,
    },
}

/// Map verbs.
#[derive(Subcommand, Clone)]
pub enum MapCmd {
    /// List the device's maps.
    List,
    /// Show one map.
    Show {
        /// Pinned name, id or `id:N`.
        map: String,
    },
    /// Print every element.
    Dump {
        /// Pinned name, id or `id:N`.
        map: String,
    },
    /// Print one element.
    Lookup {
        /// Pinned name, id or `id:N`.
        map: String,
        /// Key: an integer (decimal or 0x...) or `hex:BYTES`.
        #[arg(long)]
        key: String,
    },
    /// Create or replace an element.
    Update {
        /// Pinned name, id or `id:N`.
        map: String,
        /// Key: an integer (decimal or 0x...) or `hex:BYTES`.
        #[arg(long)]
        key: String,
        /// Value: an integer (decimal or 0x...) or `hex:BYTES`.
        #[arg(long)]
        value: String,
        /// `any`, `noexist` (create only) or `exist` (replace only).
        #[arg(long, default_value = "any")]
        mode: String,
    },
    /// Delete an element.
    Delete {
        /// Pinned name, id or `id:N`.
        map: String,
        /// Key: an integer (decimal or 0x...) or `hex:BYTES`.
        #[arg(long)]
        key: String,
    },
    /// Pin a map under a name.
    Pin {
        /// Pinned name, id or `id:N`.
        map: String,
        /// The new name.
        name: String,
    },
}

/// The name of program type number `t` ("?" for one the device does not
/// provide).
pub fn prog_type_name(t: u32) -> &'static str {
    ebpf_core::ProgType::from_u32(t).map_or("?", |t| t.name())
}

pub(crate) fn map_type_name(t: u32) -> &'static str {
    ebpf_core::maps::MapType::from_u32(t).map_or("?", |t| t.name())
}

fn name_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A handle to the object `reference` names: `id:N`, a bare number (an
/// id) or a pinned name.
pub(crate) fn resolve(e: &Ebpf, kind: ObjKind, reference: &str) -> Result<u32, String> {
    let what = match kind {
        ObjKind::Map => "map",
        ObjKind::Prog => "program",
        ObjKind::Link => "link",
    };
    let id = reference
        .strip_prefix("id:")
        .or(Some(reference).filter(|r| r.bytes().all(|b| b.is_ascii_digit())));
    if let Some(id) = id {
        let id: u32 = id
            .parse()
            .map_err(|_| format!("`{reference}`: not an id"))?;
        return e
            .handle_by_id(kind, id)
            .map_err(|err| format!("{what} id {id}: {err}"));
    }
    match e.get_pinned(reference) {
        Ok((h, k)) if k == kind => Ok(h),
        Ok(_) => Err(format!("`{reference}` is pinned, but not as a {what}")),
        Err(err) => Err(format!("{what} `{reference}`: {err}")),
    }
}

/// Parses a key or value for a slot of `size` bytes.
pub fn parse_bytes(text: &str, size: usize) -> Result<Vec<u8>, String> {
    if let Some(h) = text.strip_prefix("hex:") {
        let bytes = hex::decode(h)?;
        if bytes.len() != size {
            return Err(format!("`{text}` is {} bytes, need {size}", bytes.len()));
        }
        return Ok(bytes);
    }
    let n = match text.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => text.parse::<u64>(),
    }
    .map_err(|_| format!("`{text}` is neither an integer nor hex:BYTES"))?;
    if size > 8 {
        return Err(format!("a {size}-byte slot needs hex:BYTES"));
    }
    if size < 8 && n >> (size * 8) != 0 {
        return Err(format!("{n} does not fit in {size} bytes"));
    }
    Ok(n.to_le_bytes()[..size].to_vec())
}

fn int_of(bytes: &[u8]) -> Option<u64> {
    (bytes.len() <= 8).then(|| {
        let mut b = [0u8; 8];
        b[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(b)
    })
}

pub(crate) fn element_json(k: &[u8], v: &[u8]) -> Value {
    json!({"key": hex::encode(k), "key_int": int_of(k), "value": hex::encode(v), "value_int": int_of(v)})
}

pub(crate) fn print_element(k: &[u8], v: &[u8]) {
    let ki = int_of(k).map(|x| format!(" ({x})")).unwrap_or_default();
    let vi = int_of(v).map(|x| format!(" ({x})")).unwrap_or_default();
    println!("  {}{ki} -> {}{vi}", hex::encode(k), hex::encode(v));
}

pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn prog_json(e: &Ebpf, h: u32) -> Result<Value, String> {
    let i = e.prog_info(h).map_err(|err| err.to_string())?;
    Ok(json!({
        "id": i.id, "type": prog_type_name(i.prog_type), "name": name_of(&i.name),
        "insns": i.insn_cnt, "maps": i.map_count, "load_time_ns": i.load_time_ns,
        "run_cnt": i.run_cnt, "run_time_ns": i.run_time_ns,
        "verified": i.flags & ebpf_core::abi::PROG_INFO_VERIFIED != 0,
        "jited": i.flags & ebpf_core::abi::PROG_INFO_JITED != 0,
        "bytes_jited": i.jited_len,
    }))
}

fn map_json(e: &Ebpf, h: u32) -> Result<Value, String> {
    let i = e.map_info(h).map_err(|err| err.to_string())?;
    Ok(json!({
        "id": i.id, "type": map_type_name(i.map_type), "name": name_of(&i.name),
        "key_size": i.key_size, "value_size": i.value_size, "max_entries": i.max_entries,
        "flags": i.map_flags, "memory_bytes": i.memory_bytes,
    }))
}

fn print_prog(v: &Value) {
    println!(
        "{}: {}  name {}  insns {}  maps {}  {}  {}  runs {}  run_time_ns {}",
        v["id"],
        v["type"].as_str().unwrap_or("?"),
        v["name"].as_str().unwrap_or(""),
        v["insns"],
        v["maps"],
        if v["verified"].as_bool() == Some(true) {
            "verified"
        } else {
            "checked"
        },
        if v["jited"].as_bool() == Some(true) {
            format!("jited {}B", v["bytes_jited"])
        } else {
            "interpreted".to_string()
        },
        v["run_cnt"],
        v["run_time_ns"]
    );
}

fn print_map(v: &Value) {
    println!(
        "{}: {}  name {}  key {}B  value {}B  max_entries {}  flags {:#x}  memory {}B",
        v["id"],
        v["type"].as_str().unwrap_or("?"),
        v["name"].as_str().unwrap_or(""),
        v["key_size"],
        v["value_size"],
        v["max_entries"],
        v["flags"].as_u64().unwrap_or(0),
        v["memory_bytes"]
    );
}

/// Every object of `kind` as JSON, through fresh handles.
pub(crate) fn all(e: &Ebpf, kind: ObjKind) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for id in e.ids(kind).map_err(|err| err.to_string())? {
        // An object may go away between listing and opening.
        let Ok(h) = e.handle_by_id(kind, id) else {
            continue;
        };
        let v = match kind {
            ObjKind::Map => map_json(e, h),
            ObjKind::Prog => prog_json(e, h),
            ObjKind::Link => crate::net::link_json(e, h),
        };
        let _ = e.close(h);
        out.push(v?);
    }
    Ok(out)
}

/// Pins `handle` as `dir/name` when a pin directory was asked for.
fn pin_under(
    e: &Ebpf,
    handle: u32,
    dir: Option<&str>,
    name: &str,
) -> Result<Option<String>, String> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let at = format!("{dir}/{name}");
    e.pin(handle, &at)
        .map_err(|err| format!("pin {at}: {err}"))?;
    Ok(Some(at))
}

/// `ebpfctl prog ...`.
pub fn prog(
    e: &Ebpf,
    cmd: ProgCmd,
    json_out: bool,
    prog_type: Option<ebpf_core::ProgType>,
) -> Result<(), String> {
    match cmd {
        ProgCmd::Load(LoadArgs {
            file,
            prog,
            pin,
            checked,
        }) => {
            let obj = objrun::read_object(&file, prog_type)?;
            let how = libebpf_ioctl::Admission {
                checked,
                log_level: 1,
                ..Default::default()
            };
            let loaded = e
                .load_object_with(&obj, prog.as_deref(), how)
                .map_err(|err| format!("{}: {err}", file.display()))?;
            let mut progs = Vec::new();
            for (name, section, h) in &loaded.programs {
                let pinned = pin_under(e, *h, pin.as_deref(), name)?;
                let info = e.prog_info(*h).map_err(|err| err.to_string())?;
                progs.push(
                    json!({"name": name, "section": section, "id": info.id, "pinned": pinned}),
                );
            }
            let mut maps = Vec::new();
            for (name, h) in &loaded.maps {
                let pinned = pin_under(e, *h, pin.as_deref(), name)?;
                let info = e.map_info(*h).map_err(|err| err.to_string())?;
                maps.push(json!({"name": name, "id": info.id, "pinned": pinned}));
            }
            if json_out {
                print_json(&json!({"programs": progs, "maps": maps}));
            } else {
                for p in &progs {
                    let pin = p["pinned"]
                        .as_str()
                        .map(|p| format!(", pinned {p}"))
                        .unwrap_or_default();
                    println!(
                        "program {} (section {}): id {}{pin}",
                        p["name"].as_str().unwrap_or(""),
                        p["section"].as_str().unwrap_or(""),
                        p["id"]
                    );
                }
                for m in &maps {
                    let pin = m["pinned"]
                        .as_str()
                        .map(|p| format!(", pinned {p}"))
                        .unwrap_or_default();
                    println!(
                        "map {}: id {}{pin}",
                        m["name"].as_str().unwrap_or(""),
                        m["id"]
                    );
                }
                if pin.is_none() {
                    println!("not pinned: released when this process ends (use --pin NAME)");
                }
            }
            Ok(())
        }
        ProgCmd::Run {
            target,
            prog,
            data_hex,
            data,
            repeat,
        } => {
            let mut packets = data_hex;
            for f in &data {
                let bytes = std::fs::read(f).map_err(|err| format!("{}: {err}", f.display()))?;
                packets.push(hex::encode(&bytes));
            }
            // An object file: one that exists, or a name that says it is one
            // (so that a missing file is reported as such, not as a pin).
            if Path::new(&target).is_file() || target.ends_with(".o") {
                return objrun::run(
                    e,
                    Path::new(&target),
                    prog.as_deref(),
                    &packets,
                    repeat,
                    json_out,
                    prog_type,
                );
            }
            let h = resolve(e, ObjKind::Prog, &target)?;
            let mut runs = Vec::new();
            for (i, text) in packets.iter().enumerate() {
                let packet = hex::decode(text).map_err(|err| format!("packet {}: {err}", i + 1))?;
                let r = e
                    .prog_test_run(h, &packet, repeat)
                    .map_err(|err| err.to_string())?;
                if json_out {
                    runs.push(
                        json!({"packet": i + 1, "retval": r.retval, "duration_ns": r.duration_ns,
                        "data_out": hex::encode(&r.data_out)}),
                    );
                } else {
                    println!(
                        "packet {}: retval {}, {} ns",
                        i + 1,
                        r.retval,
                        r.duration_ns
                    );
                    if r.data_out != packet {
                        println!("  data out: {}", hex::encode(&r.data_out));
                    }
                }
            }
            if json_out {
                print_json(&json!({"runs": runs}));
            }
            Ok(())
        }
        ProgCmd::List => {
            let progs = all(e, ObjKind::Prog)?;
            if json_out {
                print_json(&Value::Array(progs));
            } else {
                progs.iter().for_each(print_prog);
            }
            Ok(())
        }
        ProgCmd::Show { program } => {
            let v = prog_json(e, resolve(e, ObjKind::Prog, &program)?)?;
            if json_out {
                print_json(&v)
            } else {
                print_prog(&v)
            }
            Ok(())
        }
        ProgCmd::Dump { program } => {
            let h = resolve(e, ObjKind::Prog, &program)?;
            let insns = e.prog_insns(h).map_err(|err| err.to_string())?;
            let lines = asm::disassemble(&insns);
            // One line per instruction; lddw takes two slots.
            let mut items = Vec::new();
            let mut pc = 0usize;
            for text in &lines {
                let slots = match insns.get(pc) {
                    Some(i)
                        if i.opcode
                            == ebpf_core::opcode::BPF_LD
                                | ebpf_core::opcode::BPF_IMM
                                | ebpf_core::opcode::BPF_DW =>
                    {
                        2
                    }
                    _ => 1,
                };
                let end = (pc + slots).min(insns.len());
                let bytes: Vec<u8> = insns[pc.min(end)..end]
                    .iter()
                    .flat_map(|i| i.to_bytes())
                    .collect();
                items.push((pc, bytes, text));
                pc = end;
            }
            if json_out {
                let items: Vec<Value> = items
                    .iter()
                    .map(|(pc, bytes, text)| json!({"pc": pc, "insn": hex::encode(bytes), "text": text}))
                    .collect();
                print_json(&Value::Array(items));
            } else {
                for (pc, _, text) in &items {
                    println!("{pc:4}: {text}");
                }
            }
            Ok(())
        }
        ProgCmd::Unload { name } => {
            match e.get_pinned(&name) {
                Ok((_, ObjKind::Prog)) => {}
                Ok(_) => return Err(format!("`{name}` is pinned, but not as a program")),
                Err(err) => return Err(format!("program `{name}`: {err}")),
            }
            e.unpin(&name).map_err(|err| format!("unpin {name}: {err}"))
        }
    }
}

/// `ebpfctl map ...`.
pub fn map(e: &Ebpf, cmd: MapCmd, json_out: bool) -> Result<(), String> {
    let sizes = |h: u32| e.map_sizes(h).map_err(|err| err.to_string());
    match cmd {
        MapCmd::List => {
            let maps = all(e, ObjKind::Map)?;
            if json_out {
                print_json(&Value::Array(maps));
            } else {
                maps.iter().for_each(print_map);
            }
        }
        MapCmd::Show { map } => {
            let v = map_json(e, resolve(e, ObjKind::Map, &map)?)?;
            if json_out {
                print_json(&v)
            } else {
                print_map(&v)
            }
        }
        MapCmd::Dump { map } => {
            let h = resolve(e, ObjKind::Map, &map)?;
            let elems = objrun::dump_map(e, h)?;
            if json_out {
                print_json(&Value::Array(
                    elems.iter().map(|(k, v)| element_json(k, v)).collect(),
                ));
            } else {
                for (k, v) in &elems {
                    print_element(k, v);
                }
                println!("{} elements", elems.len());
            }
        }
        MapCmd::Lookup { map, key } => {
            let h = resolve(e, ObjKind::Map, &map)?;
            let (ks, vs) = sizes(h)?;
            let k = parse_bytes(&key, ks).map_err(|m| format!("key: {m}"))?;
            let mut v = vec![0u8; vs];
            e.map_lookup(h, &k, &mut v, 0)
                .map_err(|err| err.to_string())?;
            if json_out {
                print_json(&element_json(&k, &v))
            } else {
                print_element(&k, &v)
            }
        }
        MapCmd::Update {
            map,
            key,
            value,
            mode,
        } => {
            let h = resolve(e, ObjKind::Map, &map)?;
            let (ks, vs) = sizes(h)?;
            let k = parse_bytes(&key, ks).map_err(|m| format!("key: {m}"))?;
            let v = parse_bytes(&value, vs).map_err(|m| format!("value: {m}"))?;
            let flags = match mode.as_str() {
                "any" => 0,
                "noexist" => 1,
                "exist" => 2,
                other => return Err(format!("--mode {other}: use any, noexist or exist")),
            };
            e.map_update(h, &k, &v, flags)
                .map_err(|err| err.to_string())?;
        }
        MapCmd::Delete { map, key } => {
            let h = resolve(e, ObjKind::Map, &map)?;
            let (ks, _) = sizes(h)?;
            let k = parse_bytes(&key, ks).map_err(|m| format!("key: {m}"))?;
            e.map_delete(h, &k).map_err(|err| err.to_string())?;
        }
        MapCmd::Pin { map, name } => {
            let h = resolve(e, ObjKind::Map, &map)?;
            e.pin(h, &name)
                .map_err(|err| format!("pin {name}: {err}"))?;
        }
    }
    Ok(())
}
