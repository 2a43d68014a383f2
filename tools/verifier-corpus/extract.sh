#!/bin/bash
# Extracts the instruction-level verifier tests of Linux 6.12's BPF
# selftests (tools/testing/selftests/bpf/verifier/*.c, the tables
# test_verifier runs) from the kernel tree tools/vm/kernel.sh caches, as
# JSON lines: the corpus `ebpf-verifier-corpus` checks the verifier
# against. Usage: extract.sh OUT.jsonl [KERNEL_TREE]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$1
TREE=${2:-$("$ROOT/tools/vm/kernel.sh" path 2>/dev/null || true)}
if [ -z "$TREE" ] || [ ! -d "$TREE/tools/testing/selftests/bpf/verifier" ]; then
    TREE=$(ls -d "${EBPF_KMOD_CACHE:-$HOME/.cache/ebpf-kmod}"/linux-6.12-*/ 2>/dev/null | head -1)
fi
SELF=$TREE/tools/testing/selftests/bpf
[ -d "$SELF/verifier" ] || { echo "extract.sh: no kernel tree with BPF selftests (run tools/vm/kernel.sh build)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/verifier"
for f in "$SELF"/verifier/*.c; do
    echo "#include \"$f\""
done > "$WORK/verifier/tests.h"
# The test table and what it needs: test_verifier.c up to the table's end.
end=$(grep -n '^static struct bpf_test tests\[\] = {' "$SELF/test_verifier.c" | cut -d: -f1)
end=$((end + 4))
sed -n "1,${end}p" "$SELF/test_verifier.c" > "$WORK/dump.c"
cat "$ROOT/tools/verifier-corpus/dump_main.c" >> "$WORK/dump.c"
${CC:-cc} -O1 -w -o "$WORK/dump" "$WORK/dump.c" \
    -I"$WORK" -I"$ROOT/tools/common" -I"$SELF" -I"$TREE/tools/include" -I"$TREE/tools/include/uapi" \
    -I"$TREE/tools/lib" -I"$TREE/tools/testing/selftests" -I"$TREE/include/generated/uapi" \
    2> "$WORK/cc.log" || { tail -30 "$WORK/cc.log" >&2; exit 1; }
"$WORK/dump" > "$OUT"
echo "extract.sh: $(wc -l < "$OUT") tests from $SELF/verifier" >&2
