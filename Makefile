# ebpf-kmod: top-level build and test entry points.
#
#   make demo    run the example packet filter on the embedded interpreter
#   make test    everything CI checks (format, lints, unit and integration tests)
#   make bench   benchmarks, with peer runtimes side by side

CARGO ?= cargo
EBPFCTL = target/debug/ebpfctl

# Ethernet + IPv4 + TCP frames (hex), destination port 80, 8080 and 22.
PKT_HEAD = 00000000000000000000000008004500002800000000400600000a0000010a000002
PKT_TCP80   = $(PKT_HEAD)c00000500000000000000000500200000000000000000000
PKT_TCP8080 = $(PKT_HEAD)c0001f900000000000000000500200000000000000000000
PKT_TCP22   = $(PKT_HEAD)c00000160000000000000000500200000000000000000000

.PHONY: all setup build demo test fmt-check clippy unit bench clean

all: build

## Toolchain components the build needs (rustup is on every machine of ours).
setup:
	@command -v rustup >/dev/null && rustup component add rustfmt clippy >/dev/null 2>&1 || true

build: setup
	$(CARGO) build --workspace

demo: build
	@echo "port filter (examples/asm/port_filter.s) on the embedded interpreter: 1 = drop, 2 = pass"
	@for p in TCP80:$(PKT_TCP80) TCP8080:$(PKT_TCP8080) TCP22:$(PKT_TCP22); do \
	  name=$${p%%:*}; hex=$${p#*:}; \
	  printf '  %-8s -> ' $$name; $(EBPFCTL) exec --asm examples/asm/port_filter.s $$hex; \
	done

test: setup fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory demo

bench: setup
	$(CARGO) bench -p ebpf-bench --bench interpreter
	$(CARGO) bench -p ebpf-bench --bench maps

clean:
	$(CARGO) clean
