//! `ebpfctl exec` follows the conformance-plugin convention, and the
//! example port filter gives the right verdicts.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `ebpfctl args...` with `stdin`; returns (exit ok, stdout, stderr).
fn ebpfctl(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebpfctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebpfctl starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn prints_r0_in_hex() {
    // mov r0, 1; add r0, 2; exit
    let (ok, out, _) = ebpfctl(
        &["exec"],
        "b7000000010000000700000002000000\n9500000000000000",
    );
    assert!(ok);
    assert_eq!(out, "0x3\n");
    // lddw r0, -1; exit: the full 64 bits.
    let (ok, out, _) = ebpfctl(
        &["exec"],
        "18000000ffffffff00000000ffffffff9500000000000000",
    );
    assert!(ok);
    assert_eq!(out, "0xffffffffffffffff\n");
}

#[test]
fn memory_argument_is_r1_and_its_length_r2() {
    // ldxw r0, [r1+0]; exit
    let (ok, out, _) = ebpfctl(&["exec", "11223344"], "61100000000000009500000000000000");
    assert!(ok);
    assert_eq!(out, "0x44332211\n");
    // mov r0, r2; exit
    let (ok, out, _) = ebpfctl(&["exec", "0011223344"], "bf200000000000009500000000000000");
    assert!(ok);
    assert_eq!(out, "0x5\n");
}

#[test]
fn errors_go_to_stderr_with_a_failing_status() {
    for (args, stdin, message) in [
        (&["exec"][..], "b70000000100000", "odd number of hex digits"),
        (&["exec"][..], "b700000001000000", "fall off the end"),
        (&["exec"][..], "zz", "not hex"),
        (
            &["exec", "1122"][..],
            "61100000000000009500000000000000",
            "outside the program's memory",
        ),
        (
            &["exec"][..],
            "e400000000000000950000000000000",
            "odd number",
        ),
        (
            &["exec"][..],
            "e4000000000000009500000000000000",
            "unknown opcode 0xe4",
        ),
        (&["exec", "--asm", "/nonexistent.s"][..], "", "cannot read"),
    ] {
        let (ok, out, err) = ebpfctl(args, stdin);
        assert!(!ok, "{args:?} {stdin}");
        assert!(out.is_empty(), "nothing on stdout on error: {out}");
        assert!(err.contains(message), "{args:?}: '{err}' lacks '{message}'");
    }
}

#[test]
fn asm_and_disasm_round_trip_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("ebpfctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("p.s");
    std::fs::write(&src, "mov %r0, 6\nmul %r0, 7\nexit\n").unwrap();
    let (ok, hex, _) = ebpfctl(&["asm", src.to_str().unwrap()], "");
    assert!(ok);
    let (ok, text, _) = ebpfctl(&["disasm"], &hex);
    assert!(ok);
    assert_eq!(text, "   0: mov %r0, 6\n   1: mul %r0, 7\n   2: exit\n");
    let (ok, out, _) = ebpfctl(&["exec"], &hex);
    assert!(ok);
    assert_eq!(out, "0x2a\n");
    std::fs::remove_dir_all(dir).unwrap();
}

const FILTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/asm/port_filter.s"
);

/// An Ethernet + IPv4 frame with the given IHL (words), protocol and TCP
/// destination port, as hex.
fn frame(ethertype: u16, ihl: u8, proto: u8, dport: u16, len: usize) -> String {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ethertype.to_be_bytes());
    let mut ip = vec![0u8; ihl as usize * 4];
    ip[0] = 0x40 | ihl;
    ip[9] = proto;
    f.extend_from_slice(&ip);
    f.extend_from_slice(&0xc000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.resize(len.max(f.len()), 0);
    f.truncate(len);
    f.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn port_filter_verdicts() {
    let cases = [
        (frame(0x0800, 5, 6, 80, 60), "0x1"),
        (frame(0x0800, 5, 6, 8080, 60), "0x1"),
        (frame(0x0800, 5, 6, 22, 60), "0x2"),
        (frame(0x0800, 5, 17, 80, 60), "0x2"), // UDP
        (frame(0x86dd, 5, 6, 80, 60), "0x2"),  // IPv6 EtherType
        (frame(0x0800, 7, 6, 80, 60), "0x1"),  // IPv4 options
        (frame(0x0800, 5, 6, 80, 37), "0x2"),  // too short for the ports
        (frame(0x0800, 15, 6, 80, 60), "0x2"), // ports beyond the frame
        (frame(0x0800, 5, 6, 80, 38), "0x1"),  // exactly long enough
    ];
    for (hex, want) in cases {
        let (ok, out, err) = ebpfctl(&["exec", "--asm", FILTER, &hex], "");
        assert!(ok, "{hex}: {err}");
        assert_eq!(out.trim(), want, "{hex}");
    }
}

#[test]
fn jit_gives_what_the_interpreter_gives() {
    let cases = [
        // mov r0, 1; add r0, 2; exit
        ("", "b7000000010000000700000002000000\n9500000000000000"),
        // lddw r0, -1; exit
        ("", "18000000ffffffff00000000ffffffff9500000000000000"),
        // ldxw r0, [r1+0]; exit
        ("11223344", "61100000000000009500000000000000"),
        // mov r0, r2; exit
        ("0011223344", "bf200000000000009500000000000000"),
        // mov r0, 1; lsh r0, 65 (RFC 9669: modulo 64); exit
        ("", "b7000000010000006700000041000000\n9500000000000000"),
    ];
    for (memory, program) in cases {
        let mut args = vec!["exec"];
        if !memory.is_empty() {
            args.push(memory);
        }
        let interpreted = ebpfctl(&args, program);
        args.push("--jit");
        let compiled = ebpfctl(&args, program);
        assert!(interpreted.0, "{program}: {}", interpreted.2);
        assert_eq!(interpreted, compiled, "{program}");
    }
}

#[test]
fn helper_5_returns_its_argument_or_unwinds_as_in_the_conformance_plugin() {
    let dir = std::env::temp_dir().join(format!("ebpfctl-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, src, r0) in [
        // callx of a register holding 5 calls helper 5, which returns -1:
        // the program goes on.
        (
            "callx",
            "mov %r1, -1\nmov %r2, 5\ncallx %r2\nmov %r0, 2\nexit",
            "0x2",
        ),
        ("call", "mov %r1, 7\ncall 5\nexit", "0x7"),
        // A zero argument ends the program with 0, from a function too.
        ("unwind", "mov %r1, 0\ncall 5\nmov %r0, 2\nexit", "0x0"),
        (
            "unwind from a function",
            "mov %r1, 0\ncall f\nmov %r0, 3\nexit\nf:\nmov %r2, 5\ncallx %r2\nmov %r0, 9\nexit",
            "0x0",
        ),
    ] {
        let file = dir.join("prog.s");
        std::fs::write(&file, src).unwrap();
        let path = file.to_str().unwrap();
        for jit in [false, true] {
            let mut args = vec!["exec", "--asm", path];
            if jit {
                args.push("--jit");
            }
            let (ok, out, err) = ebpfctl(&args, "");
            assert!(ok, "{name} (jit {jit}): {err}");
            assert_eq!(out.trim(), r0, "{name} (jit {jit})");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
