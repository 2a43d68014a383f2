//! `ebpfctl verify FILE.o`: the loader and the verifier on each program of
//! an object, keeping nothing.

use std::path::Path;

use libebpf_ioctl::{Admission, Ebpf};
use serde_json::{json, Value};

use crate::objrun;

/// One program's verdict.
struct Verdict {
    program: String,
    section: String,
    accepted: bool,
    /// Verified (runs without run-time checks), rather than admitted with
    /// run-time checks because the verifier does not model its type.
    verified: bool,
    error: Option<String>,
    processed: Option<u64>,
    usec: Option<u64>,
    log: String,
}

/// "processed N insns" from the verifier's log.
fn processed(log: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.strip_prefix("processed "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// "verification time N usec" from the device's log.
fn usec(log: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.strip_prefix("verification time "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The first line that says why, in a rejection's log.
fn first_error(log: &str, fallback: &str) -> String {
    log.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("processed "))
        .unwrap_or(fallback)
        .to_string()
}

fn verdict_of(
    e: &Ebpf,
    obj: &libebpf_ioctl::elf::BpfObject,
    name: &str,
    section: &str,
    verbose: bool,
) -> Verdict {
    let how = Admission {
        log_level: if verbose { 2 } else { 1 },
        ..Default::default()
    };
    match e.load_object_with(obj, Some(name), how) {
        Ok(loaded) => {
            let log = loaded
                .logs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            let verified = loaded
                .program(name)
                .and_then(|h| e.prog_info(h).ok())
                .is_some_and(|i| i.flags & ebpf_core::abi::PROG_INFO_VERIFIED != 0);
            for (_, _, h) in &loaded.programs {
                let _ = e.close(*h);
            }
            for (_, h) in &loaded.maps {
                let _ = e.close(*h);
            }
            Verdict {
                program: name.to_string(),
                section: section.to_string(),
                accepted: true,
                verified,
                error: None,
                processed: processed(&log),
                usec: usec(&log),
                log,
            }
        }
        Err(err) => {
            let log = err.log.clone().unwrap_or_default();
            // The loader prefixes the program's name and section.
            let detail = log
                .split_once("): ")
                .map(|(_, rest)| rest.to_string())
                .unwrap_or(log.clone());
            let reason = first_error(&detail, &err.to_string());
            Verdict {
                program: name.to_string(),
                section: section.to_string(),
                accepted: false,
                verified: false,
                error: Some(format!("{reason} ({})", err.errno.name().unwrap_or("?"))),
                processed: None,
                usec: None,
                log: detail,
            }
        }
    }
}

/// Verifies every program of `file` (or only `only`) and prints the
/// verdicts; fails when one was rejected.
pub fn verify(
    e: &Ebpf,
    file: &Path,
    only: Option<&str>,
    verbose: bool,
    json_out: bool,
    prog_type: Option<ebpf_core::ProgType>,
) -> Result<(), String> {
    let obj = objrun::read_object(file, prog_type)?;
    let programs: Vec<(String, String)> = obj
        .programs
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.name))
        .map(|p| (p.name.clone(), p.section.clone()))
        .collect();
    if programs.is_empty() {
        return Err(match only {
            Some(name) => format!("{}: no program `{name}`", file.display()),
            None => format!("{}: no programs", file.display()),
        });
    }
    let verdicts: Vec<Verdict> = programs
        .iter()
        .map(|(name, section)| verdict_of(e, &obj, name, section, verbose))
        .collect();
    if json_out {
        let list: Vec<Value> = verdicts
            .iter()
            .map(|v| {
                json!({
                    "program": v.program, "section": v.section, "accepted": v.accepted,
                    "verified": v.verified, "error": v.error, "insns_processed": v.processed,
                    "verification_usec": v.usec,
                    "log": if verbose { Some(&v.log) } else { None },
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        for v in &verdicts {
            match (&v.error, v.verified) {
                (Some(err), _) => println!("{}: rejected: {err}", v.program),
                (None, true) => println!(
                    "{}: accepted ({} insns processed{})",
                    v.program,
                    v.processed.map_or("?".into(), |n| n.to_string()),
                    v.usec.map_or(String::new(), |us| format!(", {us} us"))
                ),
                (None, false) => println!(
                    "{}: accepted, not verified (its type runs with run-time checks)",
                    v.program
                ),
            }
            if verbose {
                for line in v.log.lines() {
                    println!("  {line}");
                }
            }
        }
    }
    let rejected = verdicts.iter().filter(|v| !v.accepted).count();
    if rejected > 0 {
        return Err(format!(
            "{rejected} of {} programs rejected",
            verdicts.len()
        ));
    }
    Ok(())
}
