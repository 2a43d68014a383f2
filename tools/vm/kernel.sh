#!/bin/bash
# Builds (once per machine) the Rust-enabled Linux kernel that kmod-linux is
# built against and booted on: Debian's linux-source-6.12, tinyconfig plus
# kmod-linux/kernel.config, clang-19 (LLVM=-19), bindgen-cli 0.73.2.
#
#   tools/vm/kernel.sh setup   install missing packages and tools
#   tools/vm/kernel.sh path    print the build tree's path (no building)
#   tools/vm/kernel.sh build   build the tree unless the cache has it; print its path
#
# EBPF_KERNEL_VARIANT=nobpf builds the same kernel without the bpf(2)
# system call (CONFIG_BPF_SYSCALL=n): no eBPF but the module's, while the
# kernel's JIT (which classic socket filters and seccomp use) is still
# there for the module to compile verified programs with.
#
# The tree lives in ${EBPF_KMOD_CACHE:-~/.cache/ebpf-kmod}, keyed by the
# kernel package version and a hash of the config fragment, this script and
# the toolchain versions, so CI reuses it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${EBPF_KMOD_CACHE:-$HOME/.cache/ebpf-kmod}
FRAGMENT=$ROOT/kmod-linux/kernel.config
VARIANT=${EBPF_KERNEL_VARIANT:-}
case "$VARIANT" in
    "") ;;
    nobpf) ;;
    *) echo "kernel.sh: unknown EBPF_KERNEL_VARIANT '$VARIANT' (nobpf or empty)" >&2; exit 2 ;;
esac
KPKG=linux-source-6.12
BINDGEN_VERSION=0.73.2
LLVM_SUFFIX=-19
PACKAGES=(linux-source-6.12 clang-19 lld-19 llvm-19 libclang-19-dev bc bison flex
          libelf-dev libssl-dev cpio xz-utils make busybox-static qemu-system-x86)

log() { echo "kernel.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

bindgen_bin() {
    if command -v bindgen >/dev/null && bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
        command -v bindgen
    else
        echo "$CACHE/tools/bin/bindgen"
    fi
}

setup() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        [ "$(id -u)" = 0 ] || die "missing packages (need root to install): ${missing[*]}"
        log "installing ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
    rustup component add rust-src >/dev/null 2>&1 || die "rustup component add rust-src failed"
    local bg; bg=$(bindgen_bin)
    if [ ! -x "$bg" ]; then
        log "installing bindgen-cli $BINDGEN_VERSION into $CACHE/tools"
        cargo install --quiet --locked --root "$CACHE/tools" "bindgen-cli@$BINDGEN_VERSION" \
            || die "cargo install bindgen-cli@$BINDGEN_VERSION failed"
    fi
}

# The configuration fragment: kmod-linux/kernel.config with the variant's
# changes in place (one line per option, so every line can be checked).
fragment() {
    if [ "$VARIANT" = nobpf ]; then
        sed 's/^CONFIG_BPF_SYSCALL=y$/CONFIG_BPF_SYSCALL=n/' "$FRAGMENT"
    else
        cat "$FRAGMENT"
    fi
}

key() {
    local kver; kver=$(dpkg-query -W -f='${Version}' $KPKG 2>/dev/null) || die "$KPKG is not installed (run: $0 setup)"
    {
        echo "$kver"
        fragment
        cat "$0"
        rustc --version
        clang$LLVM_SUFFIX --version | head -1
        echo "bindgen $BINDGEN_VERSION"
    } | sha256sum | cut -c1-16
}

tree_path() { echo "$CACHE/linux-6.12-${VARIANT:+$VARIANT-}$(key)"; }

build() {
    setup
    local tree; tree=$(tree_path)
    if [ -f "$tree/.ebpf-kmod-built" ]; then
        log "reusing cached kernel tree $tree"
        echo "$tree"; return
    fi
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    if [ -f "$tree/.ebpf-kmod-built" ]; then echo "$tree"; return; fi
    rm -rf "$tree" "$tree.tmp"
    mkdir -p "$tree.tmp"
    log "unpacking /usr/src/$KPKG.tar.xz"
    tar -xf /usr/src/$KPKG.tar.xz -C "$tree.tmp" --strip-components=1
    local mk=(make -C "$tree.tmp" LLVM=$LLVM_SUFFIX BINDGEN="$(bindgen_bin)")
    "${mk[@]}" -s rustavailable >/dev/null || die "Rust is not available to the kernel build: $("${mk[@]}" rustavailable 2>&1 | tail -3)"
    "${mk[@]}" -s tinyconfig >/dev/null
    fragment > "$tree.tmp/ebpf-kmod.config"
    (cd "$tree.tmp" && scripts/kconfig/merge_config.sh -m .config ebpf-kmod.config >/dev/null)
    "${mk[@]}" -s olddefconfig >/dev/null
    # Every option of the fragment must have survived olddefconfig.
    local bad=0
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=n) grep -qx "${line%=n}=y" "$tree.tmp/.config" && { log "$line did not apply"; bad=1; } ;;
            CONFIG_*) grep -qx "$line" "$tree.tmp/.config" || { log "$line did not apply"; bad=1; } ;;
        esac
    done < "$tree.tmp/ebpf-kmod.config"
    ((bad == 0)) || die "the kernel configuration is not what kmod-linux/kernel.config asks for"
    log "building the kernel in $tree (several minutes, once per machine)"
    local start=$SECONDS
    "${mk[@]}" -j"$(nproc)" bzImage modules >"$tree.tmp/build.log" 2>&1 \
        || { tail -40 "$tree.tmp/build.log" >&2; die "kernel build failed (log: $tree.tmp/build.log)"; }
    log "kernel built in $((SECONDS - start)) s"
    mv "$tree.tmp" "$tree"
    touch "$tree/.ebpf-kmod-built"
    echo "$tree"
}

case "${1:-build}" in
    setup) setup ;;
    path) tree_path ;;
    build) build ;;
    *) die "usage: $0 setup|path|build" ;;
esac
