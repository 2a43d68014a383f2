//! Compiled code against the interpreter: each input seeds the generator
//! of valid programs over the whole instruction set (ebpf-core's
//! `tests/common/jit_gen.rs`) and gives the memory, or, when its first
//! byte is odd, is raw instructions after 64 bytes of memory. A program
//! whose checked run ends well runs compiled on the same memory and
//! stack; any difference in `r0`, memory or stack is a crash. The second
//! byte's low bit compiles with constants blinded.
#![no_main]

#[path = "../../../ebpf-core/tests/common/jit_gen.rs"]
#[allow(dead_code)]
mod jit_gen;

use ebpf_core::Insn;
use libebpf_ioctl::UserPlatform;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    let mut rng = jit_gen::Rng(u64::from_le_bytes(seed) | 1);
    let raw = data.len() >= 72 && data[0] & 1 == 1;
    let (memory, insns): (Vec<u8>, Vec<Insn>) = if raw {
        let insns = data[72..]
            .chunks_exact(8)
            .map(|c| Insn::from_bytes(c.try_into().unwrap()))
            .collect();
        (data[8..72].to_vec(), insns)
    } else {
        let len = 10 + rng.below(120) as usize;
        let memory = (0..64).map(|_| rng.next() as u8).collect();
        (memory, jit_gen::program(&mut rng, len))
    };
    let platform = UserPlatform::get();
    platform.set_jit_harden(data.get(1).is_some_and(|b| b & 1 == 1));
    jit_gen::compare(platform, &insns, &memory);
});
