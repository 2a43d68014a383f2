/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-4e258827b25c3d65.d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

/work/main/kmod-freebsd/target/debug/deps/libebpf_kld-4e258827b25c3d65.a: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

/work/main/kmod-freebsd/target/debug/deps/libebpf_kld-4e258827b25c3d65.rlib: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

src/lib.rs:
src/cdev.rs:
src/heap.rs:
src/kpi.rs:
src/module.rs:
src/platform.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
