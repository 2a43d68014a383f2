/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-fe534eaf3197459d.d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs

/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-fe534eaf3197459d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs

src/lib.rs:
src/cdev.rs:
src/heap.rs:
src/kpi.rs:
src/mock.rs:
src/module.rs:
src/platform.rs:
src/tests.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
