//! `ebpfctl net ...` and `ebpfctl link ...`: XDP programs on interfaces,
//! in bpftool's words.

use clap::{Args, Subcommand};
use ebpf_core::abi::{self, ObjKind};
use libebpf_ioctl::{Direction, Ebpf, Interface};
use serde_json::{json, Value};

use crate::objects::{all, print_json, resolve};

/// Which traffic: `--egress` for frames sent, else frames received.
#[derive(Args, Clone, Copy)]
pub struct DirectionArg {
    /// Frames sent through the interface instead of frames it receives.
    #[arg(long)]
    egress: bool,
}

impl DirectionArg {
    fn direction(self) -> Direction {
        if self.egress {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }
}

/// `net` verbs.
#[derive(Subcommand, Clone)]
pub enum NetCmd {
    /// Attach an XDP program (pinned name, id or `id:N`) to an interface:
    /// `net attach PROG dev IFNAME`. The link is pinned (as `--pin` says,
    /// by default `net/IFNAME/ingress` or `.../egress`) so that it stays
    /// after ebpfctl exits.
    Attach {
        /// The program.
        program: String,
        /// The word `dev`.
        #[arg(value_parser = ["dev"])]
        dev: String,
        /// The interface: a name, or an index.
        interface: String,
        #[command(flatten)]
        direction: DirectionArg,
        /// Pin the link under this name.
        #[arg(long, value_name = "NAME")]
        pin: Option<String>,
        /// Replace the program already attached there (atomically) instead
        /// of failing.
        #[arg(long, visible_alias = "overwrite")]
        replace: bool,
    },
    /// Detach the program from an interface: `net detach dev IFNAME`.
    Detach {
        /// The word `dev`.
        #[arg(value_parser = ["dev"])]
        dev: String,
        /// The interface: a name, or an index.
        interface: String,
        #[command(flatten)]
        direction: DirectionArg,
    },
    /// List the programs attached to interfaces.
    List,
}

/// `link` verbs.
#[derive(Subcommand, Clone)]
pub enum LinkCmd {
    /// List the links.
    List,
    /// Show one link.
    Show {
        /// Pinned name, id or `id:N`.
        link: String,
    },
    /// Pin a link under a name (it stays attached until unpinned).
    Pin {
        /// Pinned name, id or `id:N`.
        link: String,
        /// The new name.
        name: String,
    },
    /// Detach a link now, pinned or not.
    Detach {
        /// Pinned name, id or `id:N`.
        link: String,
    },
    /// Remove a link's pin (it detaches when nothing else holds it).
    Unpin {
        /// Pinned name.
        name: String,
    },
}

/// The name of interface `ifindex` as this process sees interfaces.
fn ifname(ifindex: u32) -> Option<String> {
    if ifindex == 0 {
        return None;
    }
    let mut buf = [0u8; abi::IFNAME_LEN];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

fn interface(text: &str) -> Interface<'_> {
    match text.parse::<u32>() {
        Ok(i) => Interface::Index(i),
        Err(_) => Interface::Name(text),
    }
}

fn direction_name(d: u32) -> &'static str {
    match d {
        abi::LINK_INGRESS => "ingress",
        abi::LINK_EGRESS => "egress",
        _ => "?",
    }
}

/// A link as JSON.
pub(crate) fn link_json(e: &Ebpf, h: u32) -> Result<Value, String> {
    let i = e.link_info(h).map_err(|err| err.to_string())?;
    let [aborted, drop, pass, tx, redirect] = i.verdicts;
    Ok(json!({
        "id": i.id, "type": "netdev", "prog_id": i.prog_id,
        "ifindex": i.ifindex, "attached_ifindex": i.attached_ifindex,
        "devname": ifname(i.attached_ifindex),
        "direction": direction_name(i.direction), "attached": i.ifindex != 0,
        "frames": {"aborted": aborted, "drop": drop, "pass": pass, "tx": tx, "redirect": redirect},
    }))
}

fn print_link(v: &Value) {
    let dev = v["devname"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("ifindex {}", v["attached_ifindex"]));
    let state = if v["attached"].as_bool() == Some(true) {
        ""
    } else {
        "  (detached)"
    };
    let f = &v["frames"];
    println!(
        "{}: netdev  prog {}  dev {dev}  {}{state}  frames: pass {} drop {} aborted {} tx {}",
        v["id"],
        v["prog_id"],
        v["direction"].as_str().unwrap_or("?"),
        f["pass"],
        f["drop"],
        f["aborted"],
        f["tx"]
    );
}

/// The live links on `ifindex` in `direction` (all directions: `None`).
fn links_on(e: &Ebpf, ifindex: u32, direction: Option<u32>) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for id in e.ids(ObjKind::Link).map_err(|err| err.to_string())? {
        let Ok(h) = e.handle_by_id(ObjKind::Link, id) else {
            continue;
        };
        let keep = e.link_info(h).is_ok_and(|i| {
            i.ifindex != 0 && i.ifindex == ifindex && direction.is_none_or(|d| d == i.direction)
        });
        if keep {
            out.push(h);
        } else {
            let _ = e.close(h);
        }
    }
    Ok(out)
}

/// The index of interface `text` (a name or a number).
fn ifindex_of(text: &str) -> Result<u32, String> {
    if let Ok(i) = text.parse::<u32>() {
        return Ok(i);
    }
    let name = std::ffi::CString::new(text).map_err(|_| format!("`{text}`: not a name"))?;
    // SAFETY: a NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(format!("no interface {text}")),
        i => Ok(i),
    }
}

/// `ebpfctl net ...`.
pub fn net(e: &Ebpf, cmd: NetCmd, json_out: bool) -> Result<(), String> {
    match cmd {
        NetCmd::Attach {
            program,
            interface: dev,
            direction,
            pin,
            replace,
            ..
        } => {
            let prog = resolve(e, ObjKind::Prog, &program)?;
            let d = direction.direction();
            let link = e
                .link_create(prog, &interface(&dev), d, replace)
                .map_err(|err| err.to_string())?;
            let pin = pin.unwrap_or_else(|| default_pin(&dev, d));
            if replace {
                // The replaced link, now detached, may hold the pin.
                if let Ok((old, ObjKind::Link)) = e.get_pinned(&pin) {
                    if e.link_info(old).is_ok_and(|i| i.ifindex == 0) {
                        let _ = e.unpin(&pin);
                    }
                    let _ = e.close(old);
                }
            }
            e.pin(link, &pin).map_err(|err| {
                let _ = e.link_detach(link);
                format!("pin {pin}: {err}")
            })?;
            let info = link_json(e, link)?;
            if json_out {
                print_json(&json!({"link": info, "pinned": pin}));
            } else {
                println!(
                    "attached program {program} to {dev} ({}): link {}, pinned {pin}",
                    direction_name(d as u32),
                    info["id"]
                );
            }
            Ok(())
        }
        NetCmd::Detach {
            interface: dev,
            direction,
            ..
        } => {
            let d = direction.direction();
            let links = links_on(e, ifindex_of(&dev)?, Some(d as u32))?;
            if links.is_empty() {
                return Err(format!(
                    "no program attached to {dev} ({})",
                    direction_name(d as u32)
                ));
            }
            for h in links {
                e.link_detach(h).map_err(|err| err.to_string())?;
                let _ = e.close(h);
            }
            let _ = e.unpin(&default_pin(&dev, d));
            if !json_out {
                println!("detached {dev} ({})", direction_name(d as u32));
            }
            Ok(())
        }
        NetCmd::List => {
            let links: Vec<Value> = all(e, ObjKind::Link)?
                .into_iter()
                .filter(|l| l["attached"].as_bool() == Some(true))
                .collect();
            if json_out {
                print_json(&Value::Array(links));
            } else {
                for l in &links {
                    println!(
                        "{}({}) {} prog {} link {}",
                        l["devname"].as_str().unwrap_or("?"),
                        l["ifindex"],
                        l["direction"].as_str().unwrap_or("?"),
                        l["prog_id"],
                        l["id"]
                    );
                }
            }
            Ok(())
        }
    }
}

/// The pin `net attach` makes when not told one.
fn default_pin(dev: &str, d: Direction) -> String {
    format!("net/{dev}/{}", direction_name(d as u32))
}

/// `ebpfctl link ...`.
pub fn link(e: &Ebpf, cmd: LinkCmd, json_out: bool) -> Result<(), String> {
    match cmd {
        LinkCmd::List => {
            let links = all(e, ObjKind::Link)?;
            if json_out {
                print_json(&Value::Array(links));
            } else {
                links.iter().for_each(print_link);
            }
            Ok(())
        }
        LinkCmd::Show { link } => {
            let h = resolve(e, ObjKind::Link, &link)?;
            let v = link_json(e, h)?;
            let _ = e.close(h);
            if json_out {
                print_json(&v);
            } else {
                print_link(&v);
            }
            Ok(())
        }
        LinkCmd::Pin { link, name } => {
            let h = resolve(e, ObjKind::Link, &link)?;
            e.pin(h, &name).map_err(|err| err.to_string())?;
            let _ = e.close(h);
            Ok(())
        }
        LinkCmd::Detach { link } => {
            let h = resolve(e, ObjKind::Link, &link)?;
            e.link_detach(h).map_err(|err| err.to_string())?;
            let _ = e.close(h);
            Ok(())
        }
        LinkCmd::Unpin { name } => {
            let h = resolve(e, ObjKind::Link, &name)?;
            let _ = e.close(h);
            e.unpin(&name).map_err(|err| format!("unpin {name}: {err}"))
        }
    }
}
