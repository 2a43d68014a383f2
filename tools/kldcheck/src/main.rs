//! `kldcheck FILE.ko --allow kpi.allow [--stack-cap BYTES] [--module NAME]`

use std::process::ExitCode;

use kldcheck::{check, Expect};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut file = None;
    let mut allow = None;
    let mut cap = 4096u64;
    let mut module = "ebpf".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--allow" => allow = it.next().cloned(),
            "--stack-cap" => cap = it.next().and_then(|v| v.parse().ok()).unwrap_or(cap),
            "--module" => module = it.next().cloned().unwrap_or(module),
            f => file = Some(f.to_string()),
        }
    }
    let (Some(file), Some(allow)) = (file, allow) else {
        eprintln!("usage: kldcheck FILE.ko --allow kpi.allow [--stack-cap BYTES] [--module NAME]");
        return ExitCode::from(2);
    };
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let (bytes, allow) = match (read(&file), read(&allow)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("kldcheck: {e}");
            return ExitCode::from(2);
        }
    };
    let allowed_imports = String::from_utf8_lossy(&allow)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let report = check(
        &bytes,
        &Expect {
            allowed_imports,
            stack_cap: cap,
            module,
        },
    );
    for f in &report.facts {
        println!("kldcheck: {f}");
    }
    for f in &report.failures {
        eprintln!("kldcheck: FAIL: {f}");
    }
    if report.failures.is_empty() {
        println!("kldcheck: {file}: ok");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
