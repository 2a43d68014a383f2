//! Property tests: random operands through every ALU operation, compared
//! with the reference arithmetic.

mod common;

use common::reference::{self, ALU_OPS};
use proptest::prelude::*;

fn run_op(op: &str, wide: bool, a: u64, operand: &str, b: u64) -> u64 {
    let w = if wide { "" } else { "32" };
    common::run(&format!(
        "lddw %r0, {a:#x}\nlddw %r2, {b:#x}\n{op}{w} %r0, {operand}\nexit"
    ))
}

fn edge_or_any() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(reference::EDGE_VALUES.to_vec()),
        any::<u64>(),
        (0u64..70),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn register_forms_match_reference(
        op in prop::sample::select(ALU_OPS.to_vec()),
        wide in any::<bool>(),
        a in edge_or_any(),
        b in edge_or_any(),
    ) {
        let got = run_op(op, wide, a, "%r2", b);
        prop_assert_eq!(got, reference::alu(op, a, b, wide), "{}{} {:#x} {:#x}", op, if wide {""} else {"32"}, a, b);
    }

    #[test]
    fn immediate_forms_match_reference(
        op in prop::sample::select(ALU_OPS.to_vec()),
        wide in any::<bool>(),
        a in edge_or_any(),
        imm in any::<i32>(),
    ) {
        // Shift counts out of range and division by zero included: RFC 9669
        // defines both for constants too.
        let extended = if wide { imm as i64 as u64 } else { imm as u32 as u64 };
        let got = run_op(op, wide, a, &imm.to_string(), 0);
        prop_assert_eq!(got, reference::alu(op, a, extended, wide), "{} {:#x} {}", op, a, imm);
    }
}
