#!/usr/bin/env python3
"""Runs bpf_conformance test files (`*.data`) through `ebpfctl exec`.

Usage: run.py EBPFCTL DIR [--jit] [--verbose]

Each file has sections `-- asm` (or `-- raw`: hex instruction words),
`-- mem` (hex bytes), `-- result` (r0 expected) or `-- error` (the
program must be refused or fail). The program is assembled by ebpfctl's
assembler (the suite's own runner passes bytecode; an instruction our
assembler cannot spell is reported as such, apart from runtime failures).
Prints one line per failure and a summary; exits 1 when any test fails.
"""
import os
import subprocess
import sys
import tempfile


def sections(text):
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("-- "):
            name = line[3:].strip()
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def run(ebpfctl, path, jit):
    s = sections(open(path).read())
    mem = "".join(s.get("mem", "").split())
    args = [ebpfctl, "exec"] + (["--jit"] if jit else [])
    stdin = None
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write(s.get("asm", "") + "\n")
        asm = f.name
    try:
        if "raw" in s:
            words = s["raw"].split()
            stdin = "".join(int(w, 16).to_bytes(8, "little").hex() for w in words)
        else:
            args += ["--asm", asm]
        if mem:
            args.append(mem)
        p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(asm)
    got = p.stdout.strip().splitlines()[-1] if p.returncode == 0 and p.stdout.strip() else None
    why = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
    assembler = got is None and "load failed" not in why and "run failed" not in why and "JIT failed" not in why
    if assembler:
        return (False, f"assembler: {why}")
    if "error" in s:
        return (got is None, f"expected an error ({s['error']}), got {got}")
    want = int(s["result"].split()[0], 0) & 0xFFFFFFFFFFFFFFFF
    if got is None:
        return (False, why)
    return (int(got, 16) == want, f"r0 {got}, want {want:#x}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        raise SystemExit(__doc__)
    ebpfctl, directory = args
    jit, verbose = "--jit" in sys.argv, "--verbose" in sys.argv
    files = sorted(f for f in os.listdir(directory) if f.endswith(".data"))
    failed = []
    for name in files:
        ok, detail = run(ebpfctl, os.path.join(directory, name), jit)
        if not ok:
            failed.append(name)
            print(f"conformance: FAIL {name}: {detail}")
        elif verbose:
            print(f"conformance: ok {name}")
    engine = "JIT" if jit else "interpreter"
    print(f"conformance ({engine}): {len(files) - len(failed)}/{len(files)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
