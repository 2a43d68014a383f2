//! `bpf_skb_ecn_set_ce`: marks congestion in the IP header of an
//! ECN-capable packet, as Linux's `INET_ECN_set_ce` does: the ECN field
//! of an IPv4 header that says ECT(0) or ECT(1) becomes CE (the checksum
//! updated incrementally), likewise the traffic class of an IPv6 header;
//! a packet already CE counts as marked; anything else (not ECN-capable,
//! not IP, a header past the packet's end) is left alone.

use crate::errno::Errno;
use crate::error::HelperError;
use crate::prog_type::ETH_HLEN;

use super::packet::{ret, ETH_P_IP, ETH_P_IPV6};
use super::{ProgramMemory, RunContext};

/// `INET_ECN_MASK`, `INET_ECN_CE`.
const ECN_MASK: u8 = 3;
const ECN_CE: u8 = 3;

impl RunContext<'_> {
    /// 1 if the packet is marked CE now, else 0.
    pub(super) fn skb_ecn_set_ce(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
    ) -> Result<u64, HelperError> {
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        // tc programs see the frame from its link-layer header; the
        // network header follows it.
        let net = p.mac() + ETH_HLEN as u64;
        let within = |len: u64| net.checked_add(len).is_some_and(|end| end <= p.end);
        match self.protocol(mem, &p)? {
            ETH_P_IP if within(20) => {
                let mut h = [0u8; 12];
                mem.read_with(net, &mut h, self)?;
                let Some((tos, check)) = set_ce_v4(h[1], [h[10], h[11]]) else {
                    return Ok(((h[1] & ECN_MASK) == ECN_CE) as u64);
                };
                mem.write_with(net + 1, &[tos], self)?;
                mem.write_with(net + 10, &check, self)?;
                Ok(1)
            }
            ETH_P_IPV6 if within(40) => {
                let mut word = [0u8; 4];
                mem.read_with(net, &mut word, self)?;
                // The traffic class is bits 4-11 of the first word; its
                // ECN field bits 4-5 (from the right) of the second byte.
                let ecn = (word[1] >> 4) & ECN_MASK;
                if ecn == 0 {
                    return Ok(0);
                }
                word[1] |= ECN_CE << 4;
                mem.write_with(net, &word, self)?;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// The new TOS byte and header checksum (network order) of an IPv4 header
/// with `tos` and `check` whose ECN field says ECT(0) or ECT(1); `None`
/// when it says not-ECT or CE already.
fn set_ce_v4(tos: u8, check: [u8; 2]) -> Option<(u8, [u8; 2])> {
    // Linux's trick: (tos + 1) & 3 is 1 for not-ECT, 2 for ECT(1), 3 for
    // ECT(0), 0 for CE; the checksum then grows by 0xfffb + that.
    let ecn = (tos.wrapping_add(1) & ECN_MASK) as u16;
    if ecn & 2 == 0 {
        return None;
    }
    let add = 0xfffbu16.wrapping_add(ecn);
    let (sum, carry) = u16::from_be_bytes(check).overflowing_add(add);
    Some((tos | ECN_CE, (sum + carry as u16).to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one's complement checksum of an IPv4 header.
    fn checksum(h: &[u8; 20]) -> u16 {
        let mut sum = 0u32;
        for pair in h.chunks(2) {
            sum += u16::from_be_bytes([pair[0], pair[1]]) as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn ce_marking_keeps_the_ipv4_checksum_valid() {
        for tos in 0..=255u8 {
            let mut h = [
                0x45, tos, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ];
            let c = checksum(&h).to_be_bytes();
            h[10..12].copy_from_slice(&c);
            match set_ce_v4(tos, c) {
                Some((new_tos, new_check)) => {
                    assert!(matches!(tos & 3, 1 | 2), "{tos:#x}");
                    assert_eq!(new_tos, tos | 3);
                    h[1] = new_tos;
                    h[10..12].copy_from_slice(&new_check);
                    // A valid header sums to 0xffff: its checksum of itself is 0.
                    assert_eq!(checksum(&h), 0, "tos {tos:#x}");
                }
                None => assert!(matches!(tos & 3, 0 | 3), "{tos:#x}"),
            }
        }
    }
}
