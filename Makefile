# ebpf-kmod: top-level build and test entry points.
#
#   make demo        run the example packet filter on the embedded interpreter
#   make test        everything CI checks (format, lints, unit and integration
#                    tests, the kernel module in a VM)
#   make kmod-linux  build target/kmod-linux/ebpf.ko (KDIR=... or the cached tree)
#   make vm-test     boot the module in qemu and run the suites through /dev/ebpf
#                    (on a kernel with bpf(2), then on one without)
#   make kmod-freebsd build target/kmod-freebsd/ebpf.ko and check it statically
#   make verifier-corpus  the verifier against Linux's own verifier tests
#   make progs-corpus  Linux's selftest programs here and on the host kernel
#   make conformance CONFORMANCE_DIR=.../bpf_conformance/tests  that suite, both engines
#   make bench       benchmarks, with peer runtimes side by side
#   make fuzz        each cargo-fuzz target for FUZZ_SECONDS (default 300)
#   make stress      long concurrency runs (STRESS_SECONDS, default 120)
#   make asan        the stress suites under AddressSanitizer
#   make install     ebpfctl, its man page and completions, the C header
#                    (PREFIX=/usr/local, DESTDIR for staging)

CARGO ?= cargo
# The pinned toolchain (rust-toolchain.toml), also for builds outside this
# tree: the Linux kernel and its modules must share one rustc.
export RUSTUP_TOOLCHAIN ?= $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
EBPFCTL = target/debug/ebpfctl
CLANG ?= clang-19
BPF_OUT = target/bpf
# Debian keeps asm/types.h under the multiarch directory.
BPF_INCLUDES = -I/usr/include/$(shell uname -m)-linux-gnu
EXAMPLE_OBJS = $(patsubst examples/c/%.c,$(BPF_OUT)/%.o,$(wildcard examples/c/*.c))
# Objects only the tests use, built next to the examples.
TEST_OBJS = $(patsubst libebpf-ioctl/tests/bpf/%.c,$(BPF_OUT)/%.o,$(wildcard libebpf-ioctl/tests/bpf/*.c))

# Ethernet + IPv4 + TCP frames (hex), destination port 80, 8080 and 22.
PKT_HEAD = 00000000000000000000000008004500002800000000400600000a0000010a000002
PKT_TCP80   = $(PKT_HEAD)c00000500000000000000000500200000000000000000000
PKT_TCP8080 = $(PKT_HEAD)c0001f900000000000000000500200000000000000000000
PKT_TCP22   = $(PKT_HEAD)c00000160000000000000000500200000000000000000000
# Ethernet + IPv6 + TCP to port 8080.
PKT6_TCP8080 = 00000000000000000000000086dd6000000000140640$(shell printf '%064d' 1)c0001f900000000000000000500200000000000000000000

.PHONY: all setup build examples demo test fmt-check clippy unit kmod-linux vm-test kmod-freebsd bench clean verifier-corpus progs-corpus conformance \
	fuzz-setup fuzz fuzz-smoke stress asan install

all: build

## What the build needs: rustup components, and clang-19 with libbpf's
## headers for the example programs (Debian packages).
setup:
	@command -v rustup >/dev/null && rustup component add rustfmt clippy rust-src >/dev/null 2>&1 || true
	@command -v rustup >/dev/null && rustup target add x86_64-unknown-none x86_64-unknown-freebsd >/dev/null 2>&1 || true
	@if ! python3 -m venv --help >/dev/null 2>&1; then \
	  echo "installing python3-venv"; apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; \
	fi
	@if ! command -v ld.lld-19 >/dev/null || ! command -v llvm-objcopy-19 >/dev/null; then \
	  echo "installing lld-19 and llvm-19"; \
	  apt-get update -qq && apt-get install -y -qq lld-19 llvm-19 >/dev/null; \
	fi
	@if ! command -v $(CLANG) >/dev/null || [ ! -f /usr/include/bpf/bpf_helpers.h ]; then \
	  echo "installing clang-19 and libbpf-dev"; \
	  apt-get update -qq && apt-get install -y -qq clang-19 libbpf-dev >/dev/null; \
	fi

## The example programs, compiled for BPF.
examples: setup $(EXAMPLE_OBJS) $(TEST_OBJS)

$(BPF_OUT)/%.o: examples/c/%.c
	@mkdir -p $(BPF_OUT)
	$(CLANG) -O2 -g -target bpf $(BPF_INCLUDES) -c $< -o $@

$(BPF_OUT)/%.o: libebpf-ioctl/tests/bpf/%.c $(wildcard libebpf-ioctl/tests/bpf/*.h)
	@mkdir -p $(BPF_OUT)
	$(CLANG) -O2 -g -target bpf $(BPF_INCLUDES) -c $< -o $@

build: setup
	$(CARGO) build --workspace

demo: build examples
	@echo "port filter (examples/c/port_filter.c) on packets to TCP 80, 8080, 22, 80 and IPv6 TCP 8080:"
	$(EBPFCTL) run $(BPF_OUT)/port_filter.o --embedded \
	  --data-hex $(PKT_TCP80) --data-hex $(PKT_TCP8080) --data-hex $(PKT_TCP22) \
	  --data-hex $(PKT_TCP80) --data-hex $(PKT6_TCP8080)
	@echo "the same filter in assembler (examples/asm/port_filter.s), raw interpreter: 1 = drop, 2 = pass"
	@for p in TCP80:$(PKT_TCP80) TCP8080:$(PKT_TCP8080) TCP22:$(PKT_TCP22); do \
	  name=$${p%%:*}; hex=$${p#*:}; \
	  printf '  %-8s -> ' $$name; $(EBPFCTL) exec --asm examples/asm/port_filter.s $$hex; \
	done

test: setup fmt-check clippy unit fuzz-smoke vm-test verifier-corpus progs-corpus

KCORE = --manifest-path kmod-linux/corelib/Cargo.toml
KLD = --manifest-path kmod-freebsd/Cargo.toml
FUZZ = --manifest-path tools/fuzz/Cargo.toml

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt $(KCORE) -- --check
	$(CARGO) fmt $(KLD) -- --check
	$(CARGO) fmt $(FUZZ) -- --check

# The kernel-side core library is checked for a bare-metal target of the same
# architecture (the kernel's own target needs its build tree).
clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy $(KCORE) --target x86_64-unknown-none --target-dir target/kcore-check -- -D warnings
	$(CARGO) clippy $(KLD) --all-targets --target-dir target/kld-check -- -D warnings
	$(CARGO) clippy $(FUZZ) --all-targets --target-dir target/fuzz-check -- -D warnings
	@# FreeBSD userspace: the library and the CLI type-check for FreeBSD.
	$(CARGO) check -q --target x86_64-unknown-freebsd -p libebpf-ioctl -p ebpfctl

## The Linux module, against KDIR or the kernel tools/vm/kernel.sh builds and caches.
kmod-linux: setup
	@if [ -z "$(KDIR)" ]; then tools/vm/kernel.sh build >/dev/null; fi
	$(MAKE) -C kmod-linux $(if $(KDIR),KDIR=$(KDIR))

vm-test: setup examples
	tools/vm/run.sh
	EBPF_KERNEL_VARIANT=nobpf tools/vm/run.sh

## The verifier against the instruction-level verifier tests of Linux's
## BPF selftests, from the kernel tree tools/vm/kernel.sh builds.
verifier-corpus: setup
	@tools/vm/kernel.sh build >/dev/null
	@mkdir -p target/verifier-corpus
	CC=$(CLANG) tools/verifier-corpus/extract.sh target/verifier-corpus/tests.jsonl "$$(tools/vm/kernel.sh path)"
	$(CARGO) run -q --release -p ebpf-verifier-corpus -- target/verifier-corpus/tests.jsonl --host

## The socket filter, tc and XDP programs of Linux's BPF selftests
## (progs/*.c but verifier_*.c), loaded here and on the host kernel and run
## on the same frames (tools/progs-corpus).
progs-corpus: setup
	@tools/vm/kernel.sh build >/dev/null
	CC=$(CLANG) tools/progs-corpus/build.sh $(CURDIR)/target/progs-corpus "$$(tools/vm/kernel.sh path)"
	$(CARGO) run -q --release -p ebpf-progs-corpus -- target/progs-corpus
	@# Objects another project built and ships: xdp-tools' (Debian's).
	@dpkg -s xdp-tools >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq xdp-tools >/dev/null; }
	@mkdir -p target/real-objects/obj && cp /usr/lib/x86_64-linux-gnu/bpf/*.o target/real-objects/obj/
	@cp target/progs-corpus/host-run target/real-objects/
	$(CARGO) run -q --release -p ebpf-progs-corpus -- target/real-objects --title "xdp-tools $$(dpkg-query -W -f='$${Version}' xdp-tools) objects"

## The bpf_conformance suite's test files (not shipped here: point
## CONFORMANCE_DIR at a checkout's tests/) through `ebpfctl exec`, on the
## interpreter and on the JIT (tools/conformance/run.py).
conformance: setup
	@test -n "$(CONFORMANCE_DIR)" || { echo "conformance: set CONFORMANCE_DIR to bpf_conformance's tests/ directory"; exit 2; }
	$(CARGO) build -q --release -p ebpfctl
	python3 tools/conformance/run.py target/release/ebpfctl $(CONFORMANCE_DIR) --host
	python3 tools/conformance/run.py target/release/ebpfctl $(CONFORMANCE_DIR) --jit --host

## The FreeBSD kld, built on Linux and checked statically (tools/kldcheck).
kmod-freebsd: setup
	$(MAKE) -s -C kmod-freebsd all
	$(CARGO) run -q -p kldcheck -- target/kmod-freebsd/ebpf.ko --allow kmod-freebsd/kpi.allow
	tools/kldemu/run.sh target/kmod-freebsd/ebpf.ko

unit: examples kmod-freebsd
	EBPF_EXAMPLES=$(CURDIR)/$(BPF_OUT) EBPF_KLD=$(CURDIR)/target/kmod-freebsd/ebpf.ko $(CARGO) test --workspace
	$(CARGO) run -q -p ebpf-stress -- churn --workers 4 --seconds 5
	$(CARGO) test $(KLD) --target-dir target/kld-check
	$(MAKE) --no-print-directory demo

## Installation where users look: the tool in bin, its man page and shell
## completions (generated from its clap definitions), the C header of the
## ioctl ABI, and the ABI documents.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BIN = target/release/ebpfctl

install: setup
	$(CARGO) build -q --release -p ebpfctl
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/include/ebpf-kmod $(DESTDIR)$(PREFIX)/share/doc/ebpf-kmod \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/ebpfctl
	$(INSTALL_BIN) manpage > $(DESTDIR)$(PREFIX)/share/man/man1/ebpfctl.1
	$(INSTALL_BIN) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ebpfctl
	$(INSTALL_BIN) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ebpfctl
	$(INSTALL_BIN) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ebpfctl.fish
	install -m 644 libebpf-ioctl/include/ebpf-kmod/ebpf_ioctl.h $(DESTDIR)$(PREFIX)/include/ebpf-kmod/
	install -m 644 docs/abi.md docs/maps.md README.md $(DESTDIR)$(PREFIX)/share/doc/ebpf-kmod/
	@echo "installed under $(DESTDIR)$(PREFIX); Rust programs use the libebpf-ioctl crate of this tree (path dependency)"

## Fuzzing: cargo-fuzz (libFuzzer, AddressSanitizer) on nightly. Working
## corpora grow in target/fuzz-corpus; the seeds in tools/fuzz/seeds are kept.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS = dispatcher elf_loader assembler programs verifier jit
NIGHTLY = +nightly
# Where each target's seeds are: kept ones, the example objects, the
# assembler examples.
SEEDS_dispatcher = tools/fuzz/seeds/dispatcher
SEEDS_elf_loader = tools/fuzz/seeds/elf_loader $(BPF_OUT)
SEEDS_assembler = examples/asm
SEEDS_programs = tools/fuzz/seeds/programs
SEEDS_verifier = tools/fuzz/seeds/verifier
SEEDS_jit = tools/fuzz/seeds/jit

fuzz-setup: setup
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

fuzz: fuzz-setup examples
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  case $$t in dispatcher) seeds="$(SEEDS_dispatcher)";; elf_loader) seeds="$(SEEDS_elf_loader)";; \
	    assembler) seeds="$(SEEDS_assembler)";; verifier) seeds="$(SEEDS_verifier)";; jit) seeds="$(SEEDS_jit)";; \
	    *) seeds="$(SEEDS_programs)";; esac; \
	  $(CARGO) $(NIGHTLY) fuzz run --fuzz-dir tools/fuzz $$t target/fuzz-corpus/$$t $$seeds -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
	    > target/fuzz-$$t.log 2>&1 || { tail -60 target/fuzz-$$t.log; echo "fuzz: $$t FAILED (tools/fuzz/artifacts/$$t)"; exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)' target/fuzz-$$t.log | sed "s/^/fuzz: $$t: /"; \
	done

## A short run of every fuzz target (part of make test).
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

## Long concurrency runs on the embedded dispatcher: the churn workers and
## the race suites, repeated.
STRESS_SECONDS ?= 120
stress: build
	$(CARGO) run -q --release -p ebpf-stress -- churn --workers 4 --seconds $(STRESS_SECONDS)
	@for i in 1 2 3 4 5 6 7 8 9 10; do \
	  $(CARGO) test -q --release -p libebpf-ioctl --test concurrency --test limits --test bounded 2>&1 | grep -E 'test result|panicked' || exit 1; \
	done
	@# Timers: cancels, frees and closes under running callbacks.
	@for i in 1 2 3 4 5 6 7 8 9 10; do \
	  $(CARGO) test -q --release -p libebpf-ioctl --test examples -- timer closed_while 2>&1 | grep -E 'test result|panicked' || exit 1; \
	done

## The stress suites and a churn under AddressSanitizer (nightly); the fuzz
## targets are built with it too.
ASAN = RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
	$(CARGO) $(NIGHTLY) $(1) --target $(shell rustc -vV | sed -n 's/host: //p') --target-dir target/asan
asan: fuzz-setup examples
	$(call ASAN,test) -q -p libebpf-ioctl --test concurrency --test limits --test bounded
	@# Timers: cells and programs freed under running callbacks.
	$(call ASAN,test) -q -p libebpf-ioctl --test examples -- timer closed_while
	$(call ASAN,run) -q -p ebpf-stress -- churn --workers 4 --seconds 20
	@# Objects kept only by pins, in a cycle through a prog_array, are freed
	@# with the device (LeakSanitizer fails the run otherwise).
	printf 'load $(BPF_OUT)/tail_call.o --pin t\nunload t/handle_tcp\n' | \
	  $(call ASAN,run) -q -p ebpfctl -- --embedded batch -

bench: setup examples
	$(CARGO) bench -p ebpf-bench --bench interpreter
	$(CARGO) bench -p ebpf-bench --bench maps
	$(CARGO) bench -p ebpf-bench --bench verify
	$(CARGO) bench -p ebpf-bench --bench jit

clean:
	$(CARGO) clean
