//! `ebpf-progs-corpus OUT [--title TITLE]`: the socket filter, tc and XDP
//! programs of the objects in `OUT/obj` (Linux's BPF selftests,
//! `tools/testing/selftests/bpf/progs/*.c` but `verifier_*.c`, built there
//! by `build.sh`; or other projects' objects, such as xdp-tools'), each
//! loaded alone
//! here (the embedded backend) and on the host kernel (`OUT/host-run`,
//! libbpf), and run on the same frames on both. Reports how many of the
//! programs the host loads load here, why the others do not (grouped by
//! cause), and how many return values agree. Fails when a program the host
//! refuses loads here (but the known differences below) or when fewer than
//! 95% of the compared runs agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::{Ebpf, Error};
use serde_json::Value;

/// Ethernet + IPv4 + TCP SYN to port 80, with correct checksums.
const TCP4: &str = "020000000002020000000001080045000028000100004006\
                    66c30a0000010a000002c000005000000001000000005002200009c20000";
/// Ethernet + IPv6 + UDP to port 53, 8 bytes of payload.
const UDP6: &str = "02000000000202000000000186dd6000000000101140fe800000000000000000000000000001\
                    fe800000000000000000000000000002c000003500100000deadbeefcafef00d";
/// A short frame: an Ethernet header and two bytes.
const SHORT: &str = "ffffffffffff02000000000108060001";

/// Programs the host refuses and this runtime loads, on purpose or as a
/// known limit: (object/program, why).
const KNOWN: &[(&str, &str)] = &[
    (
        "test_global_func7/global_func7",
        "global functions are verified in their callers' context here, not alone \
         from their BTF signature as Linux does (which refuses one returning void)",
    ),
    (
        "preempt_lock/preempt_global_subprog_test",
        "global and static functions are not told apart here (the ABI carries no \
         BTF linkage): Linux refuses calling a global one with preemption disabled",
    ),
    (
        "test_spin_lock_fail/lock_global_subprog_call1",
        "global and static functions are not told apart here (the ABI carries no \
         BTF linkage): Linux refuses calling a global one with a lock held",
    ),
    (
        "test_spin_lock_fail/lock_global_subprog_call2",
        "global and static functions are not told apart here (the ABI carries no \
         BTF linkage): Linux refuses calling a global one with a lock held",
    ),
];

/// The host's verdict on one program.
struct Host {
    section: String,
    loaded: bool,
    error: String,
    /// libbpf's last warning, when the load failed.
    why: String,
    retvals: Vec<i64>,
}

impl Host {
    /// libbpf failed the whole object, not the kernel this program: an
    /// extern of another program it could not resolve (a kfunc of a test
    /// module), a program array slot naming a program loaded apart.
    fn object_failed(&self) -> bool {
        !self.loaded
            && (self.why.contains("not found in kernel or module BTFs")
                || self.why.contains("failed to initialize slot"))
    }
}

/// Why a program does not load here, for grouping: the message without
/// the program's own numbers and names.
fn cause(err: &Error) -> String {
    let log = err.log.clone().unwrap_or_default();
    // The loader prefixes the program and section.
    let detail = log.split_once("): ").map_or(log.as_str(), |(_, d)| d);
    let line = detail
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("processed"))
        .unwrap_or("");
    let line = if line.is_empty() {
        err.to_string()
    } else {
        line.to_string()
    };
    // "insn 12: unknown func #71" -> "unknown func #71".
    let line = match line.split_once(": ") {
        Some((head, rest)) if head.starts_with("insn ") => rest.to_string(),
        _ => line,
    };
    let mut out = String::new();
    let mut in_digits = false;
    for c in line.chars().take(90) {
        // Keep helper and map type numbers, drop offsets and registers.
        let keep = out.ends_with('#') || out.ends_with("type ") || out.ends_with("id ");
        let after = |p: char| p == 'R' || p == '=' || p == ' ' || p == '-' || p == '+';
        if c.is_ascii_digit() && !keep && !in_digits && out.ends_with(after) {
            out.push('N');
            in_digits = true;
            continue;
        }
        if in_digits && c.is_ascii_digit() {
            continue;
        }
        in_digits = false;
        out.push(c);
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

fn host_results(runner: &Path, object: &Path) -> BTreeMap<String, Host> {
    let out = Command::new(runner)
        .arg(object)
        .args([TCP4, UDP6, SHORT])
        .output();
    let mut results = BTreeMap::new();
    let Ok(out) = out else {
        return results;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(name) = v["program"].as_str() else {
            continue;
        };
        results.insert(
            name.to_string(),
            Host {
                section: v["section"].as_str().unwrap_or("").to_string(),
                loaded: v["loaded"].as_bool().unwrap_or(false),
                error: v["error"].as_str().unwrap_or("").to_string(),
                why: v["why"].as_str().unwrap_or("").trim().to_string(),
                retvals: v["retvals"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default(),
            },
        );
    }
    results
}

/// Our return value on `frame`: r0's low 32 bits, or the negated errno.
fn our_run(e: &Ebpf, prog: u32, frame: &[u8]) -> i64 {
    match e.prog_test_run(prog, frame, 1) {
        Ok(r) => r.retval as i64,
        Err(err) => -(err.errno.0 as i64),
    }
}

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: ebpf-progs-corpus OUT [--verbose] [--title TITLE]");
        return ExitCode::FAILURE;
    };
    let verbose = std::env::args().any(|a| a == "--verbose");
    // What OUT/obj holds, for the report.
    let title = std::env::args()
        .skip_while(|a| a != "--title")
        .nth(1)
        .unwrap_or_else(|| "Linux 6.12 selftests progs/*.c (verifier_*.c excluded)".into());
    if let Some(why) = host_bpf::unavailable() {
        println!(
            "progs corpus: skipped, the host's bpf(2) is the reference and is unusable: {why}"
        );
        return ExitCode::SUCCESS;
    }
    let runner = out.join("host-run");
    let mut objects: Vec<PathBuf> = match std::fs::read_dir(out.join("obj")) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!("ebpf-progs-corpus: {}: {e}", out.join("obj").display());
            return ExitCode::FAILURE;
        }
    };
    objects.sort();
    let frames = [hex(TCP4), hex(UDP6), hex(SHORT)];
    let (mut host_loads, mut both_load, mut host_refuses) = (0, 0, 0);
    let mut host_object_failed = 0;
    let mut known_differences = Vec::new();
    let (mut runs, mut agree) = (0, 0);
    let mut causes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut loaded_but_refused_by_host = Vec::new();
    let mut disagreements = Vec::new();
    for path in &objects {
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let host = host_results(&runner, path);
        if host.is_empty() {
            continue;
        }
        let bytes = std::fs::read(path).unwrap_or_default();
        let parsed = BpfObject::parse(&bytes);
        for (name, h) in &host {
            let id = format!("{stem}/{name} ({})", h.section);
            let ours = match &parsed {
                Err(e) => Err(format!("object refused: {}", e.0)),
                Ok(obj) => {
                    // A fresh device per program: nothing pinned carries over.
                    let e = Ebpf::embedded().expect("embedded device");
                    match e.load_object_programs(obj, Some(name)) {
                        Ok(loaded) => Ok((e, loaded.program(name))),
                        Err(err) => Err(cause(&err)),
                    }
                }
            };
            if h.object_failed() {
                host_object_failed += 1;
                continue;
            }
            if !h.loaded {
                host_refuses += 1;
                let known = KNOWN.iter().find(|(k, _)| *k == format!("{stem}/{name}"));
                match (ours.is_ok(), known) {
                    (true, Some((_, why))) => known_differences.push(format!("{id}: {why}")),
                    (true, None) => {
                        loaded_but_refused_by_host.push(format!("{id}: host: {}", h.error))
                    }
                    _ => {}
                }
                continue;
            }
            host_loads += 1;
            match ours {
                Err(why) => causes.entry(why).or_default().push(id),
                Ok((e, prog)) => {
                    both_load += 1;
                    let Some(prog) = prog else { continue };
                    for (i, frame) in frames.iter().enumerate() {
                        let Some(&theirs) = h.retvals.get(i) else {
                            continue;
                        };
                        let mine = our_run(&e, prog, frame);
                        runs += 1;
                        if mine == theirs {
                            agree += 1;
                        } else {
                            disagreements
                                .push(format!("{id} frame {i}: ours {mine}, host {theirs}"));
                        }
                    }
                }
            }
        }
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("progs corpus: {title}, {} objects", objects.len());
    println!(
        "  socket filter, tc and XDP programs the host loads: {host_loads}; loaded here: {both_load} ({:.1}%)",
        pct(both_load, host_loads)
    );
    println!(
        "  test runs compared: {runs}; same return value: {agree} ({:.1}%)",
        pct(agree, runs)
    );
    println!(
        "  the host refuses {host_refuses}; of those, loaded here: {}",
        loaded_but_refused_by_host.len()
    );
    println!(
        "  not compared: {host_object_failed} whose object libbpf could not load program by program \
         (externs of other programs, program array slots)"
    );
    let mut ranked: Vec<_> = causes.iter().collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1.len()));
    println!("  not loaded here, by cause:");
    for (why, progs) in &ranked {
        println!("    {:4}  {why}", progs.len());
        if verbose {
            for p in progs.iter() {
                println!("            {p}");
            }
        }
    }
    if !disagreements.is_empty() {
        println!("  runs that disagree:");
        for d in disagreements
            .iter()
            .take(if verbose { usize::MAX } else { 20 })
        {
            println!("    {d}");
        }
    }
    for d in &known_differences {
        println!("  known difference: {d}");
    }
    if !loaded_but_refused_by_host.is_empty() {
        println!("  LOADED HERE, REFUSED BY THE HOST:");
        for d in &loaded_but_refused_by_host {
            println!("    {d}");
        }
    }
    if !loaded_but_refused_by_host.is_empty() || pct(agree, runs) < 95.0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
