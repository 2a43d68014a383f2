//! bpf-to-bpf calls, `callx`, helper calls and their limits.

mod common;

use common::{assemble, load, run};
use ebpf_core::{
    Exit, Flow, HelperError, Helpers, LoadError, LoadOptions, MemoryMap, Program, ProgramMemory,
    RunError, Stack,
};

#[test]
fn local_call_passes_arguments_and_returns_r0() {
    assert_eq!(
        run("mov %r1, 20\nmov %r2, 22\ncall add\nexit\nadd: mov %r0, %r1\nadd %r0, %r2\nexit"),
        42
    );
    // Relative form, as LLVM encodes it.
    assert_eq!(run("call +2\nadd %r0, 1\nexit\nmov %r0, 41\nexit"), 42);
}

#[test]
fn callee_saved_registers_survive_a_call() {
    let src = "mov %r6, 6\nmov %r7, 7\nmov %r8, 8\nmov %r9, 9\ncall f\n\
               mov %r0, %r6\nadd %r0, %r7\nadd %r0, %r8\nadd %r0, %r9\nexit\n\
               f: mov %r6, 0\nmov %r7, 0\nmov %r8, 0\nmov %r9, 0\nexit";
    assert_eq!(run(src), 30);
}

#[test]
fn each_frame_has_its_own_512_byte_stack() {
    // Caller stores at [r10-8]; callee stores at its own [r10-8]; caller's
    // value survives, and the callee's r10 is 512 bytes lower.
    let src = "stdw [%r10-8], 1\nmov %r6, %r10\ncall f\nldxdw %r1, [%r10-8]\n\
               sub %r6, %r0\nadd %r6, %r1\nmov %r0, %r6\nexit\n\
               f: stdw [%r10-8], 99\nmov %r0, %r10\nexit";
    assert_eq!(run(src), 513);
}

#[test]
fn callee_may_write_through_a_pointer_to_its_callers_stack() {
    let src = "stdw [%r10-8], 0\nmov %r1, %r10\nsub %r1, 8\ncall f\nldxdw %r0, [%r10-8]\nexit\n\
               f: stdw [%r1], 77\nexit";
    assert_eq!(run(src), 77);
}

#[test]
fn callee_cannot_touch_stack_below_its_frame() {
    let p = load("call f\nexit\nf: ldxb %r0, [%r10-513]\nexit");
    assert!(matches!(
        p.run_on(&mut []),
        Err(RunError::OutOfBounds { pc: 2, .. })
    ));
    // After returning, the callee's frame is no longer accessible.
    let p = load("call f\nldxb %r0, [%r10-600]\nexit\nf: mov %r0, 0\nexit");
    assert!(matches!(
        p.run_on(&mut []),
        Err(RunError::OutOfBounds { pc: 1, .. })
    ));
}

/// Recursion `depth` levels deep: f(n) = n == 0 ? 0 : f(n - 1) + 1.
fn recurse(depth: u64) -> Result<u64, RunError> {
    let src = format!(
        "mov %r1, {depth}\ncall f\nexit\n\
         f: jeq %r1, 0, done\nsub %r1, 1\ncall f\nadd %r0, 1\nexit\n\
         done: mov %r0, 0\nexit"
    );
    load(&src).run_on(&mut [])
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    // main + f(7)..f(0) = 9 frames; main + f(6)..f(0) = 8 frames.
    assert_eq!(recurse(6), Ok(6));
    assert_eq!(
        recurse(7),
        Err(RunError::CallDepthExceeded { pc: 5, max: 8 })
    );
}

#[test]
fn callx_calls_a_function_address() {
    assert_eq!(
        run("lddw %r5, func(f)\nmov %r1, 5\ncallx %r5\nexit\nf: mov %r0, %r1\nmul %r0, 3\nexit"),
        15
    );
}

#[test]
fn callx_refuses_anything_but_a_function_address() {
    for value in ["0", "0x1000", "0xbf0f000000000001"] {
        let src = format!("lddw %r5, {value}\ncallx %r5\nexit\nf: exit");
        let got = load(&src).run_on(&mut []);
        assert!(
            matches!(got, Err(RunError::BadCallTarget { pc: 2, .. })),
            "{value}: {got:?}"
        );
    }
}

/// Test helpers: 1 adds its arguments, 2 sums `r2` bytes at pointer `r1`,
/// 3 writes 0xab to `r2` bytes at `r1`, 4 fails, 5 makes a tail call.
struct TestHelpers {
    calls: usize,
}

impl Helpers for TestHelpers {
    fn supports(&self, id: u32) -> bool {
        (1..=5).contains(&id)
    }

    fn call(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<Flow, HelperError> {
        self.calls += 1;
        if id == 5 {
            return Ok(Flow::TailCall);
        }
        self.value(id, a, mem).map(Flow::Return)
    }
}

impl TestHelpers {
    fn value(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<u64, HelperError> {
        match id {
            1 => Ok(a.iter().sum()),
            2 => {
                let mut buf = vec![0u8; a[1] as usize];
                mem.read(a[0], &mut buf)?;
                Ok(buf.iter().map(|b| *b as u64).sum())
            }
            3 => {
                mem.write(a[0], &vec![0xab; a[1] as usize])?;
                Ok(0)
            }
            _ => Err(HelperError::Other("asked to fail")),
        }
    }
}

fn run_with_helpers(src: &str, mem: &mut [u8]) -> (Result<u64, RunError>, usize) {
    let helpers = TestHelpers { calls: 0 };
    let prog = Program::load(&assemble(src), &LoadOptions::default().helpers(&helpers)).unwrap();
    let mut helpers = helpers;
    let mut map = MemoryMap::new();
    let addr = map.add_mut(mem, ebpf_core::RegionKind::Memory).unwrap();
    let r = prog.run(&mut Stack::new(), &map, [addr, 0, 0, 0, 0], &mut helpers);
    (r, helpers.calls)
}

#[test]
fn a_tail_call_ends_the_program_at_the_call() {
    // The store after the call must not happen; without a runtime to follow
    // it, the run reports the tail call instead of a return value.
    let mut m = [0u8; 1];
    let src = "call 5\nstb [%r1], 1\nmov %r0, 7\nexit";
    let (r, calls) = run_with_helpers(src, &mut m);
    assert_eq!(r, Err(RunError::UnfollowedTailCall));
    assert_eq!((calls, m[0]), (1, 0));
    let prog = Program::load(
        &assemble(src),
        &LoadOptions::default().helpers(&TestHelpers { calls: 0 }),
    )
    .unwrap();
    let mut map = MemoryMap::new();
    let addr = map.add_mut(&mut m, ebpf_core::RegionKind::Memory).unwrap();
    let budget = std::cell::Cell::new(100);
    let exit = prog.run_with_budget(
        &mut Stack::new(),
        &map,
        [addr, 0, 0, 0, 0],
        &mut TestHelpers { calls: 0 },
        &budget,
    );
    assert_eq!(exit, Ok(Exit::TailCall));
    assert_eq!(budget.get(), 99, "one instruction ran");
}

#[test]
fn helpers_get_r1_to_r5_and_set_r0() {
    let src = "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit";
    assert_eq!(run_with_helpers(src, &mut []), (Ok(15), 1));
}

#[test]
fn helpers_reach_memory_only_through_checked_views() {
    let mut m = [1u8, 2, 3, 4];
    assert_eq!(
        run_with_helpers("mov %r2, 4\ncall 2\nexit", &mut m).0,
        Ok(10)
    );
    // Stack memory is reachable too.
    let src = "stw [%r10-4], 0x01010101\nmov %r1, %r10\nsub %r1, 4\nmov %r2, 4\ncall 2\nexit";
    assert_eq!(run_with_helpers(src, &mut m).0, Ok(4));
    // One byte too many.
    let base = m.as_ptr() as u64;
    assert_eq!(
        run_with_helpers("mov %r2, 5\ncall 2\nexit", &mut m).0,
        Err(RunError::Helper {
            pc: 1,
            id: 2,
            error: HelperError::BadPointer { addr: base, len: 5 }
        })
    );
    assert_eq!(
        run_with_helpers("mov %r2, 4\ncall 3\nexit", &mut m).0,
        Ok(0)
    );
    assert_eq!(m, [0xab; 4]);
}

#[test]
fn helper_errors_stop_the_run() {
    assert_eq!(
        run_with_helpers("call 4\nmov %r0, 1\nexit", &mut []),
        (
            Err(RunError::Helper {
                pc: 0,
                id: 4,
                error: HelperError::Other("asked to fail")
            }),
            1
        )
    );
}

#[test]
fn unknown_helpers_are_refused_at_load() {
    let helpers = TestHelpers { calls: 0 };
    let opts = LoadOptions::default().helpers(&helpers);
    let err = Program::load(&assemble("mov %r0, 0\ncall 6\nexit"), &opts).unwrap_err();
    assert_eq!(err, LoadError::UnknownHelper { pc: 1, id: 6 });
    assert_eq!(
        err.to_string(),
        "insn 1: helper bpf_trace_printk (id 6) is not one this program may call"
    );
    let negative = [
        ebpf_core::Insn::new(0x85, 0, 0, 0, -1),
        ebpf_core::Insn::new(0x95, 0, 0, 0, 0),
    ];
    assert_eq!(
        Program::load(&negative, &opts).unwrap_err(),
        LoadError::UnknownHelper { pc: 0, id: -1 }
    );
    // Without any helper table, every helper call is refused.
    assert_eq!(
        common::load_err("call 1\nexit"),
        LoadError::UnknownHelper { pc: 0, id: 1 }
    );
}
