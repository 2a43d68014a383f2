/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-ae5334e6340a6982.d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs

/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-ae5334e6340a6982: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/mock.rs src/module.rs src/platform.rs src/tests.rs

src/lib.rs:
src/cdev.rs:
src/heap.rs:
src/kpi.rs:
src/mock.rs:
src/module.rs:
src/platform.rs:
src/tests.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
