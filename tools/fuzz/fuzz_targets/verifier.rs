//! The verifier's soundness: a program it accepts must never trip a
//! run-time check of the checking interpreter. Each input is either a seed
//! for the generator of near-valid XDP programs (ebpf-core's
//! `tests/common/xdp_gen.rs`: XDP, tc or socket filter programs), or,
//! when it is long, raw instructions; the program's maps are a hash map
//! and an array, and it runs on packets made from the input.
#![no_main]

#[path = "../../../ebpf-core/tests/common/xdp_gen.rs"]
#[allow(dead_code)]
mod xdp_gen;

use ebpf_core::Insn;
use libebpf_ioctl::UserPlatform;
use std::sync::Mutex;

static HARNESS: Mutex<Option<xdp_gen::Harness>> = Mutex::new(None);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    let mut rng = xdp_gen::Rng(u64::from_le_bytes(seed) | 1);
    let flavor = [
        xdp_gen::Flavor::XDP,
        xdp_gen::Flavor::TC,
        xdp_gen::Flavor::SOCKET,
    ][rng.below(3) as usize];
    let insns: Vec<Insn> = if data.len() >= 24 && data[0] & 1 == 1 {
        data[8..]
            .chunks_exact(8)
            .map(|c| Insn::from_bytes(c.try_into().unwrap()))
            .collect()
    } else {
        xdp_gen::program(&mut rng, flavor)
    };
    let mut harness = HARNESS.lock().unwrap();
    harness
        .get_or_insert_with(|| xdp_gen::Harness::new(UserPlatform::get()))
        .check(&insns, flavor, &mut rng, 4);
});
