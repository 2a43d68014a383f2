#!/bin/bash
# Runs tools/kldemu/kldemu.py on target/kmod-freebsd/ebpf.ko, and on broken
# twins of it that must fail. The Python packages (unicorn, pyelftools, from
# PyPI, pinned) live in a virtualenv under ~/.cache/ebpf-kmod.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KO=${1:-$ROOT/target/kmod-freebsd/ebpf.ko}
VENV=${EBPF_KMOD_CACHE:-$HOME/.cache/ebpf-kmod}/venv-kldemu
PACKAGES="unicorn==2.1.4 pyelftools==0.32"

if ! "$VENV/bin/python" -c 'import unicorn, elftools' 2>/dev/null; then
    echo "kldemu: creating $VENV ($PACKAGES)"
    python3 -m venv "$VENV" || { echo "kldemu: python3 -m venv failed (apt-get install python3-venv)"; exit 1; }
    "$VENV/bin/pip" install -q $PACKAGES
fi
"$VENV/bin/python" "$ROOT/tools/kldemu/kldemu.py" "$KO"
# Twins made by patching the object (a relocation, a section flag, the
# calls of one KPI): each must fail, for its own reason.
expect_fail() {   # name, expected text, kldemu arguments...
    local name=$1 want=$2; shift 2
    local out
    if out=$("$VENV/bin/python" "$ROOT/tools/kldemu/kldemu.py" "$@" 2>&1); then
        echo "$out"; echo "kldemu: the $name twin passed: the emulation does not catch it"; exit 1
    fi
    if ! grep -q -- "$want" <<< "$out"; then
        echo "$out"; echo "kldemu: the $name twin failed, but not with \"$want\""; exit 1
    fi
    echo "kldemu: broken twin ($name) fails as it must: $(tail -1 <<< "$out" | cut -c1-150)"
}
expect_fail gotpcrel "unexpected relocation type 9" "$KO" --mutate gotpcrel
expect_fail read-only-cdevsw "cdevsw would fault" "$KO" --mutate rocdevsw
expect_fail leak "leaked malloc(9) blocks" "$KO" --mutate leak
expect_fail open-critical-section "in a critical section" "$KO" --mutate critical
