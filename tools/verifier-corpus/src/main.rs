//! `ebpf-verifier-corpus TESTS.jsonl`: runs the verifier on the
//! instruction-level verifier tests of Linux 6.12's BPF selftests
//! (extracted by `extract.sh`) and compares its verdicts with Linux's, the
//! tables' expected results. Tests of socket filter, tc and XDP programs
//! are *comparable*; tests that need what the runtime does not provide
//! (other program types, map types, BTF, kfuncs) are counted apart, with
//! why. With `--host`, the host kernel's verifier (where `bpf(2)` is
//! usable) runs on the same tests as the oracle. Exits with failure if the
//! verifier accepts a comparable program Linux (the tables or the host)
//! rejects.

use std::collections::BTreeMap;
use std::process::ExitCode;

use ebpf_core::insn::Insn;
use ebpf_core::maps::flags::BPF_F_RDONLY_PROG;
use ebpf_core::opcode::*;
use ebpf_core::verifier::{self, MapDesc, Subject};
use ebpf_core::{MapType, ProgType};
use serde_json::Value;

const ACCEPT: u64 = 1;
const REJECT: u64 = 2;
const VERBOSE_ACCEPT: u64 = 3;

const fn map(
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
) -> MapDesc {
    MapDesc {
        map_type,
        key_size,
        value_size,
        max_entries,
        flags,
        inner: None,
        record: ebpf_core::graph::types::Record::EMPTY,
    }
}

/// The maps test_verifier creates for each fixup list it handles here
/// (`create_map`/`create_prog_array` in test_verifier.c).
fn fixup_map(name: &str) -> Option<MapDesc> {
    Some(match name {
        "hash_8b" => map(MapType::Hash, 8, 8, 1, 0),
        "hash_48b" => map(MapType::Hash, 8, 48, 1, 0),
        "hash_16b" => map(MapType::Hash, 8, 16, 1, 0),
        "array_48b" => map(MapType::Array, 4, 48, 1, 0),
        "array_ro" => map(MapType::Array, 4, 48, 1, BPF_F_RDONLY_PROG),
        "array_small" => map(MapType::Array, 4, 1, 1, 0),
        "ringbuf" => map(MapType::RingBuf, 0, 0, 4096, 0),
        // struct { int cnt; struct bpf_spin_lock l; }
        "spin_lock" => MapDesc {
            record: ebpf_core::graph::types::Record::spin_lock_at(4, 8).ok()?,
            ..map(MapType::Array, 4, 8, 1, 0)
        },
        "prog1" => map(MapType::ProgArray, 4, 4, 4, 0),
        "prog2" => map(MapType::ProgArray, 4, 4, 8, 0),
        _ => return None,
    })
}

/// Why a test is not comparable, or `None` if it is.
fn not_comparable(t: &Value, insns: &[Insn]) -> Option<String> {
    let kfunc = insns
        .iter()
        .any(|i| i.opcode == BPF_JMP | BPF_CALL && i.src == BPF_PSEUDO_KFUNC_CALL);
    if t["btf"].as_bool() == Some(true) || t["kfunc"].as_bool() == Some(true) || kfunc {
        return Some("uses BTF or kfuncs".into());
    }
    for (k, v) in t.as_object()? {
        let used = v.as_array().is_some_and(|a| !a.is_empty());
        if used && fixup_map(k).is_none() {
            return Some(format!("needs a map this runtime does not provide ({k})"));
        }
    }
    let _ = insns;
    if t["flags"].as_u64().unwrap_or(0) & 2 != 0 {
        return Some("BPF_F_STRICT_ALIGNMENT (not provided)".into());
    }
    match prog_type_of(t) {
        Some(_) => None,
        None => Some(format!("program type {}", t["prog_type"])),
    }
}

/// Map references resolved as the device resolves them (a map, or an
/// offset inside its value), against the test's maps.
struct TestMaps<'a>(&'a [MapDesc]);

impl ebpf_core::PseudoResolver for TestMaps<'_> {
    fn resolve(
        &self,
        pc: usize,
        src: u8,
        imm: i32,
        next: i32,
    ) -> Result<u64, ebpf_core::LoadError> {
        let bad = ebpf_core::LoadError::BadMapReference {
            pc,
            map: imm,
            offset: next,
        };
        let map = usize::try_from(imm)
            .ok()
            .and_then(|i| self.0.get(i))
            .ok_or(bad)?;
        match src {
            BPF_PSEUDO_MAP_FD if next == 0 => Ok(0x1000),
            BPF_PSEUDO_MAP_VALUE if (next as u32) < map.value_size => Ok(0x1000),
            BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => Err(bad),
            _ => Err(ebpf_core::LoadError::Unsupported {
                pc,
                what: "lddw of a BTF object",
            }),
        }
    }
}

/// The program type a test names (test_verifier loads type 0, unset, as a
/// socket filter), if the runtime provides it.
fn prog_type_of(t: &Value) -> Option<ProgType> {
    match t["prog_type"].as_u64().unwrap_or(0) {
        0 | 1 => Some(ProgType::SocketFilter),
        3 => Some(ProgType::SchedCls),
        4 => Some(ProgType::SchedAct),
        6 => Some(ProgType::Xdp),
        _ => None,
    }
}

/// The host kernel's verifier on the same tests: how often it agrees with
/// the tables (written for 6.12) and with ours.
#[derive(Default)]
struct HostOracle {
    /// Tests the host loaded, and of those, accepted.
    loaded: usize,
    accepted: usize,
    /// Tests where the host and the table disagree, and the host and we.
    against_table: Vec<String>,
    against_us: Vec<String>,
    /// Of the tests the host accepts / rejects, how many we do too.
    both_accept: usize,
    both_reject: usize,
    rejected: usize,
    /// Time the host's `BPF_PROG_LOAD`s took.
    host_ns: u128,
}

impl HostOracle {
    /// Loads the test into the host kernel with maps like test_verifier's.
    fn compare(
        &mut self,
        name: &str,
        prog_type: ProgType,
        insns: &[Insn],
        maps: &[MapDesc],
        expected: u64,
    ) {
        let mut host_maps = Vec::new();
        for m in maps {
            let Ok(map) = host_bpf::Map::create_with_flags(
                m.map_type as u32,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.flags,
            ) else {
                return;
            };
            host_maps.push(map);
        }
        let mut code = insns.to_vec();
        for i in &mut code {
            if i.opcode == BPF_LD | BPF_IMM | BPF_DW
                && matches!(i.src, BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE)
            {
                if let Some(m) = usize::try_from(i.imm).ok().and_then(|k| host_maps.get(k)) {
                    i.imm = m.fd();
                }
            }
        }
        let bytes: Vec<u8> = code.iter().flat_map(|i| i.to_bytes()).collect();
        let started = std::time::Instant::now();
        let host = host_bpf::Program::load(prog_type as u32, &bytes, 0);
        self.host_ns += started.elapsed().as_nanos();
        // The reason, from a second load with a log.
        let host = host.map_err(|_| host_bpf::Program::load(prog_type as u32, &bytes, 1));
        let host = match host {
            Ok(p) => Ok(p),
            Err(Ok(_)) => return,
            Err(Err(e)) => Err(e),
        };
        let why = match &host {
            Ok(_) => String::new(),
            Err(e) => {
                let last = e
                    .log
                    .lines()
                    .rev()
                    .find(|l| !l.starts_with("processed") && !l.is_empty());
                format!(": {}", last.unwrap_or(&e.error.to_string()))
            }
        };
        let host_accepts = host.is_ok();
        let ours = verify(prog_type, insns, maps, true, &mut String::new()).is_ok();
        self.loaded += 1;
        self.accepted += host_accepts as usize;
        self.rejected += !host_accepts as usize;
        if host_accepts != (expected != REJECT) {
            self.against_table
                .push(format!("{name} (host {})", verdict(host_accepts)));
        }
        match (host_accepts, ours) {
            (true, true) => self.both_accept += 1,
            (false, false) => self.both_reject += 1,
            _ => self.against_us.push(format!(
                "{name} (host {}{why}; ours {})",
                verdict(host_accepts),
                verdict(ours)
            )),
        }
    }

    fn report(&self, verbose: bool) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "  the host kernel ({}) on the {} comparable tests: accepts {}, rejects {}; \
             it differs from the tables on {}",
            release.trim(),
            self.loaded,
            self.accepted,
            self.rejected,
            self.against_table.len()
        );
        println!(
            "    of the {} it accepts we accept {}; of the {} it rejects we reject {}",
            self.accepted, self.both_accept, self.rejected, self.both_reject
        );
        println!(
            "    its BPF_PROG_LOAD (verifier, JIT, allocation): {:.3} ms each",
            self.host_ns as f64 / 1e6 / self.loaded.max(1) as f64
        );
        if verbose {
            for w in &self.against_table {
                println!("    host and table differ: {w}");
            }
        }
        for w in &self.against_us {
            println!("    host and we differ: {w}");
        }
    }
}

fn verdict(accepted: bool) -> &'static str {
    if accepted {
        "accepts"
    } else {
        "rejects"
    }
}

/// The rules Linux applies only to callers who may not see addresses
/// (`allow_ptr_leaks`, and `allow_uninit_stack` with the same privilege),
/// by the words of their messages.
const LEAK_WORDS: &[&str] = &[
    "leaks addr",
    "pointer comparison prohibited",
    "partial copy of pointer",
    "corrupt spilled pointer",
    "leaking pointer",
    "pointer -= pointer",
    "read from stack",
];

/// Runs the loader's structural checks, as `PROG_LOAD` does, then the
/// verifier; the first error's words.
fn verify(
    prog_type: ProgType,
    insns: &[Insn],
    maps: &[MapDesc],
    allow_ptr_leaks: bool,
    log: &mut String,
) -> Result<(), String> {
    let subject = Subject {
        prog_type,
        attach: Default::default(),
        gpl: true,
        maps,
        map_of_lddw: &|src, imm| {
            (src == BPF_PSEUDO_MAP_FD || src == BPF_PSEUDO_MAP_VALUE)
                .then_some(imm as usize)
                .filter(|&i| i < maps.len())
        },
        allow_ptr_leaks,
        exception_cb: None,
        obj_type: &|_| None,
        obj_btf: &[],
    };
    let helpers = prog_type.helpers();
    ebpf_core::Program::check(
        insns,
        &ebpf_core::LoadOptions::default()
            .helpers(&helpers)
            .resolver(&TestMaps(maps)),
    )
    .map_err(|e| e.to_string())?;
    verifier::verify(insns, &subject, log, 1)
        .map(|_| ())
        .map_err(|e| e.reason.to_string())
}

fn decode(hex: &str) -> Vec<Insn> {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    bytes
        .chunks_exact(8)
        .map(|c| Insn::from_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ebpf-verifier-corpus TESTS.jsonl [--verbose]");
        return ExitCode::FAILURE;
    };
    let verbose = std::env::args().any(|a| a == "--verbose");
    let mut host = std::env::args()
        .any(|a| a == "--host")
        .then(|| match host_bpf::unavailable() {
            None => Some(HostOracle::default()),
            Some(why) => {
                println!("verifier corpus: no comparison with the host kernel: {why}");
                None
            }
        })
        .flatten();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ebpf-verifier-corpus: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let (mut acc_total, mut acc_ok, mut rej_total, mut rej_ok, mut rej_words) = (0, 0, 0, 0, 0);
    let mut wrongly_accepted = Vec::new();
    let mut wrongly_rejected = Vec::new();
    let mut ours_ns = 0u128;
    let mut verified = 0usize;
    let (mut leak_total, mut leak_ok) = (0, 0);
    let (mut leak_other, mut leak_missed) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(t) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let name = t["name"].as_str().unwrap_or("?").to_string();
        let mut insns = decode(t["insns"].as_str().unwrap_or(""));
        if let Some(why) = not_comparable(&t, &insns) {
            *skipped.entry(why).or_default() += 1;
            continue;
        }
        // Maps: one per fixup list used, each lddw at a fixup pointing at it.
        let mut maps = Vec::new();
        for (k, v) in t.as_object().into_iter().flatten() {
            let Some(list) = v.as_array().filter(|a| !a.is_empty()) else {
                continue;
            };
            let Some(desc) = fixup_map(k) else { continue };
            let index = maps.len() as i32;
            maps.push(desc);
            for pc in list.iter().filter_map(Value::as_u64) {
                if let Some(i) = insns.get_mut(pc as usize) {
                    i.imm = index;
                }
            }
        }
        let expected = t["result"].as_u64().unwrap_or(0);
        let prog_type = prog_type_of(&t).unwrap_or(ProgType::Xdp);
        if let Some(h) = host.as_mut() {
            h.compare(&name, prog_type, &insns, &maps, expected);
        }
        // test_verifier runs as root: Linux's verdict is that of a caller
        // who may see addresses.
        let mut log = String::new();
        let started = std::time::Instant::now();
        let ours = verify(prog_type, &insns, &maps, true, &mut log);
        ours_ns += started.elapsed().as_nanos();
        verified += 1;
        // Without CAP_PERFMON Linux refuses some of what it accepts from
        // root because the program would expose an address; so must we
        // without the privilege.
        let unpriv_words = t["errstr_unpriv"].as_str().unwrap_or("");
        let leak_rule = LEAK_WORDS.iter().any(|w| unpriv_words.contains(w));
        if t["result_unpriv"].as_u64() == Some(REJECT) && ours.is_ok() && leak_rule {
            leak_total += 1;
            let unpriv = verify(prog_type, &insns, &maps, false, &mut String::new());
            match unpriv {
                Err(e) if LEAK_WORDS.iter().any(|w| e.contains(w)) => leak_ok += 1,
                Err(e) => {
                    leak_other.push(format!("{name}: ours \"{e}\", Linux's \"{unpriv_words}\""))
                }
                Ok(()) => leak_missed.push(format!("{name} (Linux: {unpriv_words})")),
            }
        }
        match (expected, &ours) {
            (ACCEPT | VERBOSE_ACCEPT, Ok(_)) => {
                acc_total += 1;
                acc_ok += 1;
            }
            (ACCEPT | VERBOSE_ACCEPT, Err(e)) => {
                acc_total += 1;
                wrongly_rejected.push(format!("{name}: {e}"));
            }
            (REJECT, Err(e)) => {
                rej_total += 1;
                rej_ok += 1;
                let words = t["errstr"].as_str().unwrap_or("");
                if words.split('\t').all(|w| e.contains(w) || log.contains(w)) {
                    rej_words += 1;
                } else if verbose {
                    println!("  other words: {name}: ours \"{e}\", Linux's \"{words}\"");
                }
            }
            (REJECT, Ok(_)) => {
                rej_total += 1;
                wrongly_accepted.push(format!(
                    "{name} (Linux: {})",
                    t["errstr"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }
    let ms = ours_ns as f64 / 1e6;
    println!("verifier corpus: Linux 6.12 selftests, tools/testing/selftests/bpf/verifier/*.c");
    println!(
        "  comparable: {} tests ({} verified in {ms:.0} ms, {:.3} ms each)",
        acc_total + rej_total,
        verified,
        ms / verified.max(1) as f64
    );
    println!(
        "  Linux accepts {acc_total}: we accept {acc_ok} ({:.1}%)",
        100.0 * acc_ok as f64 / acc_total.max(1) as f64
    );
    println!(
        "  Linux rejects {rej_total}: we reject {rej_ok} ({:.1}%), {rej_words} with Linux's words",
        100.0 * rej_ok as f64 / rej_total.max(1) as f64
    );
    println!(
        "  Linux accepts from root but not without CAP_PERFMON (exposing an address, reading unwritten stack): {leak_total}: \
         we reject {leak_ok} without the privilege for the same reason"
    );
    for w in &leak_other {
        println!("    other reason: {w}");
    }
    println!("  not comparable:");
    for (why, n) in &skipped {
        println!("    {n:4}  {why}");
    }
    if verbose || !wrongly_rejected.is_empty() {
        println!("  accepted by Linux, rejected here:");
        for w in &wrongly_rejected {
            println!("    {w}");
        }
    }
    if let Some(h) = &host {
        h.report(verbose);
    }
    if !leak_missed.is_empty() {
        println!("  ACCEPTED WITHOUT THE PRIVILEGE TO SEE ADDRESSES:");
        for w in &leak_missed {
            println!("    {w}");
        }
    }
    let host_refused_accepted = host.as_ref().is_some_and(|h| h.both_reject < h.rejected);
    if !wrongly_accepted.is_empty() || !leak_missed.is_empty() || host_refused_accepted {
        println!("  REJECTED BY LINUX, ACCEPTED HERE:");
        for w in &wrongly_accepted {
            println!("    {w}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
