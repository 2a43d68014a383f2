//! The verifier's soundness, tested: random XDP programs near the edge of
//! what it accepts (`common/xdp_gen.rs`); every program it accepts runs in
//! the checking interpreter on random packets and must never trip a
//! run-time check (an access outside its memory, a misaligned atomic, the
//! instruction budget, a helper's pointer check), and, compiled by the JIT,
//! must give what the interpreter gives (r0, the packet, the maps). The
//! `verifier` fuzz target runs the same checks for longer (`make fuzz`).

mod common;
#[path = "common/xdp_gen.rs"]
mod xdp_gen;

use common::platform::ExecPlatform;
use xdp_gen::{Flavor, Harness, Outcome, Rng};

/// Generates `count` programs from `seed`; returns how many the verifier
/// accepted, how many runs they made and how many runs were compared with
/// compiled code.
fn check(seed: u64, count: usize, f: Flavor) -> (usize, usize, usize) {
    let mut harness = Harness::new(ExecPlatform::get());
    let mut rng = Rng(seed);
    let (mut accepted, mut runs) = (0, 0);
    for _ in 0..count {
        let insns = xdp_gen::program(&mut rng, f);
        match harness.check(&insns, f, &mut rng, 6) {
            Outcome::Ran(n) => {
                accepted += 1;
                runs += n;
            }
            Outcome::Rejected(e) if std::env::var("SHOW_REJECTS").is_ok() => {
                let r = e.reason.to_string();
                println!("REJECT {}", r.chars().take(40).collect::<String>());
            }
            _ => {}
        }
    }
    (accepted, runs, harness.compared)
}

#[test]
fn accepted_programs_never_trip_a_run_time_check() {
    for (name, f) in [
        ("xdp", Flavor::XDP),
        ("tc", Flavor::TC),
        ("socket", Flavor::SOCKET),
    ] {
        let (accepted, runs, compared) = check(0x5eed_0f7e_5700, 4000, f);
        println!("{name}: {accepted} of 4000 programs accepted, {runs} runs, none tripped a check, {compared} compared compiled");
        assert!(
            compared > 1000,
            "{name}: only {compared} runs compared compiled"
        );
        // The generator reaches both sides of the line.
        assert!(
            accepted > 400,
            "{name}: only {accepted} accepted: the test would prove little"
        );
        assert!(
            accepted < 3600,
            "{name}: {accepted} accepted: the generator makes no unsafe programs"
        );
    }
}
