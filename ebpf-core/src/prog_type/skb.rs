//! `struct __sk_buff`, the context of socket filter and tc programs, as
//! Linux 6.12's uapi lays it out and `sk_filter_is_valid_access` /
//! `tc_cls_act_is_valid_access` allow it: which fields a program of each
//! type may read and write, and narrow reads. The runtime passes the same
//! 192 bytes (so most fields need no rewrite) followed by the real
//! `data`, `data_end` and `data_meta` pointers, which the 32-bit fields of
//! the same names are rewritten to read.

use super::context::{ContextLayout, CtxField, CtxFieldKind, Narrow};
use super::{PacketLayout, TestContext, TestInput, ETH_HLEN};
use crate::errno::Errno;

/// Bytes of `struct __sk_buff`.
pub const SK_BUFF_SIZE: usize = 192;

/// Where the runtime keeps the packet pointers: after the structure.
pub const POINTERS: [usize; 3] = [SK_BUFF_SIZE, SK_BUFF_SIZE + 8, SK_BUFF_SIZE + 16];

/// Offsets in `struct __sk_buff` of the fields helpers read or change.
pub mod offset {
    /// `len`.
    pub const LEN: usize = 0;
    /// `protocol` (network byte order).
    pub const PROTOCOL: usize = 16;
    /// `vlan_present`.
    pub const VLAN_PRESENT: usize = 20;
    /// `vlan_tci`.
    pub const VLAN_TCI: usize = 24;
    /// `vlan_proto` (network byte order).
    pub const VLAN_PROTO: usize = 28;
    /// `ifindex`.
    pub const IFINDEX: usize = 40;
    /// `hash`.
    pub const HASH: usize = 68;
    /// `tstamp`.
    pub const TSTAMP: usize = 152;
    /// `tstamp_type`.
    pub const TSTAMP_TYPE: usize = 180;
}

/// Where the runtime keeps the room the packet may move in: after the
/// pointers.
const ROOM: [usize; 2] = [SK_BUFF_SIZE + 24, SK_BUFF_SIZE + 32];

/// Bytes of the native structure.
const NATIVE_SIZE: usize = SK_BUFF_SIZE + 40;

/// How tc programs' contexts show the packet: from the link-layer header.
pub const PACKET_TC: PacketLayout = PacketLayout {
    pointers: POINTERS,
    room: ROOM,
    link_header: 0,
    skb: true,
};

/// How socket filters' contexts show it: from the network header.
pub const PACKET_SOCKET: PacketLayout = PacketLayout {
    pointers: POINTERS,
    room: ROOM,
    link_header: ETH_HLEN as u8,
    skb: true,
};

/// A 4-byte number, readable in parts, writable (whole) if `w`.
const fn num(name: &'static str, offset: i16, w: bool) -> CtxField {
    CtxField {
        name,
        offset,
        size: 4,
        writable: w,
        kind: CtxFieldKind::Scalar,
        native: (offset, 4),
        narrow: Narrow::Reads,
    }
}

/// A packet pointer: 32 bits to programs, a pointer kept at `native`.
const fn ptr(name: &'static str, offset: i16, kind: CtxFieldKind, native: usize) -> CtxField {
    CtxField::read_only(name, offset, kind, (native as i16, 8))
}

const CB: CtxField = CtxField {
    name: "cb",
    offset: 48,
    size: 20,
    writable: true,
    kind: CtxFieldKind::Scalar,
    native: (48, 20),
    narrow: Narrow::Any,
};

const fn wide(name: &'static str, offset: i16, w: bool) -> CtxField {
    CtxField {
        name,
        offset,
        size: 8,
        writable: w,
        kind: CtxFieldKind::Scalar,
        native: (offset, 8),
        narrow: Narrow::Exact,
    }
}

/// The fields every `__sk_buff` program may read.
macro_rules! common {
    ($tc:expr) => {
        [
            num("len", 0, false),
            num("pkt_type", 4, false),
            num("mark", 8, $tc),
            num("queue_mapping", 12, $tc),
            num("protocol", 16, false),
            num("vlan_present", 20, false),
            num("vlan_tci", 24, false),
            num("vlan_proto", 28, false),
            num("priority", 32, $tc),
            num("ingress_ifindex", 36, false),
            num("ifindex", 40, false),
            num("tc_index", 44, $tc),
            CB,
            num("hash", 68, false),
            num("napi_id", 84, false),
            num("gso_segs", 164, false),
            num("gso_size", 176, false),
        ]
    };
}

const SOCKET_FIELDS: [CtxField; 17] = common!(false);

/// `tstamp_type`: one byte, read-only (`bpf_skb_set_tstamp` changes it;
/// a test run's is 0, the wall clock).
const TSTAMP_TYPE: CtxField = CtxField {
    name: "tstamp_type",
    offset: offset::TSTAMP_TYPE as i16,
    size: 1,
    writable: false,
    kind: CtxFieldKind::Scalar,
    native: (offset::TSTAMP_TYPE as i16, 1),
    narrow: Narrow::Exact,
};

const TC_EXTRA: [CtxField; 8] = [
    num("tc_classid", 72, true),
    ptr("data", 76, CtxFieldKind::PacketStart, POINTERS[0]),
    ptr("data_end", 80, CtxFieldKind::PacketEnd, POINTERS[1]),
    ptr("data_meta", 140, CtxFieldKind::PacketMeta, POINTERS[2]),
    wide("tstamp", 152, true),
    num("wire_len", 160, false),
    wide("hwtstamp", 184, false),
    TSTAMP_TYPE,
];

const fn tc_fields() -> [CtxField; 25] {
    let common: [CtxField; 17] = common!(true);
    let mut out = [CB; 25];
    let mut i = 0;
    while i < 17 {
        out[i] = common[i];
        i += 1;
    }
    while i < 25 {
        out[i] = TC_EXTRA[i - 17];
        i += 1;
    }
    out
}

const TC_FIELDS: [CtxField; 25] = tc_fields();

/// `struct __sk_buff` as socket filters see it: no packet pointers, only
/// `cb[]` writable.
pub static SK_BUFF_SOCKET: ContextLayout = ContextLayout {
    name: "struct __sk_buff",
    size: SK_BUFF_SIZE as u16,
    fields: &SOCKET_FIELDS,
};

/// `struct __sk_buff` as tc programs see it: with the packet pointers, and
/// mark, priority, tc_index, tc_classid, queue_mapping, tstamp and `cb[]`
/// writable.
pub static SK_BUFF_TC: ContextLayout = ContextLayout {
    name: "struct __sk_buff",
    size: SK_BUFF_SIZE as u16,
    fields: &TC_FIELDS,
};

/// The native bytes a program may write: the writable fields.
fn writable(layout: &ContextLayout) -> ([(u16, u16); 8], usize) {
    let mut out = [(0, 0); 8];
    let mut n = 0;
    for f in layout.fields.iter().filter(|f| f.writable) {
        if n < out.len() {
            out[n] = (f.native.0 as u16, f.native.1 as u16);
            n += 1;
        }
    }
    (out, n)
}

/// Linux's `PACKET_*` for a frame's destination address, as
/// `eth_type_trans` sets it for the loopback device a test run uses.
fn pkt_type(frame: &[u8]) -> u32 {
    match frame.get(..6) {
        Some([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) => 1, // PACKET_BROADCAST
        Some(d) if d[0] & 1 == 1 => 2,                   // PACKET_MULTICAST
        Some([0, 0, 0, 0, 0, 0]) => 0,                   // PACKET_HOST
        _ => 3,                                          // PACKET_OTHERHOST
    }
}

/// The context of a test run on `frame` (an Ethernet frame), as Linux's
/// `bpf_prog_test_run_skb` builds it: `len` and the data from the link
/// header on for tc, from the network header on for socket filters;
/// `protocol` from the frame (network byte order), `pkt_type` from its
/// destination, the loopback device's index.
pub fn test_input(layout: &'static ContextLayout, packet: PacketLayout, frame: &[u8]) -> TestInput {
    let skip = (packet.link_header as usize).min(frame.len());
    let (ranges, n) = writable(layout);
    let mut ctx = TestContext::new(NATIVE_SIZE, packet, &ranges[..n]);
    let protocol = match frame.get(12..14) {
        Some(p) => u16::from_ne_bytes([p[0], p[1]]) as u32,
        None => 0,
    };
    let len = (frame.len() - skip) as u32;
    ctx.set_u32(0, len); // len
    ctx.set_u32(4, pkt_type(frame));
    ctx.set_u32(16, protocol);
    ctx.set_u32(40, 1); // ifindex: lo
    ctx.set_u32(160, len); // wire_len
    ctx.set_u32(164, 1); // gso_segs
    TestInput::Context(ctx)
}

/// The fields of `struct __sk_buff` a test run's caller may set
/// (Linux's `convert___skb_to_skb`): (offset, size). The rest must be 0.
const SETTABLE: [(usize, usize); 10] = [
    (8, 4),   // mark
    (32, 4),  // priority
    (36, 4),  // ingress_ifindex
    (40, 4),  // ifindex
    (48, 20), // cb[5]
    (152, 8), // tstamp
    (160, 4), // wire_len
    (164, 4), // gso_segs
    (176, 4), // gso_size
    (184, 8), // hwtstamp
];

/// The fields a test run gives back (`convert_skb_to___skb`).
const GIVEN_BACK: [(usize, usize); 9] = [
    (8, 4),
    (32, 4),
    (36, 4),
    (40, 4),
    (48, 20),
    (152, 8),
    (160, 4),
    (164, 4),
    (184, 8),
];

/// Linux's `GSO_MAX_SEGS` and `GSO_LEGACY_MAX_SIZE`.
const GSO_MAX_SEGS: u32 = 65535;
const GSO_LEGACY_MAX_SIZE: u32 = 65536;

/// A test run's `ctx_in` (`struct __sk_buff`), as Linux's
/// `bpf_prog_test_run_skb` takes it: only the settable fields may be
/// nonzero; `ifindex` names an existing device (the loopback device here);
/// `wire_len` is 0 (the packet's length) or at least the packet's length.
pub fn context_in(
    input: &mut TestInput,
    given: Option<&[u8]>,
    _frame_len: usize,
) -> Result<usize, Errno> {
    let (TestInput::Context(ctx), Some(given)) = (input, given) else {
        return Ok(0);
    };
    let skb: [u8; SK_BUFF_SIZE] = super::caller_context(given)?;
    let settable = |at: usize| SETTABLE.iter().any(|&(o, n)| (o..o + n).contains(&at));
    if (0..SK_BUFF_SIZE).any(|at| skb[at] != 0 && !settable(at)) {
        return Err(Errno::EINVAL);
    }
    let field = |at: usize| u32::from_ne_bytes([skb[at], skb[at + 1], skb[at + 2], skb[at + 3]]);
    if field(offset::IFINDEX) > 1 {
        return Err(Errno::ENODEV);
    }
    let len = ctx.u32_at(offset::LEN);
    let wire_len = field(160);
    if wire_len != 0 && (wire_len < len || wire_len > GSO_LEGACY_MAX_SIZE) {
        return Err(Errno::EINVAL);
    }
    if field(164) > GSO_MAX_SEGS {
        return Err(Errno::EINVAL);
    }
    for &(o, n) in &SETTABLE {
        ctx.bytes[o..o + n].copy_from_slice(&skb[o..o + n]);
    }
    ctx.set_u32(offset::IFINDEX, 1);
    if wire_len == 0 {
        ctx.set_u32(160, len);
    }
    Ok(0)
}

/// What a test run gives back as `ctx_out`: the caller's context with the
/// fields Linux copies back (`convert_skb_to___skb`) as the run left them.
pub fn context_out(input: &TestInput, given: Option<&[u8]>) -> Option<super::ContextOut> {
    let ctx = input.context()?;
    let mut out = super::ContextOut::new(SK_BUFF_SIZE, given);
    for &(o, n) in &GIVEN_BACK {
        out.bytes[o..o + n].copy_from_slice(&ctx.as_bytes()[o..o + n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules_are_linuxs() {
        let s = &SK_BUFF_SOCKET;
        let t = &SK_BUFF_TC;
        // Narrow reads of numbers; whole writes of writable ones.
        assert!(s.access(0, 4, false).is_some() && s.access(2, 2, false).is_some());
        assert!(s.access(1, 2, false).is_none(), "misaligned");
        assert!(
            s.access(8, 4, true).is_none(),
            "mark: read-only for socket filters"
        );
        assert!(t.access(8, 4, true).is_some() && t.access(8, 2, true).is_none());
        // cb[]: any aligned part, read and written, within cb[4].
        assert!(s.access(48, 8, true).is_some() && s.access(66, 2, true).is_some());
        assert!(s.access(64, 8, false).is_none(), "past cb[4]");
        // Packet pointers: tc only, whole.
        assert!(s.access(76, 4, false).is_none());
        let data = t.access(76, 4, false).unwrap();
        assert_eq!(data.kind, CtxFieldKind::PacketStart);
        assert!(t.access(76, 2, false).is_none());
        assert!(t.access(72, 4, true).is_some(), "tc_classid");
        assert!(s.access(72, 4, false).is_none());
        assert!(
            t.access(92, 4, false).is_none(),
            "remote_ip4: no socket here"
        );
        assert!(t.access(152, 8, true).is_some() && t.access(152, 4, false).is_none());
        assert!(t.access(184, 8, true).is_none(), "hwtstamp is read-only");
        assert!(t.access(180, 1, false).is_some() && t.access(180, 1, true).is_none());
        assert!(t.access(180, 4, false).is_none() && s.access(180, 1, false).is_none());
    }

    #[test]
    fn a_test_run_sees_the_frame_as_linux_shows_it() {
        let mut frame = [0u8; 60];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let TestInput::Context(tc) = test_input(&SK_BUFF_TC, PACKET_TC, &frame) else {
            panic!()
        };
        assert_eq!(tc.u32_at(0), 60);
        assert_eq!(
            tc.u32_at(16),
            u16::from_ne_bytes([8, 0]) as u32,
            "ETH_P_IP, network order"
        );
        assert_eq!(tc.u32_at(4), 0, "PACKET_HOST: to the loopback address");
        let TestInput::Context(sock) = test_input(&SK_BUFF_SOCKET, PACKET_SOCKET, &frame) else {
            panic!()
        };
        assert_eq!(sock.u32_at(0), 46, "from the network header");
        frame[0] = 0x02;
        let TestInput::Context(other) = test_input(&SK_BUFF_TC, PACKET_TC, &frame) else {
            panic!()
        };
        assert_eq!(other.u32_at(4), 3, "PACKET_OTHERHOST");
    }
}
