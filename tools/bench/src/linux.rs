//! A minimal client of the host kernel's bpf(2), for side-by-side numbers:
//! maps (create, lookup, update) and socket-filter programs run with
//! BPF_PROG_TEST_RUN and a repeat count.

use std::io::Error;

use ebpf_core::Insn;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// `union bpf_attr`, large enough for every command used here.
#[repr(C, align(8))]
struct Attr([u32; 32]);

fn sys_bpf(cmd: libc::c_long, attr: &mut Attr) -> Result<i64, Error> {
    // SAFETY: `attr` is an initialised bpf_attr of the size passed; the
    // kernel reads and writes only within it, and the pointers inside it
    // point to live buffers of the sizes the fields give.
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

fn set64(a: &mut Attr, word: usize, v: u64) {
    a.0[word] = v as u32;
    a.0[word + 1] = (v >> 32) as u32;
}

/// A kernel map; closed on drop.
pub struct KernelMap {
    /// Its fd.
    pub fd: i32,
}

impl KernelMap {
    /// Creates a map of Linux type `map_type`.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<Self, Error> {
        let mut a = Attr([0; 32]);
        a.0[..4].copy_from_slice(&[map_type, key_size, value_size, max_entries]);
        Ok(KernelMap {
            fd: sys_bpf(BPF_MAP_CREATE, &mut a)? as i32,
        })
    }

    fn elem(
        &self,
        cmd: libc::c_long,
        key: &[u8],
        value: *const u8,
        flags: u64,
    ) -> Result<(), Error> {
        let mut a = Attr([0; 32]);
        a.0[0] = self.fd as u32;
        set64(&mut a, 2, key.as_ptr() as u64);
        set64(&mut a, 4, value as u64);
        set64(&mut a, 6, flags);
        sys_bpf(cmd, &mut a).map(|_| ())
    }

    /// BPF_MAP_LOOKUP_ELEM.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<(), Error> {
        self.elem(BPF_MAP_LOOKUP_ELEM, key, value.as_mut_ptr(), 0)
    }

    /// BPF_MAP_UPDATE_ELEM.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Error> {
        self.elem(BPF_MAP_UPDATE_ELEM, key, value.as_ptr(), flags)
    }
}

impl Drop for KernelMap {
    fn drop(&mut self) {
        // SAFETY: the fd is owned here.
        unsafe { libc::close(self.fd) };
    }
}

/// A kernel socket-filter program; closed on drop.
pub struct KernelProgram {
    fd: i32,
}

impl KernelProgram {
    /// Loads `insns` (map references as `map_fd` with the kernel fds).
    pub fn load(insns: &[Insn]) -> Result<Self, String> {
        let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        let license = b"GPL\0";
        let mut log = vec![0u8; 1 << 16];
        let mut a = Attr([0; 32]);
        a.0[0] = BPF_PROG_TYPE_SOCKET_FILTER;
        a.0[1] = insns.len() as u32;
        set64(&mut a, 2, bytes.as_ptr() as u64);
        set64(&mut a, 4, license.as_ptr() as u64);
        a.0[6] = 1;
        a.0[7] = log.len() as u32;
        set64(&mut a, 8, log.as_mut_ptr() as u64);
        match sys_bpf(BPF_PROG_LOAD, &mut a) {
            Ok(fd) => Ok(KernelProgram { fd: fd as i32 }),
            Err(e) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(0);
                Err(format!("{e}: {}", String::from_utf8_lossy(&log[..end])))
            }
        }
    }

    /// Runs the program `repeat` times in the kernel; returns the mean
    /// duration of one run in ns, as the kernel measures it.
    pub fn mean_run_ns(&self, data: &mut [u8], repeat: u32) -> Result<u32, Error> {
        let mut a = Attr([0; 32]);
        a.0[0] = self.fd as u32;
        a.0[2] = data.len() as u32;
        set64(&mut a, 4, data.as_mut_ptr() as u64);
        a.0[8] = repeat;
        sys_bpf(BPF_PROG_TEST_RUN, &mut a)?;
        Ok(a.0[9])
    }
}

impl Drop for KernelProgram {
    fn drop(&mut self) {
        // SAFETY: the fd is owned here.
        unsafe { libc::close(self.fd) };
    }
}
