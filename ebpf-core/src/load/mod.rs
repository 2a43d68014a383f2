//! The load pipeline: from the instructions a request carries to a program
//! ready to run, in named steps.
//!
//! 1. **parse** ([`parse`]): the request's bytes become instructions (the
//!    dispatcher copies them in; [`Program::from_bytes`] does the same for
//!    embedders);
//! 2. **resolve** ([`resolve`]): the maps the program references, found
//!    once, and the value each `lddw` of a map loads; kfunc calls become
//!    calls of their helper-table ids ([`crate::helpers::kfunc::lower`]);
//! 3. **check** ([`check`], then [`verify`](crate::verifier::verify)):
//!    whether the program may be admitted at all (opcodes, registers,
//!    reserved fields, jumps, calls and the helpers its type may call), then
//!    whether it is safe to run without run-time checks;
//! 4. **rewrite** ([`ProgType::rewrite`]): the program type's context
//!    accesses converted to the structure the runtime passes;
//! 5. **decode** ([`Program::load`]): pre-decoded slots for the interpreter.
//!
//! [`LoadedProgram::load`] and [`LoadedProgram::admit`] run the steps
//! after parsing.
//!
//! **Admission.** A program of a type the verifier models (one with a
//! context structure: XDP, tc, socket filters) is verified; once accepted it runs without
//! run-time checks and without an instruction budget. A rejected one is
//! refused, unless the caller asked for *checked* admission
//! ([`Admission::checked_if_rejected`], `EBPF_F_CHECKED` in the ABI): then
//! it runs in the interpreter with run-time checks and the budget, as do
//! generic programs.

pub mod resolve;

use alloc::vec::Vec;
use core::fmt;

use crate::error::LoadError;
use crate::graph::ProgramObjects;
use crate::insn::{Insn, INSN_SIZE};
use crate::opcode::{BPF_CALL, BPF_JMP, BPF_PSEUDO_HELPER};
use crate::platform::PlatformRef;
use crate::prog_type::{AttachPoint, ProgType};
use crate::program::{LoadOptions, Program};
use crate::runtime::LoadedProgram;
use crate::verifier::{self, MapDesc, Stats, Subject};

pub use resolve::ProgramMaps;

/// Step 1: `bytes` (8-byte little-endian slots) as instructions, in
/// fallibly allocated memory.
pub fn parse(bytes: &[u8]) -> Result<Vec<Insn>, LoadError> {
    let decoded =
        crate::insn::decode(bytes).map_err(|e| LoadError::PartialInstruction { bytes: e.len })?;
    let mut insns = Vec::new();
    insns
        .try_reserve_exact(bytes.len() / INSN_SIZE)
        .map_err(|_| LoadError::OutOfMemory)?;
    insns.extend(decoded);
    Ok(insns)
}

/// Step 3: whether `insns` may be loaded with `opts` (its helpers and map
/// references resolved).
pub fn check(insns: &[Insn], opts: &LoadOptions<'_>) -> Result<(), LoadError> {
    Program::check(insns, opts)
}

/// How a program is admitted, besides its instructions and maps.
#[derive(Default)]
pub struct Admission<'l> {
    /// Its license is GPL-compatible (for GPL-only helpers).
    pub gpl: bool,
    /// Admit a program the verifier rejects as a checked one instead of
    /// refusing it.
    pub checked_if_rejected: bool,
    /// The caller may see kernel addresses (the verifier's
    /// [`allow_ptr_leaks`](crate::verifier::Subject::allow_ptr_leaks)).
    pub allow_ptr_leaks: bool,
    /// Where the verifier writes its log, and at which level (1: the
    /// verdict, 2: the state at every instruction).
    pub log: Option<(&'l mut dyn fmt::Write, u32)>,
    /// Where the program is meant to run (its context may differ).
    pub attach: AttachPoint,
    /// The first instruction of the program's own exception callback.
    pub exception_cb: Option<usize>,
    /// The device's object graph and the object types the program may
    /// allocate, as (BTF id, index in the graph).
    pub objects: Option<ProgramObjects>,
}

/// How a program was admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Verified: runs without run-time checks.
    Verified(Stats),
    /// Runs with run-time checks: its type is not verified, or the verifier
    /// rejected it and checked admission was asked for.
    Checked,
}

/// What the verifier needs to know of the maps: each map, then the inner
/// template of each map of maps.
fn map_descs(maps: &ProgramMaps) -> Result<Vec<MapDesc>, LoadError> {
    let mut out = Vec::new();
    out.try_reserve_exact(2 * maps.maps().len())
        .map_err(|_| LoadError::OutOfMemory)?;
    for m in maps.maps() {
        out.push(MapDesc::of(m.attr()));
    }
    for i in 0..maps.maps().len() {
        if let Some(t) = &maps.maps()[i].attr().inner {
            out[i].inner = Some(out.len() as u16);
            out.push(MapDesc {
                map_type: t.map_type,
                key_size: t.key_size,
                value_size: t.value_size,
                max_entries: t.max_entries,
                flags: t.flags,
                inner: None,
                record: t.record,
            });
        }
    }
    Ok(out)
}

impl LoadedProgram {
    /// Loads `insns` as a program of `prog_type` bound to `maps`, with
    /// run-time checks whatever its type: resolve, check, rewrite, decode.
    /// `options` sets the budget and limits (its helpers and resolver are
    /// replaced by the type's helpers and `maps`).
    pub fn load(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        insns: &[Insn],
        maps: ProgramMaps,
        options: LoadOptions<'_>,
    ) -> Result<Self, LoadError> {
        let how = Admission::default();
        Self::admit_as(platform, id, prog_type, insns, maps, options, how, false).map(|(p, _)| p)
    }

    /// Loads `insns` as [`load`](Self::load) does, verifying programs of
    /// the types the verifier models (see the module's documentation).
    pub fn admit(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        insns: &[Insn],
        maps: ProgramMaps,
        options: LoadOptions<'_>,
        admission: Admission<'_>,
    ) -> Result<(Self, Verdict), LoadError> {
        Self::admit_as(
            platform, id, prog_type, insns, maps, options, admission, true,
        )
    }

    /// The pipeline; `verify` says whether the verifier runs at all.
    #[allow(clippy::too_many_arguments)]
    fn admit_as(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        insns: &[Insn],
        maps: ProgramMaps,
        options: LoadOptions<'_>,
        admission: Admission<'_>,
        verify: bool,
    ) -> Result<(Self, Verdict), LoadError> {
        let helpers = prog_type.helpers();
        let opts = options
            .helpers(&helpers)
            .resolver(&maps)
            .exception_callback(admission.exception_cb);
        // Kfunc calls become calls of their helper-table ids.
        let lowered = crate::helpers::kfunc::lower(insns)?;
        let insns = lowered.as_deref().unwrap_or(insns);
        if !platform.socket_lookups() {
            no_socket_helpers(insns)?;
        }
        check(insns, &opts)?;
        let mut verdict = Verdict::Checked;
        if verify && verifier::models(prog_type) {
            let descs = map_descs(&maps)?;
            let graph = admission.objects.as_ref().map(|o| &o.graph);
            let obj_type = |i: u32| graph.and_then(|g| g.obj_type(i));
            let obj_btf: &[(u32, u32)] = admission.objects.as_ref().map_or(&[], |o| &o.types);
            let subject = Subject {
                prog_type,
                attach: admission.attach,
                gpl: admission.gpl,
                maps: &descs,
                map_of_lddw: &|src, imm| maps.index_of_lddw(src, imm),
                allow_ptr_leaks: admission.allow_ptr_leaks,
                exception_cb: admission.exception_cb,
                obj_type: &obj_type,
                obj_btf,
            };
            let mut quiet = NoLog;
            let (log, level) = match admission.log {
                Some((log, level)) => (log, level),
                None => (&mut quiet as &mut dyn fmt::Write, 0),
            };
            match verifier::verify(insns, &subject, log, level) {
                Ok(stats) => verdict = Verdict::Verified(stats),
                Err(e) if admission.checked_if_rejected && e.errno != crate::Errno::ENOMEM => {}
                Err(e) => return Err(LoadError::Rejected(e)),
            }
        }
        let program = match verdict {
            Verdict::Verified(_) => {
                // SAFETY: the verifier proved that every access the program
                // makes lies in memory it is granted, and that it ends.
                let unchecked = unsafe { opts.unchecked() };
                let mut program = decode(
                    prog_type,
                    admission.attach,
                    insns,
                    &unchecked.budget(u64::MAX),
                )?;
                // Where the platform has no executable memory (or the
                // machine no back end), the interpreter runs it, as Linux
                // falls back when its JIT fails.
                let _ = program.compile_with_maps(platform, maps.maps());
                program
            }
            Verdict::Checked => decode(prog_type, admission.attach, insns, &opts)?,
        };
        // The object graph's kfuncs trust the pointers they get: for
        // verified programs only.
        if verdict == Verdict::Checked && calls_any(insns, crate::helpers::ids::GRAPH) {
            return Err(LoadError::Unsupported {
                pc: 0,
                what: "object kfuncs (bpf_obj_new, lists) in a program the verifier did not accept",
            });
        }
        // So do the timer helpers, and a timer's callback runs on its own.
        if verdict == Verdict::Checked && calls_any(insns, crate::helpers::ids::TIMERS) {
            return Err(LoadError::Unsupported {
                pc: 0,
                what: "timer helpers (bpf_timer_init...) in a program the verifier did not accept",
            });
        }
        let mut loaded = LoadedProgram::new(platform, id, prog_type, program, maps.into_maps());
        if let Some(objects) = admission.objects {
            for &(_, i) in &objects.types {
                // Runs find the pool empty if memory is short: NULL.
                let _ = objects.graph.top_up(i);
            }
            loaded.set_objects(objects);
        }
        loaded.set_verified(matches!(verdict, Verdict::Verified(_)));
        loaded.set_attach(admission.attach);
        Ok((loaded, verdict))
    }
}

/// Whether `insns` call one of the helpers (or kfuncs) `ids`.
fn calls_any(insns: &[Insn], ids: &[u32]) -> bool {
    insns.iter().any(|i| {
        i.opcode == BPF_JMP | BPF_CALL
            && i.src == BPF_PSEUDO_HELPER
            && ids.contains(&(i.imm as u32))
    })
}

/// Refuses a call of a socket helper, for a platform whose sockets the
/// runtime does not see.
fn no_socket_helpers(insns: &[Insn]) -> Result<(), LoadError> {
    for (pc, insn) in insns.iter().enumerate() {
        let id = insn.imm as u32;
        if insn.opcode == BPF_JMP | BPF_CALL
            && insn.src == BPF_PSEUDO_HELPER
            && crate::helpers::ids::SOCKETS.contains(&id)
        {
            let name = crate::helpers::proto::proto_of(id).map_or("?", |p| p.name);
            return Err(LoadError::SocketsHidden { pc, name });
        }
    }
    Ok(())
}

/// Steps 4 and 5: the type's rewrite, then pre-decoding.
fn decode(
    prog_type: ProgType,
    attach: AttachPoint,
    insns: &[Insn],
    opts: &LoadOptions<'_>,
) -> Result<Program, LoadError> {
    match prog_type.rewrite(attach, insns)? {
        Some(rewritten) => Program::load(&rewritten, opts),
        None => Program::load(insns, opts),
    }
}

/// Whether `license` is one Linux counts as GPL-compatible
/// (`license_is_gpl_compatible`).
pub fn gpl_compatible(license: &[u8]) -> bool {
    [
        &b"GPL"[..],
        b"GPL v2",
        b"GPL and additional rights",
        b"Dual BSD/GPL",
        b"Dual MIT/GPL",
        b"Dual MPL/GPL",
    ]
    .contains(&license)
}

/// A log nobody reads.
struct NoLog;

impl fmt::Write for NoLog {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}
