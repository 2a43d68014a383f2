//! A minimal client of the host kernel's bpf(2), for differential tests:
//! load a socket-filter program and run it with BPF_PROG_TEST_RUN.

use ebpf_core::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

#[repr(C, align(8))]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    rest: [u64; 12],
}

#[repr(C, align(8))]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    rest: [u64; 10],
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<i64, std::io::Error> {
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of the size
    // passed; the kernel reads and writes only within it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A program loaded into the host kernel; closed on drop.
pub struct KernelProgram {
    fd: i32,
}

impl KernelProgram {
    /// Loads `insns` as a socket filter; on failure returns the errno and
    /// the verifier's log.
    pub fn load(insns: &[Insn]) -> Result<Self, String> {
        let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        let license = b"GPL\0";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
            insn_cnt: insns.len() as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => Ok(KernelProgram { fd: fd as i32 }),
            Err(e) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                Err(format!("{e}: {}", String::from_utf8_lossy(&log[..end])))
            }
        }
    }

    /// Runs the program once on `data`; returns the 32-bit return value.
    pub fn run(&self, data: &mut [u8]) -> Result<u32, std::io::Error> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd as u32,
            data_size_in: data.len() as u32,
            data_in: data.as_mut_ptr() as u64,
            repeat: 1,
            ..Default::default()
        };
        sys_bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok(attr.retval)
    }
}

impl Drop for KernelProgram {
    fn drop(&mut self) {
        // SAFETY: the fd was returned by BPF_PROG_LOAD and is owned here.
        unsafe { libc::close(self.fd) };
    }
}

/// Why bpf(2) cannot be used here, if it cannot.
pub fn unavailable() -> Option<String> {
    let probe = [Insn::new(0xb7, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)];
    match KernelProgram::load(&probe) {
        Ok(p) => match p.run(&mut [0u8; 64]) {
            Ok(_) => None,
            Err(e) => Some(format!("BPF_PROG_TEST_RUN failed: {e}")),
        },
        Err(e) => Some(format!("BPF_PROG_LOAD failed: {e}")),
    }
}
