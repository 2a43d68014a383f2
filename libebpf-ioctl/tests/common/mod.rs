//! What the integration suites share: the backend they run on and the
//! example objects.

// Each suite uses a different part of this.
#![allow(dead_code)]

use std::path::PathBuf;

use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::{Backend, DeviceBackend, Ebpf, EmbeddedBackend, LoadedObject};

/// The embedded backend, or the device named by `EBPF_TEST_DEVICE` (how
/// the VM runs these suites against the kernel module).
pub fn backend() -> Box<dyn Backend> {
    match std::env::var("EBPF_TEST_DEVICE") {
        Ok(path) => Box::new(DeviceBackend::open(path.as_ref()).expect("open the device")),
        Err(_) => Box::new(EmbeddedBackend::new().unwrap()),
    }
}

/// A client of [`backend`].
pub fn client() -> Ebpf {
    Ebpf::with_backend(backend())
}

/// The bytes of example `name`'s object: from `EBPF_EXAMPLES` (as `make
/// test` and the VM set it), or where `make examples` puts them. The tests
/// do not build their inputs: a missing object is a failure that says how
/// to build it.
pub fn example_bytes(name: &str) -> Vec<u8> {
    let dir = std::env::var("EBPF_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bpf"));
    let path = dir.join(format!("{name}.o"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build the examples first (`make examples`, which needs clang-19 and \
             libbpf-dev) or point EBPF_EXAMPLES at them",
            path.display()
        )
    })
}

/// Example `name`, parsed and loaded on `e`.
pub fn load_example(e: &Ebpf, name: &str) -> (BpfObject, LoadedObject) {
    let obj = BpfObject::parse(&example_bytes(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
    let loaded = e
        .load_object(&obj)
        .unwrap_or_else(|err| panic!("{name}: {err}"));
    (obj, loaded)
}
