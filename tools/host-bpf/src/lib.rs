//! A small client of the host kernel's `bpf(2)`, the one the workspace
//! uses wherever Linux itself is the reference: differential tests (load a
//! program, read the verifier's verdict and log, run it with
//! `BPF_PROG_TEST_RUN`) and benchmarks (the same program side by side).
//!
//! Instructions are passed as raw 8-byte slots, so the crate depends on no
//! other part of the workspace. Every object is an fd closed on drop.

use std::io::Error;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_XDP`, the attach type of an XDP link.
const BPF_XDP: u32 = 37;
/// `XDP_FLAGS_SKB_MODE`: generic XDP, in the network stack.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;

/// `BPF_PROG_TYPE_SOCKET_FILTER`.
pub const PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// `BPF_PROG_TYPE_SCHED_CLS`.
pub const PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_PROG_TYPE_XDP`.
pub const PROG_TYPE_XDP: u32 = 6;

/// `union bpf_attr`, large enough for every command used here. Fields are
/// addressed by their 32-bit word, as `include/uapi/linux/bpf.h` lays them
/// out.
#[repr(C, align(8))]
struct Attr([u32; 32]);

impl Attr {
    fn new() -> Self {
        Attr([0; 32])
    }

    fn set64(&mut self, word: usize, v: u64) {
        self.0[word] = v as u32;
        self.0[word + 1] = (v >> 32) as u32;
    }
}

fn sys_bpf(cmd: libc::c_long, attr: &mut Attr) -> Result<i64, Error> {
    // SAFETY: `attr` is an initialised bpf_attr of the size passed; the
    // kernel reads and writes only within it, and every pointer inside it
    // points to a live buffer of the size the neighbouring field gives.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            size_of::<Attr>() as u32,
        )
    };
    if r < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: bpf(2) just returned this fd to us; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// A map in the host kernel.
pub struct Map {
    fd: OwnedFd,
}

impl Map {
    /// `BPF_MAP_CREATE` of Linux map type `map_type`.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<Self, Error> {
        Self::create_with_flags(map_type, key_size, value_size, max_entries, 0)
    }

    /// `BPF_MAP_CREATE` with `map_flags`.
    pub fn create_with_flags(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> Result<Self, Error> {
        let mut a = Attr::new();
        a.0[..5].copy_from_slice(&[map_type, key_size, value_size, max_entries, flags]);
        Ok(Map {
            fd: owned(sys_bpf(BPF_MAP_CREATE, &mut a)?),
        })
    }

    /// The map's fd, for `map_fd` references in a program's `lddw`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn elem(&self, cmd: libc::c_long, key: &[u8], value: u64, flags: u64) -> Result<(), Error> {
        let mut a = Attr::new();
        a.0[0] = self.fd() as u32;
        a.set64(2, key.as_ptr() as u64);
        a.set64(4, value);
        a.set64(6, flags);
        sys_bpf(cmd, &mut a).map(|_| ())
    }

    /// `BPF_MAP_LOOKUP_ELEM`; `value` must be the map's value size.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<(), Error> {
        self.elem(BPF_MAP_LOOKUP_ELEM, key, value.as_mut_ptr() as u64, 0)
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags` (`BPF_ANY`, `BPF_NOEXIST`, ...).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Error> {
        self.elem(BPF_MAP_UPDATE_ELEM, key, value.as_ptr() as u64, flags)
    }
}

/// Why the kernel refused a program: its errno and the verifier's log.
#[derive(Debug)]
pub struct Refused {
    /// The error `BPF_PROG_LOAD` returned.
    pub error: Error,
    /// The verifier's log at the level asked for.
    pub log: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.log)
    }
}

/// What a test run gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunResult {
    /// The program's (32-bit) return value.
    pub retval: u32,
    /// Mean time of one run in ns, as the kernel measures it.
    pub duration_ns: u32,
}

/// A program in the host kernel.
pub struct Program {
    fd: OwnedFd,
}

impl Program {
    /// `BPF_PROG_LOAD` of `insns` (8-byte slots, map references as `map_fd`
    /// with host fds) as a program of Linux type `prog_type`, GPL-licensed,
    /// with the verifier's log at `log_level` (0: none, the verdict only).
    pub fn load(prog_type: u32, insns: &[u8], log_level: u32) -> Result<Self, Refused> {
        let license = b"GPL\0";
        let mut log = vec![0u8; if log_level == 0 { 1 } else { 1 << 20 }];
        let mut a = Attr::new();
        a.0[0] = prog_type;
        a.0[1] = (insns.len() / 8) as u32;
        a.set64(2, insns.as_ptr() as u64);
        a.set64(4, license.as_ptr() as u64);
        if log_level > 0 {
            a.0[6] = log_level;
            a.0[7] = log.len() as u32;
            a.set64(8, log.as_mut_ptr() as u64);
        }
        match sys_bpf(BPF_PROG_LOAD, &mut a) {
            Ok(fd) => Ok(Program { fd: owned(fd) }),
            Err(error) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(0);
                Err(Refused {
                    error,
                    log: String::from_utf8_lossy(&log[..end]).into_owned(),
                })
            }
        }
    }

    /// `BPF_LINK_CREATE` of an XDP link to interface `ifindex` (of the
    /// caller's network namespace) with `XDP_FLAGS_*` `flags`; the program
    /// is detached when the returned link fd is closed.
    pub fn attach_xdp(&self, ifindex: u32, flags: u32) -> Result<OwnedFd, Error> {
        let mut a = Attr::new();
        a.0[0] = self.fd.as_raw_fd() as u32;
        a.0[1] = ifindex;
        a.0[2] = BPF_XDP;
        a.0[3] = flags;
        sys_bpf(BPF_LINK_CREATE, &mut a).map(owned)
    }

    /// `BPF_PROG_TEST_RUN` on `data` (written back with the program's
    /// changes), `repeat` times (0 counts as 1).
    pub fn test_run(&self, data: &mut [u8], repeat: u32) -> Result<RunResult, Error> {
        let mut a = Attr::new();
        a.0[0] = self.fd.as_raw_fd() as u32;
        a.0[2] = data.len() as u32;
        a.0[3] = data.len() as u32;
        a.set64(4, data.as_ptr() as u64);
        a.set64(6, data.as_mut_ptr() as u64);
        a.0[8] = repeat;
        sys_bpf(BPF_PROG_TEST_RUN, &mut a)?;
        Ok(RunResult {
            retval: a.0[1],
            duration_ns: a.0[9],
        })
    }
}

/// What a test run with a context gave back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FullRun {
    /// The return value and duration.
    pub result: RunResult,
    /// The packet after the run.
    pub data_out: Vec<u8>,
    /// The context after the run (empty when none was asked for).
    pub ctx_out: Vec<u8>,
}

impl Program {
    /// `BPF_PROG_TEST_RUN` on `data` with the context `ctx_in` (if any),
    /// once; the packet comes back in a buffer of `out_capacity` bytes, the
    /// context in one of 256 bytes.
    pub fn test_run_full(
        &self,
        data: &[u8],
        out_capacity: usize,
        ctx_in: Option<&[u8]>,
    ) -> Result<FullRun, Error> {
        let mut data_out = vec![0u8; out_capacity];
        let mut ctx_out = vec![0u8; if ctx_in.is_some() { 256 } else { 0 }];
        let mut a = Attr::new();
        a.0[0] = self.fd.as_raw_fd() as u32;
        a.0[2] = data.len() as u32;
        a.0[3] = data_out.len() as u32;
        a.set64(4, data.as_ptr() as u64);
        a.set64(6, data_out.as_mut_ptr() as u64);
        a.0[8] = 1;
        if let Some(ctx) = ctx_in {
            a.0[10] = ctx.len() as u32;
            a.0[11] = ctx_out.len() as u32;
            a.set64(12, ctx.as_ptr() as u64);
            a.set64(14, ctx_out.as_mut_ptr() as u64);
        }
        sys_bpf(BPF_PROG_TEST_RUN, &mut a)?;
        data_out.truncate(a.0[3] as usize);
        ctx_out.truncate(a.0[11] as usize);
        Ok(FullRun {
            result: RunResult {
                retval: a.0[1],
                duration_ns: a.0[9],
            },
            data_out,
            ctx_out,
        })
    }
}

/// Why the host's `bpf(2)` cannot serve as the reference here (no
/// privilege, a kernel without BPF, a sandbox), if it cannot.
pub fn unavailable() -> Option<String> {
    // mov r0, 0; exit
    let probe = [0xb7u8, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    match Program::load(PROG_TYPE_SOCKET_FILTER, &probe, 1) {
        Ok(p) => match p.test_run(&mut [0u8; 64], 1) {
            Ok(_) => None,
            Err(e) => Some(format!("BPF_PROG_TEST_RUN failed: {e}")),
        },
        Err(e) => Some(format!("BPF_PROG_LOAD failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_runs_and_a_bad_one_is_refused_with_a_log() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        // mov r0, 42; exit
        let ok = [0xb7u8, 0, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        let p = Program::load(PROG_TYPE_SOCKET_FILTER, &ok, 1).unwrap();
        assert_eq!(p.test_run(&mut [0u8; 64], 1).unwrap().retval, 42);
        // exit with r0 never written
        let bad = [0x95u8, 0, 0, 0, 0, 0, 0, 0];
        let refused = Program::load(PROG_TYPE_SOCKET_FILTER, &bad, 1)
            .err()
            .expect("r0 is not initialised");
        assert_eq!(refused.error.raw_os_error(), Some(libc::EACCES));
        assert!(refused.log.contains("R0 !read_ok"), "{}", refused.log);
    }

    #[test]
    fn map_values_round_trip() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let m = Map::create(2, 4, 8, 4).unwrap(); // BPF_MAP_TYPE_ARRAY
        m.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0)
            .unwrap();
        let mut v = [0u8; 8];
        m.lookup(&1u32.to_ne_bytes(), &mut v).unwrap();
        assert_eq!(u64::from_ne_bytes(v), 7);
    }
}
