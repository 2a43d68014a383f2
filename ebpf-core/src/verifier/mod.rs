//! The verifier: decides at load time, as Linux's does, whether a program
//! is safe to run without run-time checks.
//!
//! It is a path-sensitive abstract interpreter. Every path through the
//! program is followed with an abstract [`State`](state::State): what each
//! register and stack slot holds (numbers with known bits and bounds,
//! [`scalar`]; pointers to the context, stack, packet, map values, ring
//! buffer records), across BPF-to-BPF calls and helper callbacks. Every
//! memory access, helper argument and pointer operation is checked against
//! it; conditional jumps narrow it on each side. States kept at jump
//! targets end the exploration of a later path that they cover (pruning),
//! which is what makes loops and real programs finish quickly; at most
//! [`MAX_PROCESSED`] instructions are processed, as in Linux.
//!
//! Where Linux has words for an error, the log uses them ("R0 !read_ok",
//! "R1 invalid mem access 'scalar'", "invalid access to packet",
//! "unreachable insn 5", "BPF program is too complex").
//!
//! Parts: [`cfg`] (control flow, liveness), [`scalar`] and [`tnum`]
//! (numbers), [`state`] (registers, stack, covering), `check` (the
//! exploration).

pub mod cfg;
mod check;
pub mod scalar;
pub mod state;
pub mod tnum;

use core::fmt;

use crate::errno::Errno;
use crate::graph::types::{ObjType, Record};
use crate::insn::Insn;
use crate::maps::MapType;
use crate::prog_type::{AttachPoint, ProgType};

/// Instructions processed before the verifier gives up (Linux's
/// `BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_PROCESSED: usize = 1_000_000;

/// What the verifier knows of a map the program references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDesc {
    /// Its type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// For a map of maps: the index (in the same list) of its inner maps'
    /// description.
    pub inner: Option<u16>,
    /// The special fields of its values (lists of objects).
    pub record: Record,
}

impl MapDesc {
    /// The description of a map with `attr`.
    pub fn of(attr: &crate::maps::MapAttr) -> MapDesc {
        MapDesc {
            map_type: attr.map_type,
            key_size: attr.key_size,
            value_size: attr.value_size,
            max_entries: attr.max_entries,
            flags: attr.flags,
            inner: None,
            record: attr.record,
        }
    }
}

/// What the verifier is told about the program besides its instructions.
pub struct Subject<'a> {
    /// The program type (its context and helpers).
    pub prog_type: ProgType,
    /// Where it is meant to run (its context may differ).
    pub attach: AttachPoint,
    /// Whether the license is GPL-compatible (for GPL-only helpers).
    pub gpl: bool,
    /// The maps, and inner-map descriptions after them.
    pub maps: &'a [MapDesc],
    /// The index in `maps` of the map an `lddw` with this pseudo source and
    /// immediate names.
    pub map_of_lddw: &'a dyn Fn(u8, i32) -> Option<usize>,
    /// The caller may see kernel addresses, as Linux's `allow_ptr_leaks`
    /// (`CAP_PERFMON`): a program may then return pointers, store them
    /// where userspace reads them back, compare them and turn them into
    /// numbers; it may also read stack it did not write (Linux's
    /// `allow_uninit_stack`, the same privilege). Without it, each of those
    /// is refused.
    pub allow_ptr_leaks: bool,
    /// The first instruction of the program's exception callback, if it
    /// has one of its own: a function `bpf_throw` calls with its cookie
    /// after unwinding, whose return value the program returns.
    pub exception_cb: Option<usize>,
    /// The object type of the device's graph at an index
    /// ([`crate::graph`]).
    pub obj_type: &'a dyn Fn(u32) -> Option<ObjType>,
    /// The object types the program may allocate: (BTF id, index).
    pub obj_btf: &'a [(u32, u32)],
}

/// The reason a program was rejected, kept without allocating (at most 96
/// bytes: Linux's messages fit).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    text: [u8; 96],
    len: u8,
}

impl Reason {
    fn new(args: fmt::Arguments<'_>) -> Reason {
        let mut r = Reason {
            text: [0; 96],
            len: 0,
        };
        let _ = fmt::write(&mut r, args);
        r
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Write for Reason {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if (self.len as usize) < self.text.len() {
                self.text[self.len as usize] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a program was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The instruction.
    pub pc: usize,
    /// Linux's errno for it (`EACCES` for unsafe programs, `EINVAL` for
    /// malformed ones, `E2BIG` for too complex ones).
    pub errno: Errno,
    /// What is wrong, in Linux's words where it has some.
    pub reason: Reason,
}

impl VerifyError {
    /// An `EACCES` error at `pc`.
    pub fn at(pc: usize, what: &str) -> VerifyError {
        VerifyError::new(pc, Errno::EACCES, format_args!("{what}"))
    }

    /// An error with a formatted reason.
    pub fn new(pc: usize, errno: Errno, args: fmt::Arguments<'_>) -> VerifyError {
        VerifyError {
            pc,
            errno,
            reason: Reason::new(args),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insn {}: {}", self.pc, self.reason)
    }
}

/// What a successful verification measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed (Linux's "processed N insns").
    pub processed: usize,
    /// States kept for pruning.
    pub states: usize,
    /// Paths ended because a kept state covered them.
    pub pruned: usize,
}

/// Whether the verifier can decide for programs of `t`: it needs the
/// structure their `r1` points to. Generic programs (a buffer and its
/// length) run with run-time checks instead.
pub fn models(t: ProgType) -> bool {
    t.spec().context.is_some()
}

/// Verifies `insns` (structurally valid: the loader's checks passed).
/// `log_level` 1 writes the error, 2 also the state at every instruction,
/// to `log`.
pub fn verify(
    insns: &[Insn],
    subject: &Subject<'_>,
    log: &mut dyn fmt::Write,
    log_level: u32,
) -> Result<Stats, VerifyError> {
    let result = check::Explorer::new(insns, subject, log, log_level).and_then(|e| e.run());
    match &result {
        Ok(stats) => {
            if log_level > 0 {
                let _ = writeln!(
                    log,
                    "processed {} insns (limit {MAX_PROCESSED}) total_states {} pruned {}",
                    stats.processed, stats.states, stats.pruned
                );
            }
        }
        Err(e) => {
            if log_level > 0 {
                let _ = writeln!(log, "{}", e.reason);
            }
        }
    }
    result
}
