//! Program types: the vocabulary every layer uses for what a program is
//! attached to and what its context is. Numbered as Linux's
//! `enum bpf_prog_type`, for the types this runtime provides, plus 0 for a
//! generic program.

use crate::errno::Errno;

/// A program type the runtime provides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    /// Not Linux's: `r1` points at the data, `r2` holds its length.
    Generic = 0,
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (run as generic until `__sk_buff`
    /// exists).
    SocketFilter = 1,
    /// `BPF_PROG_TYPE_SCHED_CLS` (run as generic until `__sk_buff`
    /// exists).
    SchedCls = 3,
    /// `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`, whose loads are
    /// converted at load time.
    Xdp = 6,
}

impl ProgType {
    /// Every type the runtime provides.
    pub const ALL: [ProgType; 4] = [
        ProgType::Generic,
        ProgType::SocketFilter,
        ProgType::SchedCls,
        ProgType::Xdp,
    ];

    /// The type with Linux's number `n`; `EINVAL` for any other, as
    /// `bpf(2)` answers an unknown type.
    pub fn from_u32(n: u32) -> Result<Self, Errno> {
        Self::ALL
            .into_iter()
            .find(|t| *t as u32 == n)
            .ok_or(Errno::EINVAL)
    }

    /// Linux's name for it, as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            ProgType::Generic => "generic",
            ProgType::SocketFilter => "socket_filter",
            ProgType::SchedCls => "sched_cls",
            ProgType::Xdp => "xdp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_linuxs_and_round_trip() {
        assert_eq!(ProgType::Xdp as u32, 6, "BPF_PROG_TYPE_XDP");
        assert_eq!(ProgType::SchedCls as u32, 3, "BPF_PROG_TYPE_SCHED_CLS");
        assert_eq!(ProgType::SocketFilter as u32, 1);
        for t in ProgType::ALL {
            assert_eq!(ProgType::from_u32(t as u32), Ok(t));
        }
        assert_eq!(
            ProgType::from_u32(2),
            Err(Errno::EINVAL),
            "kprobe: not provided"
        );
    }
}
