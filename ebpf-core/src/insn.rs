//! The raw 64-bit instruction encoding (RFC 9669, section 3).

use crate::opcode::*;

/// Size in bytes of one encoded instruction slot.
pub const INSN_SIZE: usize = 8;

/// One instruction slot as it is encoded in a program: an 8-bit opcode, two
/// 4-bit register numbers, a signed 16-bit offset and a signed 32-bit
/// immediate. `LD_IMM64` takes two slots; the second carries the upper half
/// of the immediate in its `imm` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode.
    pub opcode: u8,
    /// Destination register (0-10).
    pub dst: u8,
    /// Source register (0-10), or a pseudo source for calls and `LD_IMM64`.
    pub src: u8,
    /// Signed offset (jump distance, memory offset, or operation variant).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decodes one little-endian instruction slot.
    pub const fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Insn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes the instruction as one little-endian slot.
    pub const fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class (`BPF_ALU64`, `BPF_LDX`, ...).
    pub const fn class(self) -> u8 {
        class(self.opcode)
    }

    /// Whether this is the first slot of a 16-byte `LD_IMM64`.
    pub const fn is_lddw(self) -> bool {
        self.opcode == BPF_LD | BPF_IMM | BPF_DW
    }

    /// The two slots of `lddw dst, imm64` with pseudo source `src`.
    pub const fn lddw(dst: u8, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::new(BPF_LD | BPF_IMM | BPF_DW, dst, src, 0, imm as u32 as i32),
            Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }
}

/// Error decoding a byte string into instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncatedProgram {
    /// Length of the byte string.
    pub len: usize,
}

impl core::fmt::Display for TruncatedProgram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "program of {} bytes is not a whole number of {}-byte instructions",
            self.len, INSN_SIZE
        )
    }
}

/// Iterates over the instructions encoded in `bytes`.
///
/// Fails when `bytes` is not a multiple of [`INSN_SIZE`].
pub fn decode(bytes: &[u8]) -> Result<impl Iterator<Item = Insn> + '_, TruncatedProgram> {
    if bytes.len() % INSN_SIZE != 0 {
        return Err(TruncatedProgram { len: bytes.len() });
    }
    Ok(bytes.chunks_exact(INSN_SIZE).map(|c| {
        let mut slot = [0u8; INSN_SIZE];
        slot.copy_from_slice(c);
        Insn::from_bytes(slot)
    }))
}

/// Appends the encoding of `insns` to `out`.
pub fn encode_into(insns: &[Insn], out: &mut alloc::vec::Vec<u8>) {
    for insn in insns {
        out.extend_from_slice(&insn.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_round_trip_keeps_every_field() {
        let insn = Insn::new(0xdb, 10, 3, -8, -123456);
        let bytes = insn.to_bytes();
        assert_eq!(bytes, [0xdb, 0x3a, 0xf8, 0xff, 0xc0, 0x1d, 0xfe, 0xff]);
        assert_eq!(Insn::from_bytes(bytes), insn);
    }

    #[test]
    fn decode_rejects_partial_slots() {
        assert_eq!(decode(&[0; 12]).err(), Some(TruncatedProgram { len: 12 }));
        assert_eq!(decode(&[0; 16]).unwrap().count(), 2);
    }

    #[test]
    fn lddw_splits_the_immediate() {
        let [lo, hi] = Insn::lddw(1, 0, 0x1122_3344_5566_7788);
        assert!(lo.is_lddw());
        assert_eq!(lo.imm as u32, 0x5566_7788);
        assert_eq!(hi.imm as u32, 0x1122_3344);
    }
}
