//! What a program may read through a socket pointer: the fields of
//! `struct bpf_sock` and `struct bpf_tcp_sock` (Linux's UAPI), as Linux's
//! `bpf_sock_is_valid_access`, `bpf_sock_common_is_valid_access` and
//! `bpf_tcp_sock_is_valid_access` allow them. Socket fields are never
//! written.

use crate::helpers::proto::SockKind;

/// `sizeof(struct bpf_sock)`.
const SOCK_SIZE: i64 = 80;
/// `struct bpf_sock` fields that may be read with 1, 2 or 4 bytes: `family`,
/// `type`, `protocol`, `src_port`, `state`, `rx_queue_mapping` at their
/// start, the addresses (`src_ip4`, `src_ip6`, `dst_ip4`, `dst_ip6`)
/// anywhere: `[start, end)`.
const NARROW: [(i64, i64); 10] = [
    (4, 5),
    (8, 9),
    (12, 13),
    (44, 45),
    (72, 73),
    (76, 77),
    (24, 28),
    (28, 44),
    (52, 56),
    (56, 72),
];
/// `dst_port`: a `__be16` read with 1 or 2 bytes, or 4 at its start (old
/// headers had it 32 bits wide).
const DST_PORT: (i64, i64) = (48, 50);
/// The 16 zero bits after `dst_port`, never readable.
const DST_PORT_PADDING: (i64, i64) = (50, 52);
/// What a socket of every kind lacks: `type`, `protocol`, `mark`,
/// `priority` (request and time-wait sockets have no such fields).
const NOT_COMMON: (i64, i64) = (8, 24);

/// `sizeof(struct bpf_tcp_sock)` (up to `icsk_retransmits`).
const TCP_SOCK_SIZE: i64 = 112;
/// `bytes_received` and `bytes_acked`, the 64-bit fields.
const TCP_SOCK_U64: [i64; 2] = [80, 88];

/// Whether a read of `size` bytes at `off` through a socket pointer of
/// `kind` is allowed.
pub fn readable(kind: SockKind, off: i64, size: u32) -> bool {
    let size = size as i64;
    if off < 0 || off % size != 0 {
        return false;
    }
    match kind {
        SockKind::Tcp => {
            off < TCP_SOCK_SIZE
                && if TCP_SOCK_U64.contains(&off) {
                    size == 8
                } else {
                    size == 4
                }
        }
        SockKind::Common if (NOT_COMMON.0..NOT_COMMON.1).contains(&off) => false,
        SockKind::Sock | SockKind::Common => {
            let within = |(lo, hi): (i64, i64)| (lo..hi).contains(&off);
            if off >= SOCK_SIZE || within(DST_PORT_PADDING) {
                false
            } else if within(DST_PORT) {
                // A word only at its start; else at most its two bytes.
                size == 4 || size <= 2
            } else if NARROW.iter().any(|&r| within(r)) {
                size <= 4
            } else {
                size == 4
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_sock_fields_as_linux_allows_them() {
        use SockKind::*;
        // family, whole and narrow; not past its start.
        assert!(readable(Sock, 4, 4) && readable(Sock, 4, 1) && readable(Sock, 4, 2));
        assert!(!readable(Sock, 5, 1) && !readable(Sock, 6, 2));
        // mark: only whole.
        assert!(readable(Sock, 16, 4) && !readable(Sock, 16, 2));
        // Addresses: any aligned narrow read.
        assert!(readable(Sock, 25, 1) && readable(Sock, 30, 2) && readable(Sock, 60, 4));
        // dst_port: 4 at its start, 2 or 1 in it; the padding never.
        assert!(readable(Sock, 48, 4) && readable(Sock, 48, 2) && readable(Sock, 49, 1));
        assert!(!readable(Sock, 50, 2) && !readable(Sock, 51, 1));
        // Misaligned, 8 bytes, past the end, negative.
        assert!(!readable(Sock, 2, 4) && !readable(Sock, 72, 8));
        assert!(!readable(Sock, 80, 4) && !readable(Sock, -4, 4));
        // state and rx_queue_mapping, the last fields.
        assert!(readable(Sock, 72, 4) && readable(Sock, 76, 4));
        // A common socket has no type, protocol, mark nor priority.
        assert!(readable(Common, 4, 4) && readable(Common, 72, 4));
        for off in [8, 12, 16, 20] {
            assert!(readable(Sock, off, 4) && !readable(Common, off, 4), "{off}");
        }
        // tcp_sock: words, two 64-bit counters.
        assert!(readable(Tcp, 0, 4) && readable(Tcp, 108, 4) && !readable(Tcp, 112, 4));
        assert!(readable(Tcp, 80, 8) && readable(Tcp, 88, 8));
        assert!(!readable(Tcp, 80, 4) && !readable(Tcp, 0, 8) && !readable(Tcp, 0, 2));
    }
}
