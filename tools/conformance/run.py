#!/usr/bin/env python3
"""Runs bpf_conformance test files (`*.data`) through `ebpfctl exec`.

Usage: run.py EBPFCTL DIR [--jit] [--verbose] [--host]

Each file has sections `-- asm` (or `-- raw`: hex instruction words),
`-- mem` (hex bytes), `-- result` (r0 expected) or `-- error` (the
program must be refused or fail). The program is assembled by ebpfctl's
assembler (the suite's own runner passes bytecode; an instruction our
assembler cannot spell is reported as such, apart from runtime failures).
The suite's assembler keeps the low 32 bits of an immediate wider than
32 bits outside `lddw` (`mov32 r1, 0x876543210` is `mov32 r1, 0x76543210`);
ours refuses such numbers, so the runner cuts them first, as the suite does.
Prints one line per failure and a summary; exits 1 when any test fails.

With --host, each failing program without `-- mem` is also run by the
host kernel's bpf(2) (as a socket filter through BPF_PROG_TEST_RUN, which
returns r0's low 32 bits) and the line says what Linux computes: where it
computes what we do, the test file is the one at odds with RFC 9669.
"""
import ctypes
import struct
import os
import re
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


WIDE = re.compile(r"(?<![\w%])(-?)(0[xX][0-9a-fA-F]+|\d+)\b")


def suite_immediates(asm):
    """The suite assembler's reading of wide immediates: low 32 bits."""

    def cut(m):
        value = int(m.group(2), 0)
        if value <= 0xFFFFFFFF:
            return m.group(0)
        value &= 0xFFFFFFFF
        return f"{m.group(1)}{value:#x}"

    lines = []
    for line in asm.splitlines():
        mnemonic = line.split(None, 1)[0] if line.strip() else ""
        lines.append(line if mnemonic == "lddw" else WIDE.sub(cut, line))
    return "\n".join(lines)


def run(ebpfctl, path, jit):
    s = sections(open(path).read())
    mem = "".join(s.get("mem", "").split())
    args = [ebpfctl, "exec"] + (["--jit"] if jit else [])
    stdin = None
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write(suite_immediates(s.get("asm", "")) + "\n")
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


def host_r0(ebpfctl, s):
    """r0's low 32 bits as the host's bpf(2) computes them, or why not."""
    if s.get("mem"):
        return "not run by the host (needs memory in r1)"
    if "raw" in s:
        code = b"".join(int(w, 16).to_bytes(8, "little") for w in s["raw"].split())
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
            f.write(suite_immediates(s.get("asm", "")) + "\n")
        p = subprocess.run([ebpfctl, "asm", f.name], capture_output=True, text=True)
        os.unlink(f.name)
        code = bytes.fromhex("".join(p.stdout.split()))
    libc = ctypes.CDLL(None, use_errno=True)
    sys_bpf = 321  # x86-64

    def bpf(cmd, attr):
        buf = ctypes.create_string_buffer(attr, 128)
        return libc.syscall(sys_bpf, cmd, buf, 128), buf.raw, ctypes.get_errno()

    lic, prog = ctypes.create_string_buffer(b"GPL"), ctypes.create_string_buffer(code)
    log = ctypes.create_string_buffer(1 << 16)
    load = struct.pack("<IIQQIIQ", 1, len(code) // 8, ctypes.addressof(prog),
                       ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
    fd, _, err = bpf(5, load)  # BPF_PROG_LOAD
    if fd < 0:
        last = log.value.decode(errors="replace").strip().splitlines()
        return f"the host refuses it ({os.strerror(err)}: {last[-2] if len(last) > 1 else ''})"
    packet = ctypes.create_string_buffer(64)
    run_attr = struct.pack("<IIIIQQII", fd, 0, 64, 0, ctypes.addressof(packet), 0, 1, 0)
    r, out, err = bpf(10, run_attr)  # BPF_PROG_TEST_RUN
    os.close(fd)
    if r < 0:
        return f"the host cannot run it ({os.strerror(err)})"
    return struct.unpack_from("<I", out, 4)[0]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        raise SystemExit(__doc__)
    ebpfctl, directory = args
    jit, verbose = "--jit" in sys.argv, "--verbose" in sys.argv
    # The suite keeps some tests in subdirectories (tests/rfc9669/).
    files = sorted(
        os.path.relpath(os.path.join(root, f), directory)
        for root, _, names in os.walk(directory)
        for f in names
        if f.endswith(".data")
    )
    failed = []
    host, host_agrees = "--host" in sys.argv, 0
    for name in files:
        ok, detail = run(ebpfctl, os.path.join(directory, name), jit)
        if not ok:
            failed.append(name)
            if host:
                s = sections(open(os.path.join(directory, name)).read())
                r0 = host_r0(ebpfctl, s)
                if isinstance(r0, int):
                    ours = detail.split()[1].rstrip(",") if detail.startswith("r0 ") else None
                    same = ours is not None and int(ours, 16) & 0xFFFFFFFF == r0
                    host_agrees += same
                    detail += f"; the host's bpf(2): r0 {r0:#x}" + (" (as ours)" if same else "")
                else:
                    detail += f"; {r0}"
            print(f"conformance: FAIL {name}: {detail}")
        elif verbose:
            print(f"conformance: ok {name}")
    engine = "JIT" if jit else "interpreter"
    print(f"conformance ({engine}): {len(files) - len(failed)}/{len(files)} passed")
    if host and failed:
        print(f"conformance: of the {len(failed)} failures, the host's bpf(2) computes ours in {host_agrees}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
