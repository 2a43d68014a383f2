//! Arbitrary bytes as an ELF object: parsed, and if it parses, loaded into
//! an embedded device with small limits. Errors are fine; panics are not.
#![no_main]

use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::{Ebpf, EmbeddedBackend};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(obj) = BpfObject::parse(data) else {
        return;
    };
    let backend = EmbeddedBackend::with_limits(ebpf_fuzz::limits()).unwrap();
    let e = Ebpf::with_backend(Box::new(backend));
    if let Ok(loaded) = e.load_object(&obj) {
        for def in &obj.programs {
            if let Some(p) = loaded.program(&def.name) {
                let _ = e.prog_test_run(p, &[0u8; 64], 1);
            }
        }
    }
});
