/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-885ac82c7c01513f.d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs Cargo.toml

/work/main/kmod-freebsd/target/debug/deps/libebpf_kld-885ac82c7c01513f.rmeta: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs Cargo.toml

src/lib.rs:
src/cdev.rs:
src/heap.rs:
src/kpi.rs:
src/mock.rs:
src/module.rs:
src/platform.rs:
src/tests.rs:
Cargo.toml:

# env-dep:CARGO_PKG_VERSION=0.1.0
# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
