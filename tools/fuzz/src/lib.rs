//! What the fuzz targets share: a caller whose "user memory" is an arena
//! (anything outside faults, as `copy_from_user` does), and the decoding
//! of fuzz input into ioctl sequences.

use std::sync::Mutex;

use ebpf_core::abi::{Command, IoctlArg};
use ebpf_core::dispatch::{Device, Limits};
use ebpf_core::Errno;
use libebpf_ioctl::{Caller, UserPlatform};

/// Where the arena sits in the "user" address space.
pub const BASE: u64 = 0x1000_0000;
/// Its size: data the requests point at, then the request itself.
pub const ARENA: usize = 8192;
/// Where each request struct is placed.
pub const REQUEST_AT: usize = 6144;

/// User memory: an arena; any address outside it is `EFAULT`.
pub struct Arena(pub Mutex<Vec<u8>>);

impl Arena {
    fn range(&self, addr: u64, len: usize) -> Result<usize, Errno> {
        let start = addr.checked_sub(BASE).ok_or(Errno::EFAULT)? as usize;
        let end = start.checked_add(len).ok_or(Errno::EFAULT)?;
        if end > ARENA {
            return Err(Errno::EFAULT);
        }
        Ok(start)
    }
}

impl Caller for Arena {
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        let at = self.range(src, dst.len())?;
        let mem = self.0.lock().unwrap();
        dst.copy_from_slice(&mem[at..at + dst.len()]);
        Ok(())
    }

    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        let at = self.range(dst, src.len())?;
        let mut mem = self.0.lock().unwrap();
        mem[at..at + src.len()].copy_from_slice(src);
        Ok(())
    }
}

/// The platform the fuzz targets run on: userspace's, with the arena as
/// user memory (one for the process; each input resets it).
pub fn platform() -> (&'static UserPlatform, &'static Arena) {
    static ARENA_CALLER: std::sync::OnceLock<(&'static UserPlatform, &'static Arena)> =
        std::sync::OnceLock::new();
    *ARENA_CALLER.get_or_init(|| {
        let arena: &'static Arena = Box::leak(Box::new(Arena(Mutex::new(vec![0; ARENA]))));
        (UserPlatform::with_caller(arena), arena)
    })
}

/// Small limits, so that an input's work stays small.
pub fn limits() -> Limits {
    Limits {
        max_maps: 32,
        max_progs: 16,
        max_map_bytes: 4 << 20,
        max_insns: 4096,
        run_budget: 20_000,
        max_handles: 64,
        max_pins: 16,
        max_test_data: 4096,
        max_repeat: 8,
        max_log: 4096,
    }
}

/// A reader of fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    /// The next byte (0 at the end).
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// Plays `data` as a sequence of ioctls on a fresh device: first the
/// arena's data part (a byte saying how many 16-byte blocks, then those),
/// then per request a command, a size, the request's
/// bytes and up to three pointer patches (a field made to point into the
/// arena). Every request must return, with 0 or an errno.
pub fn play_ioctls(data: &[u8]) {
    let (platform, arena) = platform();
    let mut input = Input(data);
    {
        let mut mem = arena.0.lock().unwrap();
        mem.fill(0);
        let len = input.byte() as usize * 16;
        let init = input.bytes(len);
        mem[..init.len()].copy_from_slice(init);
    }
    let dev = Device::new(platform, limits(), "fuzz").unwrap();
    let file = dev
        .open(ebpf_core::dispatch::Privileges::default())
        .unwrap();
    for _ in 0..32 {
        if input.0.is_empty() {
            break;
        }
        let cmd = Command::ALL[input.byte() as usize % Command::ALL.len()];
        let size = input.byte() as usize * 4 % (ARENA - REQUEST_AT);
        let mut req = input.bytes(size).to_vec();
        req.resize(size, 0);
        for _ in 0..input.byte() % 4 {
            let field = (input.byte() as usize * 4).min(size.saturating_sub(8));
            let target = u16::from_le_bytes([input.byte(), input.byte()]) as u64 % ARENA as u64;
            if size >= 8 {
                req[field..field + 8].copy_from_slice(&(BASE + target).to_ne_bytes());
            }
        }
        arena.0.lock().unwrap()[REQUEST_AT..REQUEST_AT + size].copy_from_slice(&req);
        let arg = IoctlArg {
            request: BASE + REQUEST_AT as u64,
            size: size as u32,
            reserved: 0,
        };
        let _ = dev.ioctl_arg(&file, cmd.request(), &arg);
    }
    dev.close(file);
}
