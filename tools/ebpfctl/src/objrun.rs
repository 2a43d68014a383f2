//! `ebpfctl run`: load an object and run its programs on packets, in one
//! process (so it works on the embedded backend), then show the maps.

use std::path::Path;

use ebpf_core::ProgType;
use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::Ebpf;
use serde_json::json;

use crate::hex;
use crate::objects::{element_json, map_type_name, print_element};

/// Names of XDP return codes.
fn xdp_verdict(r: u32) -> &'static str {
    match r {
        0 => "XDP_ABORTED",
        1 => "XDP_DROP",
        2 => "XDP_PASS",
        3 => "XDP_TX",
        4 => "XDP_REDIRECT",
        _ => "?",
    }
}

/// An I/O error opening a device, with the errno's name and what to do.
fn open_error(path: &Path, err: std::io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return format!("{}: {err}", path.display());
    };
    let errno = libebpf_ioctl::backend::os_errno(code);
    let name = errno.name().unwrap_or("?");
    let hint = match name {
        "EPERM" => ": opening it needs CAP_BPF or CAP_SYS_ADMIN",
        "EACCES" => ": the device is root's (mode 0600)",
        "ENOENT" | "ENXIO" | "ENODEV" => ": is the module loaded? (insmod ebpf.ko)",
        _ => "",
    };
    format!("{}: {name} ({}){hint}", path.display(), errno.description())
}

/// A program type by bpftool's names and the section names that select it.
pub fn parse_prog_type(s: &str) -> Result<ProgType, String> {
    Ok(match s {
        "xdp" => ProgType::Xdp,
        "tc" | "sched_cls" | "classifier" => ProgType::SchedCls,
        "action" | "sched_act" => ProgType::SchedAct,
        "socket" | "socket_filter" => ProgType::SocketFilter,
        "generic" => ProgType::Generic,
        _ => {
            return Err(format!(
            "`{s}` is not a program type this runtime provides (xdp, tc, action, socket, generic)"
        ))
        }
    })
}

/// Reads and parses an object file, its programs of type `prog_type` when
/// given; the error names the file and says what is wrong, in one line.
pub fn read_object(file: &Path, prog_type: Option<ProgType>) -> Result<BpfObject, String> {
    let bytes = std::fs::read(file).map_err(|err| {
        let why = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => err.to_string(),
        };
        format!("cannot read object file {}: {why}", file.display())
    })?;
    let obj = BpfObject::parse(&bytes).map_err(|err| format!("{}: {err}", file.display()))?;
    Ok(match prog_type {
        Some(t) => obj.with_prog_type(t),
        None => obj,
    })
}

/// Opens the backend the flags ask for and says which one it is.
pub fn open(device: Option<&Path>, embedded: bool, quiet: bool) -> Result<Ebpf, String> {
    let default = Path::new(libebpf_ioctl::backend::DEVICE_PATH);
    let e = match (device, embedded) {
        (Some(path), _) => Ebpf::device(path).map_err(|err| open_error(path, err))?,
        (None, true) => Ebpf::embedded().map_err(|err| err.to_string())?,
        (None, false) => Ebpf::open_default().map_err(|err| open_error(default, err))?,
    };
    if !quiet {
        let why = if e.backend_kind() == "embedded" && device.is_none() && !embedded {
            " (no /dev/ebpf)"
        } else {
            ""
        };
        println!("backend: {}{why}", e.backend_kind());
    }
    Ok(e)
}

/// A map element: key and value bytes.
pub type Element = (Vec<u8>, Vec<u8>);

/// Every element of a map.
pub fn dump_map(e: &Ebpf, handle: u32) -> Result<Vec<Element>, String> {
    let (ks, vs) = e.map_sizes(handle).map_err(|err| err.to_string())?;
    let mut out = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; ks];
    if ks == 0 {
        return Ok(out);
    }
    while e
        .map_next_key(handle, key.as_deref(), &mut next)
        .map_err(|err| err.to_string())?
    {
        let mut value = vec![0u8; vs];
        if e.map_lookup(handle, &next, &mut value, 0).is_ok() {
            out.push((next.clone(), value));
        }
        key = Some(next.clone());
        if out.len() > 1_000_000 {
            break;
        }
    }
    Ok(out)
}

/// `ebpfctl run`.
pub fn run(
    e: &Ebpf,
    file: &Path,
    prog: Option<&str>,
    packets: &[String],
    repeat: u32,
    json_out: bool,
    prog_type: Option<ProgType>,
) -> Result<(), String> {
    let obj = read_object(file, prog_type)?;
    // With --prog, only that program and its tail-call targets are loaded.
    let loaded = e
        .load_object_programs(&obj, prog)
        .map_err(|err| format!("{}: {err}", file.display()))?;
    let (name, section, handle) = loaded
        .programs
        .iter()
        .find(|(n, _, _)| prog.is_none_or(|p| p == n))
        .cloned()
        .ok_or_else(|| format!("{}: no programs", file.display()))?;
    let is_xdp = libebpf_ioctl::elf::prog_type_for(&section) == Ok(ebpf_core::ProgType::Xdp);
    // Perf event arrays take records only in the slots someone reads.
    for (_, h) in &loaded.maps {
        let info = e.map_info(*h).map_err(|err| err.to_string())?;
        if info.map_type == ebpf_core::MapType::PerfEventArray as u32 {
            e.perf_enable(*h).map_err(|err| err.to_string())?;
        }
    }
    let mut runs = Vec::new();
    for (i, text) in packets.iter().enumerate() {
        let data = hex::decode(text).map_err(|err| format!("packet {}: {err}", i + 1))?;
        let r = e
            .prog_test_run(handle, &data, repeat)
            .map_err(|err| err.to_string())?;
        if json_out {
            runs.push(json!({
                "packet": i + 1,
                "retval": r.retval,
                "verdict": if is_xdp { Some(xdp_verdict(r.retval)) } else { None },
                "duration_ns": r.duration_ns,
                "data_out": hex::encode(&r.data_out),
            }));
        } else {
            let verdict = if is_xdp {
                format!(" ({})", xdp_verdict(r.retval))
            } else {
                String::new()
            };
            println!(
                "packet {}: {name} -> {}{verdict}, {} ns",
                i + 1,
                r.retval,
                r.duration_ns
            );
            if r.data_out != data {
                println!("  data out: {}", hex::encode(&r.data_out));
            }
        }
    }
    let mut maps_json = Vec::new();
    for (map_name, h) in &loaded.maps {
        let info = e.map_info(*h).map_err(|err| err.to_string())?;
        if info.map_type == ebpf_core::MapType::RingBuf as u32 {
            let records = e.ringbuf_consume(*h).map_err(|err| err.to_string())?;
            if json_out {
                let items: Vec<_> = records.iter().map(|r| hex::encode(r)).collect();
                maps_json.push(json!({"name": map_name, "type": "ringbuf", "records": items}));
            } else {
                println!("map {map_name} (ringbuf, {} records):", records.len());
                for r in &records {
                    println!("  {}", hex::encode(r));
                }
            }
            continue;
        }
        if info.map_type == ebpf_core::MapType::PerfEventArray as u32 {
            let mut slots = Vec::new();
            for slot in 0..info.max_entries {
                let (records, lost) = e.perf_consume(*h, slot).map_err(|err| err.to_string())?;
                if !records.is_empty() || lost != 0 {
                    slots.push((slot, records, lost));
                }
            }
            if json_out {
                let items: Vec<_> = slots
                    .iter()
                    .map(|(slot, records, lost)| {
                        let records: Vec<_> = records.iter().map(|r| hex::encode(r)).collect();
                        json!({"slot": slot, "records": records, "lost": lost})
                    })
                    .collect();
                maps_json
                    .push(json!({"name": map_name, "type": "perf_event_array", "slots": items}));
            } else {
                let total: usize = slots.iter().map(|(_, r, _)| r.len()).sum();
                println!("map {map_name} (perf_event_array, {total} records):");
                for (slot, records, lost) in &slots {
                    for r in records {
                        println!("  cpu {slot}: {}", hex::encode(r));
                    }
                    if *lost != 0 {
                        println!("  cpu {slot}: {lost} lost");
                    }
                }
            }
            continue;
        }
        let elems = dump_map(e, *h)?;
        if json_out {
            let items: Vec<_> = elems.iter().map(|(k, v)| element_json(k, v)).collect();
            maps_json.push(
                json!({"name": map_name, "type": map_type_name(info.map_type), "elements": items}),
            );
            continue;
        }
        println!(
            "map {map_name} ({}, {} elements):",
            map_type_name(info.map_type),
            elems.len()
        );
        for (k, v) in &elems {
            print_element(k, v);
        }
    }
    if json_out {
        let doc = json!({"program": name, "section": section, "runs": runs, "maps": maps_json});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    Ok(())
}
