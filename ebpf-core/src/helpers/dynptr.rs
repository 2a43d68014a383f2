//! Dynamic pointers over a run's packet (`bpf_dynptr_from_skb`,
//! `bpf_dynptr_from_xdp`), a ring buffer record
//! (`bpf_ringbuf_reserve_dynptr`) or a map value (`bpf_dynptr_from_mem`),
//! and what programs do with them: read
//! and write bytes, slices and data, adjusting, cloning, submitting, with
//! Linux's semantics and return values (`kernel/bpf/helpers.c`).
//!
//! A dynptr is Linux's `struct bpf_dynptr_kern` in 16 bytes of the
//! program's stack: the data (for a packet the run's context, where Linux
//! keeps the `sk_buff` or `xdp_buff`, so it follows the packet when a
//! helper moves it; for a record or a map value its address), the size with the type and
//! read-only bits, and the offset. The verifier keeps programs from
//! touching those bytes; a checked program could forge them, so every call
//! decodes them again (a packet's must be this run's context, a record one
//! this run reserved, a map value's memory the run may write) and reaches the bytes only through [`ProgramMemory`]
//! after a bounds check.

use crate::errno::Errno;
use crate::error::HelperError;
use crate::prog_type::ProgType;

use super::packet::ret;
use super::{ids, ProgramMemory, RunContext};

const SIZE_MASK: u32 = (1 << 24) - 1;
const TYPE_SHIFT: u32 = 28;
const RDONLY_BIT: u32 = 1 << 31;
/// `BPF_DYNPTR_TYPE_LOCAL`.
const TYPE_LOCAL: u32 = 1;
/// `BPF_DYNPTR_TYPE_RINGBUF`.
const TYPE_RINGBUF: u32 = 2;
/// `BPF_DYNPTR_TYPE_SKB`.
const TYPE_SKB: u32 = 3;
/// `BPF_DYNPTR_TYPE_XDP`.
const TYPE_XDP: u32 = 4;
/// Linux's `DYNPTR_MAX_SIZE`.
const MAX_SIZE: u64 = SIZE_MASK as u64;

/// A decoded dynptr that is not NULL.
#[derive(Clone, Copy)]
struct Dynptr {
    ctx: u64,
    size: u32,
    kind: u32,
    rdonly: bool,
    offset: u32,
}

impl Dynptr {
    fn encode(&self) -> [u8; 16] {
        let info = self.size | self.kind << TYPE_SHIFT | if self.rdonly { RDONLY_BIT } else { 0 };
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ctx.to_ne_bytes());
        b[8..12].copy_from_slice(&info.to_ne_bytes());
        b[12..].copy_from_slice(&self.offset.to_ne_bytes());
        b
    }

    /// `len` bytes at `off` fit (Linux's `bpf_dynptr_check_off_len`).
    fn fits(&self, off: u32, len: u32) -> bool {
        off <= self.size && len <= self.size - off
    }

    /// Its bytes are memory (a record's or a map value's), not a packet's.
    fn in_memory(&self) -> bool {
        matches!(self.kind, TYPE_RINGBUF | TYPE_LOCAL)
    }
}

impl RunContext<'_> {
    /// The dynptr helpers and kfuncs; `None` for another id.
    pub(super) fn call_dynptr(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Option<Result<u64, HelperError>> {
        Some(match id {
            ids::DYNPTR_FROM_SKB => self.dynptr_from(mem, a, TYPE_SKB),
            ids::DYNPTR_FROM_XDP => self.dynptr_from(mem, a, TYPE_XDP),
            ids::DYNPTR_FROM_MEM => self.dynptr_from_mem(mem, a),
            ids::DYNPTR_READ => self.dynptr_read(mem, a),
            ids::DYNPTR_WRITE => self.dynptr_write(mem, a),
            ids::DYNPTR_SLICE => self.dynptr_slice(mem, a, false),
            ids::DYNPTR_SLICE_RDWR => self.dynptr_slice(mem, a, true),
            ids::DYNPTR_ADJUST => self.dynptr_adjust(mem, a),
            ids::DYNPTR_IS_NULL => self.dynptr(mem, a[0]).map(|d| d.is_none() as u64),
            ids::DYNPTR_IS_RDONLY => self
                .dynptr(mem, a[0])
                .map(|d| d.is_some_and(|d| d.rdonly) as u64),
            ids::DYNPTR_SIZE => self.dynptr(mem, a[0]).map(|d| match d {
                Some(d) => d.size as u64,
                // A u32 kfunc: -EINVAL in 32 bits.
                None => Errno::EINVAL.to_helper_ret() as u32 as u64,
            }),
            ids::DYNPTR_CLONE => self.dynptr_clone(mem, a),
            ids::RINGBUF_RESERVE_DYNPTR => self.reserve_dynptr(mem, a),
            ids::RINGBUF_SUBMIT_DYNPTR => self.commit_dynptr(mem, a[0], false),
            ids::RINGBUF_DISCARD_DYNPTR => self.commit_dynptr(mem, a[0], true),
            ids::DYNPTR_DATA => self.dynptr_data(mem, a),
            _ => return None,
        })
    }

    /// The dynptr at `addr`: `None` when it is NULL or not of this run.
    fn dynptr(
        &self,
        mem: &ProgramMemory<'_, '_>,
        addr: u64,
    ) -> Result<Option<Dynptr>, HelperError> {
        let mut b = [0u8; 16];
        mem.read(addr, &mut b)?;
        let word = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let ctx = u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let info = word(8);
        let kind = (info >> TYPE_SHIFT) & 7;
        let d = Dynptr {
            ctx,
            size: info & SIZE_MASK,
            kind,
            rdonly: info & RDONLY_BIT != 0,
            offset: word(12),
        };
        let ours = match kind {
            TYPE_SKB | TYPE_XDP => ctx != 0 && ctx == self.run_ctx,
            // A record this run holds, its bytes inside it.
            TYPE_RINGBUF => {
                let end = u64::from(d.offset) + u64::from(d.size);
                ctx != 0 && self.reserved_len(ctx).is_some_and(|len| end <= len)
            }
            // Memory of the run's maps the run may write.
            TYPE_LOCAL => {
                let start = ctx.checked_add(u64::from(d.offset));
                ctx != 0 && start.is_some_and(|at| mem.allows_with(at, d.size as usize, true, self))
            }
            _ => false,
        };
        Ok(ours.then_some(d))
    }

    /// `len` bytes at `off` of a record's or map value's dynptr bytes, if
    /// they fit.
    fn record_span(d: &Dynptr, off: u32, len: u32) -> Option<u64> {
        d.fits(off, len)
            .then(|| d.ctx + u64::from(d.offset) + u64::from(off))
    }

    /// `bpf_ringbuf_reserve_dynptr(ringbuf, size, flags, ptr)`: a record
    /// the dynptr stands for; NULL on failure (still to be discarded).
    fn reserve_dynptr(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [map, size, flags, out, _] = a;
        let errno = if flags != 0 {
            Some(Errno::EINVAL)
        } else if size > MAX_SIZE {
            Some(Errno::E2BIG)
        } else {
            None
        };
        let addr = match errno {
            Some(_) => 0,
            None => self.reserve(map, size, 0)?,
        };
        if addr == 0 {
            self.set_null(mem, out)?;
            // Linux reports a failed reservation as -EINVAL too.
            return ret(errno.unwrap_or(Errno::EINVAL));
        }
        let d = Dynptr {
            ctx: addr,
            size: size as u32,
            kind: TYPE_RINGBUF,
            rdonly: false,
            offset: 0,
        };
        mem.write(out, &d.encode())?;
        Ok(0)
    }

    /// `bpf_ringbuf_submit_dynptr` / `_discard_dynptr`: the record goes
    /// (nothing for a NULL dynptr) and the dynptr is NULL.
    fn commit_dynptr(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ptr: u64,
        discard: bool,
    ) -> Result<u64, HelperError> {
        if let Some(d) = self.dynptr(mem, ptr)?.filter(|d| d.kind == TYPE_RINGBUF) {
            self.commit(d.ctx, discard)?;
        }
        self.set_null(mem, ptr)?;
        Ok(0)
    }

    /// `bpf_dynptr_data(ptr, offset, len)`: a record's or map value's
    /// bytes (never a packet's: `bpf_dynptr_slice` is for those), or NULL.
    fn dynptr_data(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [ptr, off, len, ..] = a;
        Ok(self
            .dynptr(mem, ptr)?
            .filter(|d| d.in_memory() && !d.rdonly)
            .and_then(|d| Self::record_span(&d, off as u32, len as u32))
            .unwrap_or(0))
    }

    fn set_null(&self, mem: &ProgramMemory<'_, '_>, addr: u64) -> Result<(), HelperError> {
        mem.write(addr, &[0u8; 16])
    }

    /// `bpf_dynptr_from_mem(data, size, flags, ptr)`: `size` bytes of a map
    /// value. On failure the dynptr is NULL.
    fn dynptr_from_mem(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [data, size, flags, out, _] = a;
        let size = size as u32 as u64;
        let errno = if flags != 0 {
            Errno::EINVAL
        } else if size > MAX_SIZE {
            Errno::E2BIG
        } else {
            if !mem.allows_with(data, size as usize, true, self) {
                return Err(HelperError::BadPointer {
                    addr: data,
                    len: size as usize,
                });
            }
            let d = Dynptr {
                ctx: data,
                size: size as u32,
                kind: TYPE_LOCAL,
                rdonly: false,
                offset: 0,
            };
            mem.write(out, &d.encode())?;
            return Ok(0);
        };
        self.set_null(mem, out)?;
        ret(errno)
    }

    /// `bpf_dynptr_from_skb` / `_xdp`: the whole packet; a socket filter's
    /// is read-only. On failure the dynptr is NULL.
    fn dynptr_from(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        kind: u32,
    ) -> Result<u64, HelperError> {
        let [ctx, flags, out, ..] = a;
        let packet = self.packet(mem, ctx)?;
        let Some(p) = packet.filter(|_| flags == 0) else {
            self.set_null(mem, out)?;
            return ret(Errno::EINVAL);
        };
        let size = p.end - p.data;
        if size > MAX_SIZE {
            self.set_null(mem, out)?;
            return ret(Errno::E2BIG);
        }
        let socket_filter = ProgType::from_u32(self.run_type) == Ok(ProgType::SocketFilter);
        let d = Dynptr {
            ctx,
            size: size as u32,
            kind,
            rdonly: kind == TYPE_SKB && socket_filter,
            offset: 0,
        };
        mem.write(out, &d.encode())?;
        Ok(0)
    }

    /// `bpf_dynptr_read(dst, len, src, offset, flags)`.
    fn dynptr_read(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [dst, len, src, off, flags] = a;
        let (len, off) = (len as u32, off as u32);
        let Some(d) = self.dynptr(mem, src)?.filter(|_| flags == 0) else {
            return ret(Errno::EINVAL);
        };
        if !d.fits(off, len) {
            return ret(Errno::E2BIG);
        }
        if let Some(at) = Some(d)
            .filter(Dynptr::in_memory)
            .and_then(|d| Self::record_span(&d, off, len))
        {
            self.copy(mem, at, dst, len as u64, 0)?;
            return Ok(0);
        }
        let Some(p) = self.packet(mem, d.ctx)? else {
            return ret(Errno::EINVAL);
        };
        let start = d.offset as u64 + off as u64;
        match p.span(start, len as u64) {
            Some(at) => {
                self.copy(mem, at, dst, len as u64, 0)?;
                Ok(0)
            }
            // Past the packet as it is now: skb_load_bytes' and
            // xdp_load_bytes' errors.
            None if d.kind == TYPE_SKB => ret(Errno::EFAULT),
            None => ret(Errno::EINVAL),
        }
    }

    /// `bpf_dynptr_write(dst, offset, src, len, flags)`: flags as
    /// `bpf_skb_store_bytes`'s for a socket buffer, none for XDP.
    fn dynptr_write(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [dst, off, src, len, flags] = a;
        let (off, len) = (off as u32, len as u32);
        let Some(d) = self.dynptr(mem, dst)?.filter(|d| !d.rdonly) else {
            return ret(Errno::EINVAL);
        };
        if !d.fits(off, len) {
            return ret(Errno::E2BIG);
        }
        if d.in_memory() {
            let Some(to) = Self::record_span(&d, off, len).filter(|_| flags == 0) else {
                return ret(Errno::EINVAL);
            };
            self.copy(mem, src, to, len as u64, 0)?;
            return Ok(0);
        }
        let at = d.offset as u64 + off as u64;
        if d.kind == TYPE_SKB {
            self.store_bytes(mem, [d.ctx, at, src, len as u64, flags])
        } else if flags != 0 {
            ret(Errno::EINVAL)
        } else {
            self.xdp_bytes(mem, [d.ctx, at, src, len as u64, 0], true)
        }
    }

    /// `bpf_dynptr_slice(_rdwr)(ptr, offset, buffer, len)`: the packet's
    /// bytes themselves (this runtime's packets are linear, so the buffer
    /// is never needed), or NULL.
    fn dynptr_slice(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        writable: bool,
    ) -> Result<u64, HelperError> {
        let [ptr, off, _buffer, len, _] = a;
        let (off, len) = (off as u32, len as u32);
        let Some(d) = self.dynptr(mem, ptr)? else {
            return Ok(0);
        };
        if (writable && d.rdonly) || !d.fits(off, len) {
            return Ok(0);
        }
        if d.in_memory() {
            return Ok(Self::record_span(&d, off, len).unwrap_or(0));
        }
        let Some(p) = self.packet(mem, d.ctx)? else {
            return Ok(0);
        };
        Ok(p.span(d.offset as u64 + off as u64, len as u64)
            .unwrap_or(0))
    }

    /// `bpf_dynptr_adjust(ptr, start, end)`.
    fn dynptr_adjust(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [ptr, start, end, ..] = a;
        let (start, end) = (start as u32, end as u32);
        let Some(mut d) = self.dynptr(mem, ptr)?.filter(|_| start <= end) else {
            return ret(Errno::EINVAL);
        };
        if end > d.size {
            return ret(Errno::ERANGE);
        }
        d.offset = d.offset.wrapping_add(start);
        d.size = end - start;
        mem.write(ptr, &d.encode())?;
        Ok(0)
    }

    /// `bpf_dynptr_clone(ptr, clone)`.
    fn dynptr_clone(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        match self.dynptr(mem, a[0])? {
            Some(d) => {
                mem.write(a[1], &d.encode())?;
                Ok(0)
            }
            None => {
                self.set_null(mem, a[1])?;
                ret(Errno::EINVAL)
            }
        }
    }
}
