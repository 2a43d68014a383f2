//! bpftool's verbs (`prog ...`, `map ...`) through `ebpfctl batch`, which
//! keeps one device connection, so they run on the embedded backend too
//! (or on the device named by `EBPF_TEST_DEVICE`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Where the example objects are: `EBPF_EXAMPLES`, or where `make
/// examples` puts them (the tests do not build their inputs).
fn examples() -> PathBuf {
    let dir = std::env::var("EBPF_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bpf"));
    assert!(
        dir.join("port_filter.o").is_file(),
        "{}: no example objects: run `make examples` first or set EBPF_EXAMPLES",
        dir.display()
    );
    dir
}

fn backend_args() -> Vec<String> {
    match std::env::var("EBPF_TEST_DEVICE") {
        Ok(path) => vec!["--device".into(), path],
        Err(_) => vec!["--embedded".into()],
    }
}

/// Runs `ebpfctl batch -` with `script`; returns (ok, stdout, stderr).
fn batch(script: &str) -> (bool, String, String) {
    // EBPFCTL names the binary where the build path does not exist (the VM).
    let bin = std::env::var("EBPFCTL").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ebpfctl").into());
    let mut child = Command::new(bin)
        .args(backend_args())
        .args(["--json", "batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The JSON documents printed one after another.
fn documents(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const TCP80: &str = "00000000000000000000000008004500002800000000400600000a0000010a000002c00000500000000000000000500200000000000000000000";

#[test]
fn load_pin_list_run_dump_and_edit_maps() {
    let obj = examples().join("port_filter.o");
    let script = format!(
        "prog load {obj} --pin verbs\n\
         prog list\n\
         map list\n\
         prog run verbs/port_filter --data-hex {TCP80} --data-hex {TCP80}\n\
         map dump verbs/drops\n\
         map update verbs/drops --key 22 --value 0x10 --mode noexist\n\
         map lookup verbs/drops --key 22\n\
         map show verbs/drops\n\
         prog dump verbs/port_filter\n\
         map delete verbs/drops --key 22\n\
         map dump verbs/drops\n\
         prog unload verbs/port_filter\n",
        obj = obj.display()
    );
    let (ok, out, err) = batch(&script);
    assert!(ok, "{err}\n{out}");
    let docs = documents(&out);
    assert_eq!(docs.len(), 9, "{out}");
    let loaded = &docs[0];
    assert_eq!(loaded["programs"][0]["pinned"], "verbs/port_filter");
    assert_eq!(loaded["maps"][0]["pinned"], "verbs/drops");
    let prog_id = &loaded["programs"][0]["id"];
    let progs = docs[1].as_array().unwrap();
    let listed = progs.iter().find(|p| &p["id"] == prog_id).unwrap();
    assert_eq!(listed["type"], "xdp");
    assert_eq!(listed["name"], "port_filter");
    assert!(docs[2]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "drops" && m["type"] == "hash" && m["key_size"] == 2));
    let runs = docs[3]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["retval"] == 1));
    assert_eq!(docs[4][0]["key_int"], 80);
    assert_eq!(docs[4][0]["value_int"], 2);
    assert_eq!(docs[5]["key_int"], 22);
    assert_eq!(docs[5]["value_int"], 16);
    assert_eq!(docs[6]["max_entries"], 64);
    let dump = docs[7].as_array().unwrap();
    let slots: usize = dump
        .iter()
        .map(|i| i["insn"].as_str().unwrap().len() / 16)
        .sum();
    assert_eq!(slots, listed["insns"].as_u64().unwrap() as usize);
    let last = dump.last().unwrap();
    assert_eq!(last["pc"].as_u64().unwrap() as usize, slots - 1);
    assert_eq!(last["insn"], "9500000000000000");
    assert_eq!(dump.last().unwrap()["text"], "exit");
    assert!(
        dump.iter()
            .any(|i| i["text"].as_str().unwrap().contains("map_idx")),
        "map references show in the dump"
    );
    assert_eq!(docs[8].as_array().unwrap().len(), 1, "22 was deleted");
}

#[test]
fn errors_are_one_line_with_the_errno() {
    let obj = examples().join("port_filter.o");
    let cases = [
        (
            "prog show no-such-pin",
            "line 1: program `no-such-pin`: get pinned: ENOENT",
        ),
        (
            "prog dump id:4000000",
            "line 1: program id 4000000: get handle by id: ENOENT",
        ),
        (
            "prog load /nonexistent.o",
            "line 1: cannot read object file /nonexistent.o: no such file",
        ),
        ("map update verbs2/drops --key 1 --value 1", "ENOENT"),
        ("prog run verbs2/x --data-hex 0", "ENOENT"),
        ("map pin bad/ x", "get pinned: EINVAL"),
        ("frobnicate", "line 1: error: unrecognized subcommand"),
    ];
    for (script, want) in cases {
        let (ok, _, err) = batch(script);
        assert!(!ok, "{script}");
        assert!(err.contains(want), "{script}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{script}: {err}");
    }
    // Keys are checked against the map's key size before any request.
    let script = format!(
        "prog load {} --pin verbs3\nmap lookup verbs3/drops --key 70000\n",
        obj.display()
    );
    let (ok, _, err) = batch(&script);
    assert!(!ok);
    assert!(
        err.contains("line 2: key: 70000 does not fit in 2 bytes"),
        "{err}"
    );
    let script = format!(
        "prog load {} --pin verbs4\nmap lookup verbs4/drops --key hex:0102aa\n",
        obj.display()
    );
    let (_, _, err) = batch(&script);
    assert!(err.contains("is 3 bytes, need 2"), "{err}");
    let text = std::env::temp_dir().join(format!("verbs-{}.txt", std::process::id()));
    std::fs::write(&text, "not an object\n").unwrap();
    let (_, _, err) = batch(&format!("prog load {}", text.display()));
    let _ = std::fs::remove_file(&text);
    assert!(err.contains("not an ELF object"), "{err}");
}

/// Runs `ebpfctl` with `args` (after the backend flags); returns (ok,
/// stdout, stderr).
fn ebpfctl(args: &[&str]) -> (bool, String, String) {
    let bin = std::env::var("EBPFCTL").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ebpfctl").into());
    let out = Command::new(bin)
        .args(backend_args())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The one line of an error, which must mention every one of `words`.
fn one_line_error((ok, _, err): (bool, String, String), words: &[&str]) {
    assert!(!ok, "must fail: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("ebpfctl: "), "{err}");
    for w in words {
        assert!(err.contains(w), "`{w}` in: {err}");
    }
}

#[test]
fn load_and_unload_are_top_level_verbs_listed_first() {
    let (ok, help, _) = ebpfctl(&["--help"]);
    assert!(ok);
    let verbs: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .take(2)
        .collect();
    assert_eq!(verbs, ["load", "unload"]);
    let obj = examples().join("tail_call.o");
    let obj = obj.to_str().unwrap();
    // The same code as `prog load`: the same report.
    let (ok, top, err) = ebpfctl(&["--json", "load", obj]);
    assert!(ok, "{err}");
    let (ok, prog, _) = ebpfctl(&["--json", "prog", "load", obj]);
    assert!(ok);
    let names = |text: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap();
        v["programs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&top), names(&prog));
    assert_eq!(names(&top).len(), 3);
    // --prog loads that program only (libbpf's autoload), with the
    // programs it reaches by tail calls through the object's prog_array.
    let (ok, one, err) = ebpfctl(&["--json", "load", obj, "--prog", "handle_udp"]);
    assert!(ok, "{err}");
    assert_eq!(names(&one), ["handle_udp"]);
    let (ok, all, err) = ebpfctl(&["--json", "load", obj, "--prog", "dispatch"]);
    assert!(ok, "{err}");
    assert_eq!(names(&all), ["handle_tcp", "handle_udp", "dispatch"]);
    // Pin, then unload through the top-level verb.
    let (ok, _, err) = batch(&format!(
        "load {obj} --prog handle_tcp --pin clitest\nunload clitest/handle_tcp\nprog show clitest/handle_tcp\n"
    ));
    assert!(!ok, "the program's pin is gone");
    assert!(err.contains("line 3") && err.contains("ENOENT"), "{err}");
    let _ = batch("map list\n"); // nothing else to clean: map pins were not made
}

#[test]
fn every_verb_says_in_one_line_what_is_wrong_with_its_input() {
    let missing = "/nonexistent/prog.o";
    for args in [
        vec!["load", missing],
        vec!["prog", "load", missing],
        vec!["run", missing],
        vec!["prog", "run", missing],
    ] {
        one_line_error(ebpfctl(&args), &[missing, "no such file"]);
    }
    let dir = std::env::temp_dir().join(format!("ebpfctl-unreadable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    one_line_error(ebpfctl(&["load", d]), &[d, "cannot read object file"]);
    let not_elf = dir.join("not-elf.o");
    std::fs::write(&not_elf, b"not an object").unwrap();
    one_line_error(
        ebpfctl(&["load", not_elf.to_str().unwrap()]),
        &["not-elf.o"],
    );
    let obj = examples().join("port_filter.o");
    let obj = obj.to_str().unwrap();
    for verb in [vec!["load"], vec!["prog", "load"], vec!["run"]] {
        let mut args = verb.clone();
        args.extend([obj, "--prog", "no_such_prog"]);
        one_line_error(ebpfctl(&args), &["no_such_prog", "port_filter"]);
    }
    one_line_error(
        ebpfctl(&["unload", "no/such/pin"]),
        &["no/such/pin", "ENOENT"],
    );
    // A pin name that is taken.
    let (ok, _, err) = batch(&format!("load {obj} --pin taken\nload {obj} --pin taken\n"));
    assert!(!ok);
    assert!(
        err.contains("line 2") && err.contains("taken/port_filter") && err.contains("EEXIST"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = batch("unload taken/port_filter\nmap list\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn version_names_the_tool_the_module_its_abi_and_platform() {
    for flag in ["version", "--version"] {
        let (ok, out, err) = ebpfctl(&[flag]);
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("ebpfctl {}", env!("CARGO_PKG_VERSION")));
        assert!(
            lines[1].contains("ebpf-kmod") && lines[1].contains("ABI 1"),
            "{out}"
        );
        let platform = if std::env::var("EBPF_TEST_DEVICE").is_ok() {
            "platform Linux"
        } else {
            "platform embedded"
        };
        assert!(lines[1].ends_with(platform), "{out}");
    }
    let (ok, out, _) = ebpfctl(&["--json", "version"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["abi_version"], 1);
    assert_eq!(v["ebpfctl"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn completions_and_the_man_page_come_from_the_definitions() {
    let (ok, bash, _) = ebpfctl(&["completions", "bash"]);
    assert!(ok && bash.contains("_ebpfctl()") && bash.contains("unload"));
    let (ok, man, _) = ebpfctl(&["manpage"]);
    assert!(ok && man.contains(".TH ebpfctl 1") && man.contains("load"));
}

#[test]
fn verify_gives_each_programs_verdict_and_keeps_nothing() {
    let dir = examples();
    let tail = dir.join("tail_call.o");
    let (ok, out, err) = ebpfctl(&["verify", tail.to_str().unwrap()]);
    assert!(ok, "{err}");
    for prog in ["dispatch", "handle_tcp", "handle_udp"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{prog}: ")))
            .unwrap_or_else(|| panic!("no line for {prog}: {out}"));
        assert!(
            line.contains("accepted (") && line.contains(" insns processed"),
            "{line}"
        );
    }
    let (ok, out, err) = ebpfctl(&[
        "--json",
        "verify",
        tail.to_str().unwrap(),
        "--prog",
        "dispatch",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["program"], "dispatch");
    assert_eq!(list[0]["accepted"], true);
    assert_eq!(list[0]["verified"], true);
    assert!(list[0]["error"].is_null());
    assert!(list[0]["insns_processed"].as_u64().unwrap() > 10);
    // -v prints the state at every instruction.
    let (ok, out, _) = ebpfctl(&[
        "verify",
        "-v",
        tail.to_str().unwrap(),
        "--prog",
        "handle_tcp",
    ]);
    assert!(ok);
    assert!(
        out.contains("R1=ctx()") && out.contains("R10=fp()"),
        "{out}"
    );
    // Nothing stays loaded.
    let (ok, out, _) = ebpfctl(&["--json", "prog", "list"]);
    assert!(ok);
    assert!(!out.contains("handle_tcp"), "{out}");
    one_line_error(
        ebpfctl(&["verify", tail.to_str().unwrap(), "--prog", "nope"]),
        &["no program `nope`"],
    );
}

#[test]
fn net_and_link_verbs_list_and_refuse_in_one_line() {
    let obj = examples().join("port_filter.o");
    let (ok, out, err) = batch(&format!(
        "prog load {} --pin verbsnet\nnet list\nlink list\n",
        obj.display()
    ));
    assert!(ok, "{err}");
    let docs = documents(&out);
    assert_eq!(docs.len(), 3, "{out}");
    assert_eq!(docs[1], Value::Array(vec![]), "no program attached: {out}");
    assert_eq!(docs[2], Value::Array(vec![]), "no links: {out}");
    let cases = [
        (
            "net attach verbsnet2/port_filter dev nosuch0",
            &["attach: ENODEV", "no interface nosuch0"][..],
        ),
        (
            "net attach verbsnet2/drops dev nosuch0",
            &["pinned, but not as a program"][..],
        ),
        ("net detach dev nosuch0", &["no interface nosuch0"][..]),
        (
            "link show id:4000000",
            &["link id 4000000: get handle by id: ENOENT"][..],
        ),
        (
            "link detach verbsnet2/drops",
            &["pinned, but not as a link"][..],
        ),
        ("net attach verbsnet2/port_filter nosuch0", &["error"][..]),
    ];
    // Pins outlive a batch on a device: each case loads under its own.
    for (i, (verb, words)) in cases.into_iter().enumerate() {
        let pin = format!("verbsnet{}", i + 2);
        let verb = verb.replace("verbsnet2/", &format!("{pin}/"));
        let (ok, _, err) = batch(&format!(
            "prog load {} --pin {pin}\n{verb}\n",
            obj.display()
        ));
        assert!(!ok, "{verb}");
        let err = err.trim_end();
        assert_eq!(err.lines().count(), 1, "{verb}: {err}");
        for w in words {
            assert!(err.contains(w), "{verb}: `{w}` in {err}");
        }
    }
}

#[test]
fn type_loads_programs_of_sections_that_name_none() {
    let obj = examples().join("custom_section.o");
    let obj = obj.to_str().unwrap();
    let (ok, out, _) = ebpfctl(&["verify", obj]);
    assert!(!ok);
    assert!(
        out.contains("section `from-container` names no program type"),
        "{out}"
    );
    let (ok, out, err) = ebpfctl(&["verify", "--type", "tc", obj]);
    assert!(ok, "{err}");
    assert!(out.contains("handle: accepted ("), "{out}");
    let frame = "00".repeat(60);
    let (ok, out, err) = ebpfctl(&["run", "--type", "classifier", obj, "--data-hex", &frame]);
    assert!(ok, "{err}");
    assert!(out.contains("handle -> 2"), "{out}");
    let (ok, _, err) = ebpfctl(&["verify", "--type", "kprobe", obj]);
    assert!(!ok);
    assert!(
        err.contains("`kprobe` is not a program type this runtime provides"),
        "{err}"
    );
}
