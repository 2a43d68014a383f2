#!/bin/sh
# Builds the corpus of Linux's BPF selftest programs: every
# tools/testing/selftests/bpf/progs/*.c of the kernel tree TREE except
# verifier_*.c (kept for an independent check), compiled as the selftests
# Makefile compiles them, against the host kernel's BTF (vmlinux.h) and the
# tree's libbpf; and the host-side runner, linked with that libbpf.
#
#   build.sh OUT TREE
#
# OUT/obj/NAME.o for each program file that compiles (OUT/err/NAME.txt why
# not), OUT/host-run. Needs clang-19, bpftool (installed if missing) and
# libelf/zlib (libbpf-dev brings them).
set -eu
out=$1
tree=$2
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-clang-19}
progs=$tree/tools/testing/selftests/bpf/progs

mkdir -p "$out/libbpf" "$out/obj" "$out/err"
if [ ! -f "$out/libbpf/libbpf.a" ]; then
    make -s -C "$tree/tools/lib/bpf" OUTPUT="$out/libbpf/" DESTDIR="$out/root" prefix=/usr \
        -j"$(nproc)" "$out/libbpf/libbpf.a" install_headers >"$out/libbpf.log" 2>&1
fi
inc=$out/root/usr/include
if [ ! -s "$inc/vmlinux.h" ]; then
    command -v bpftool >/dev/null || { apt-get update -qq && apt-get install -y -qq bpftool >/dev/null; }
    bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$inc/vmlinux.h"
fi
cc -O2 -Wall -o "$out/host-run" "$here/host_run.c" -I"$here/../common" -I"$inc" "$out/libbpf/libbpf.a" -lelf -lz

# The compiler's own include directories, after the selftests' (as the
# selftests Makefile's get_sys_includes).
sys=$($CC -v -E - </dev/null 2>&1 |
    sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }' | tr '\n' ' ')
export CC inc tree sys out
ls "$progs"/*.c | grep -v '/verifier_' | xargs -P"$(nproc)" -n1 sh -c '
    f=$1; n=$(basename "$f" .c)
    [ -f "$out/obj/$n.o" ] || [ -f "$out/err/$n.txt" ] && exit 0
    $CC -g -Wall -D__TARGET_ARCH_x86 -mlittle-endian -I"$inc" \
        -I"$tree/tools/testing/selftests/bpf" -I"$tree/tools/include/uapi" \
        -Wno-compare-distinct-pointer-types $sys -O2 --target=bpf -mcpu=v3 \
        -c "$f" -o "$out/obj/$n.o" 2>"$out/err/$n.txt" && rm -f "$out/err/$n.txt" || rm -f "$out/obj/$n.o"
' sh
echo "progs-corpus: $(ls "$out/obj" | wc -l) objects, $(ls "$out/err" | wc -l) files that do not compile, in $out"
