//! Jump semantics (RFC 9669, section 4.3): every condition in its 64- and
//! 32-bit, immediate and register forms, over edge values, against the
//! reference; plus `ja`, `gotol` and the budget.

mod common;

use common::reference::{self, EDGE_VALUES, JUMP_OPS};
use common::{load, run};
use ebpf_core::{LoadOptions, Program, RunError};

fn program(op: &str, wide: bool, a: u64, b: u64, by_reg: bool) -> String {
    let w = if wide { "" } else { "32" };
    let operand = if by_reg {
        "%r2".to_string()
    } else {
        format!("{}", b as u32 as i32)
    };
    format!(
        "lddw %r1, {a:#x}\nlddw %r2, {b:#x}\nmov %r0, 1\n{op}{w} %r1, {operand}, +1\nmov %r0, 0\nexit"
    )
}

#[test]
fn every_condition_matches_the_reference_on_edge_values() {
    let mut checked = 0;
    for op in JUMP_OPS {
        for wide in [true, false] {
            for &a in EDGE_VALUES {
                for &b in EDGE_VALUES {
                    // Register form: full 64-bit operand.
                    let got = run(&program(op, wide, a, b, true)) == 1;
                    assert_eq!(
                        got,
                        reference::jump(op, a, b, wide),
                        "{op} wide={wide} {a:#x} {b:#x} reg"
                    );
                    // Immediate form: the immediate is b's low 32 bits,
                    // sign-extended for 64-bit jumps.
                    let imm = if wide {
                        b as u32 as i32 as i64 as u64
                    } else {
                        b as u32 as u64
                    };
                    let got = run(&program(op, wide, a, b, false)) == 1;
                    assert_eq!(
                        got,
                        reference::jump(op, a, imm, wide),
                        "{op} wide={wide} {a:#x} {b:#x} imm"
                    );
                    checked += 2;
                }
            }
        }
    }
    assert_eq!(checked, JUMP_OPS.len() * 2 * EDGE_VALUES.len().pow(2) * 2);
}

#[test]
fn unconditional_jumps() {
    assert_eq!(run("mov %r0, 1\nja +1\nmov %r0, 2\nexit"), 1);
    assert_eq!(run("mov %r0, 1\ngotol +1\nmov %r0, 2\nexit"), 1);
    assert_eq!(run("ja fwd\nback: mov %r0, 7\nexit\nfwd: ja back"), 7);
    // A backward conditional loop: sum 1..=10.
    assert_eq!(
        run("mov %r0, 0\nmov %r1, 10\nloop: add %r0, %r1\nsub %r1, 1\njne %r1, 0, loop\nexit"),
        55
    );
}

#[test]
fn gotol_reaches_beyond_16_bit_offsets() {
    // 40000 filler instructions between the jump and its target.
    let mut src = String::from("mov %r0, 1\ngotol end\n");
    for _ in 0..40_000 {
        src.push_str("mov %r0, 2\n");
    }
    src.push_str("end: exit\n");
    assert_eq!(run(&src), 1);
}

#[test]
fn budget_counts_every_executed_instruction() {
    // Exactly 4 instructions execute.
    let insns = common::assemble("mov %r0, 1\nja +0\nadd %r0, 1\nexit");
    let ok = Program::load(&insns, &LoadOptions::default().budget(4)).unwrap();
    assert_eq!(ok.run_on(&mut []).unwrap(), 2);
    let short = Program::load(&insns, &LoadOptions::default().budget(3)).unwrap();
    assert_eq!(
        short.run_on(&mut []),
        Err(RunError::BudgetExhausted { pc: 3, budget: 3 })
    );
}

#[test]
fn infinite_loop_stops_at_the_budget() {
    let p = load("ja -1");
    assert_eq!(
        p.run_on(&mut []),
        Err(RunError::BudgetExhausted {
            pc: 0,
            budget: ebpf_core::program::DEFAULT_BUDGET
        })
    );
}
