#!/bin/bash
# The VM test loop: build (or reuse) the kernel, build ebpf.ko and static
# test binaries, boot qemu with an initramfs, run the integration suites and
# examples through /dev/ebpf inside, and fail on anything short of a clean
# pass (guest log: target/vm/console.log).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# EBPF_KERNEL_VARIANT=nobpf: a kernel without bpf(2) (tools/vm/kernel.sh),
# where the guest runs what does not need it.
VARIANT=${EBPF_KERNEL_VARIANT:-}
OUT=$ROOT/target/vm${VARIANT:+-$VARIANT}
# The static binaries are the same for every variant.
CARGO_OUT=$ROOT/target/vm/cargo
TIMEOUT=${EBPF_VM_TIMEOUT:-900}
HOST_TARGET=x86_64-unknown-linux-gnu
cd "$ROOT"

log() { echo "vm: $*" >&2; }
die() { log "error: $*"; exit 1; }
t0=$SECONDS
lap() { log "$1 ($((SECONDS - t0)) s)"; t0=$SECONDS; }

KDIR=$(tools/vm/kernel.sh build)
lap "kernel tree: $KDIR"
KO=$ROOT/target/kmod-linux/ebpf${VARIANT:+-$VARIANT}.ko
make -s -C kmod-linux KDIR="$KDIR" BUILD="$ROOT/target/kmod-linux/build${VARIANT:+-$VARIANT}" KO="$KO" >&2
lap "module built"

# Static binaries: ebpfctl and the device-capable integration suites.
export RUSTFLAGS="-C target-feature=+crt-static"
cargo build -q --target $HOST_TARGET --target-dir "$CARGO_OUT" -p ebpfctl -p ebpf-stress -p ebpf-bench --bin ebpf-vm-bench --bin ebpf-vm-traffic --bin ebpfctl --bin ebpf-stress
tests=$(cargo test -q --no-run --message-format=json --target $HOST_TARGET --target-dir "$CARGO_OUT" \
        -p libebpf-ioctl --test abi --test examples --test typed --test packet_helpers -p ebpfctl --test verbs 2>/dev/null |
        grep '"test":true' | grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
unset RUSTFLAGS
[ -n "$tests" ] || die "no test binaries were built"
make -s examples >&2
lap "userspace built"

# The initramfs.
rm -rf "$OUT/initramfs"
mkdir -p "$OUT/initramfs"/{bin,dev,proc,sys,tmp,etc,tests,examples}
I=$OUT/initramfs
cp /bin/busybox "$I/bin/busybox"
cp tools/vm/guest-init.sh "$I/init"
chmod +x "$I/init"
cp "$KO" "$I/ebpf.ko"
cp "$CARGO_OUT/$HOST_TARGET/debug/ebpfctl" "$I/bin/ebpfctl"
cp "$CARGO_OUT/$HOST_TARGET/debug/ebpf-stress" "$I/bin/ebpf-stress"
cp "$CARGO_OUT/$HOST_TARGET/debug/ebpf-vm-bench" "$I/bin/ebpf-vm-bench"
cp "$CARGO_OUT/$HOST_TARGET/debug/ebpf-vm-traffic" "$I/bin/ebpf-vm-traffic"
for t in $tests; do
    name=$(basename "$t" | sed 's/-[0-9a-f]*$//')
    case "$name" in abi|examples|verbs|typed|packet_helpers) cp "$t" "$I/tests/$name" ;; esac
done
[ "$(ls "$I/tests" | wc -l)" = 5 ] || die "expected the abi, examples, typed, packet_helpers and verbs suites, got: $(ls "$I/tests")"

cp target/bpf/*.o "$I/examples/"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initramfs.cpio.gz"
lap "initramfs: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1)"

accel="-accel tcg -cpu max"
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then accel="-accel kvm -cpu host"; fi
log "booting ($accel, time limit ${TIMEOUT} s)"
set +e
timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 $accel -m 1024 -smp 2 \
    -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$OUT/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 oops=panic kmemleak=on loglevel=4 ebpf.variant=${VARIANT:-default}" \
    -nographic -no-reboot < /dev/null > "$OUT/console.log" 2>&1
rc=$?
set -e
lap "VM finished (qemu exit $rc)"
if [ $rc = 124 ] || [ $rc = 137 ]; then
    cat "$OUT/console.log"; die "the VM did not finish within ${TIMEOUT} s"
fi
if grep -q '^EBPF-VM-RESULT: PASS' "$OUT/console.log" && ! grep -q 'EBPF-VM: FAIL' "$OUT/console.log"; then
    grep -E '^(EBPF-VM|test result)' "$OUT/console.log" >&2
    log "PASS"
else
    cat "$OUT/console.log"
    die "the VM run failed (see above; also $OUT/console.log)"
fi
