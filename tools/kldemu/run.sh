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
for twin in gotpcrel rocdevsw; do
    if "$VENV/bin/python" "$ROOT/tools/kldemu/kldemu.py" "$KO" --mutate "$twin" > /tmp/kldemu-twin.$$ 2>&1; then
        cat /tmp/kldemu-twin.$$; rm -f /tmp/kldemu-twin.$$
        echo "kldemu: the $twin twin passed: the emulation does not catch it"; exit 1
    fi
    echo "kldemu: broken twin ($twin) fails as it must: $(tail -1 /tmp/kldemu-twin.$$)"
    rm -f /tmp/kldemu-twin.$$
done
