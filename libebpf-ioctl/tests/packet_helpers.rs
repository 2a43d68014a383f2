//! The packet helpers of socket filter, tc and XDP programs, each run on
//! a TCP/IPv4 frame through a backend (embedded, or the device named by
//! `EBPF_TEST_DEVICE`), against the value Linux's semantics give, and,
//! where the host's `bpf(2)` is usable, against the host kernel running
//! the same program on the same frame: return value and the frame after.
//! (The host runs 6.13 or later: `bpf_csum_diff` folds its result to 16
//! bits since then.)

mod common;

use common::client;
use ebpf_core::asm;
use ebpf_core::Errno;
use ebpf_core::ProgType;
use libebpf_ioctl::{Admission, Ebpf, ProgSpec};

const SOCKET: ProgType = ProgType::SocketFilter;
const TC: ProgType = ProgType::SchedCls;
const XDP: ProgType = ProgType::Xdp;

/// A helper's negative errno as the 32-bit return value a test run reports.
const fn err(errno: i32) -> u32 {
    (-errno) as u32
}
const EFAULT: u32 = err(14);
const EINVAL: u32 = err(22);
const EACCES: u32 = err(13);
const ENODEV: u32 = err(19);
const ENOTSUPP: u32 = err(524);
const ENOMEM: u32 = err(12);

/// The 16-bit one's complement checksum of `bytes` (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether the frame's IPv4 header and TCP segment checksums are right.
fn checksums_hold(frame: &[u8]) -> bool {
    let ip = &frame[14..34];
    let tcp = &frame[34..];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.extend_from_slice(&[0, 6, 0, tcp.len() as u8]);
    pseudo.extend_from_slice(tcp);
    checksum(ip) == 0 && checksum(&pseudo) == 0
}

/// Ethernet + IPv4 (10.0.0.1 -> 10.0.0.2) + TCP (49152 -> 80), with
/// correct checksums: 54 bytes.
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..34].copy_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let ip = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&ip.to_be_bytes());
    f[34..54].copy_from_slice(&[
        0xc0, 0, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0,
    ]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(&f[34..54]);
    let tcp = checksum(&pseudo);
    f[50..52].copy_from_slice(&tcp.to_be_bytes());
    assert!(checksums_hold(&f));
    f
}

/// One program and what Linux makes of it.
struct Case {
    name: &'static str,
    prog_type: ProgType,
    src: String,
    /// The test run's context, if one is passed.
    ctx: Option<Vec<u8>>,
    /// The return value, or the errno of a refused run.
    retval: Result<u32, Errno>,
}

fn case(name: &'static str, prog_type: ProgType, src: &str, retval: u32) -> Case {
    Case {
        name,
        prog_type,
        src: src.into(),
        ctx: None,
        retval: Ok(retval),
    }
}

/// A run with the context `ctx` (fields at byte offsets, 32 bits each).
fn with_ctx(mut c: Case, size: usize, fields: &[(usize, u32)]) -> Case {
    let mut ctx = vec![0u8; size];
    for &(at, v) in fields {
        ctx[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    c.ctx = Some(ctx);
    c
}

/// A run the test run refuses with `errno`.
fn refused(mut c: Case, errno: Errno) -> Case {
    c.retval = Err(errno);
    c
}

/// `call id` with `r1` = the context kept in `r6`.
fn call(id: u32, args: &str) -> String {
    format!("mov %r1, %r6\n{args}call {id}\n")
}

/// Loads `len` bytes at `off` with `bpf_skb_load_bytes` into `[r10-8]`.
fn load_bytes(off: u32, len: u32) -> String {
    call(
        26,
        &format!("mov %r2, {off}\nmov %r3, %r10\nadd %r3, -8\nmov %r4, {len}\n"),
    )
}

/// Ends with `r0`'s error if the last call failed.
const BAIL: &str = "jeq %r0, 0, +1\nexit\n";

fn cases() -> Vec<Case> {
    let start = "mov %r6, %r1\nstdw [%r10-8], 0\nstdw [%r10-16], 0\n";
    let relative = |hdr: u32, off: u32, len: u32| {
        call(
            68,
            &format!(
                "mov %r2, {off}\nmov %r3, %r10\nadd %r3, -8\nmov %r4, {len}\nmov %r5, {hdr}\n"
            ),
        )
    };
    // The new destination address, 192.168.1.7, as the packet holds it.
    let new_dst = u32::from_ne_bytes([192, 168, 1, 7]) as i32;
    let rewrite = format!(
        "{start}{load}{BAIL}stw [%r10-16], {new_dst}\n{store}{BAIL}\
         ldxw %r7, [%r10-8]\nldxw %r8, [%r10-16]\n{l3}mov %r9, %r0\n{l4}or %r0, %r9\nexit",
        load = load_bytes(30, 4),
        store = call(
            9,
            "mov %r2, 30\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 4\nmov %r5, 0\n"
        ),
        l3 = call(10, "mov %r2, 24\nmov %r3, %r7\nmov %r4, %r8\nmov %r5, 4\n"),
        // BPF_F_PSEUDO_HDR | 4: the address is in the pseudo-header.
        l4 = call(11, "mov %r2, 50\nmov %r3, %r7\nmov %r4, %r8\nmov %r5, 20\n"),
    );
    let csum_level = |levels: &[u32]| {
        let mut s = start.to_string();
        for l in levels {
            s += &call(135, &format!("mov %r2, {l}\n"));
        }
        s + &call(135, "mov %r2, 0\n") + "exit"
    };
    let mtu = |ifindex: u32, len_diff: i32| {
        format!(
            "{start}stw [%r10-4], 0\n{}{BAIL}ldxw %r0, [%r10-4]\nexit",
            call(
                163,
                &format!("mov %r2, {ifindex}\nmov %r3, %r10\nadd %r3, -4\nmov %r4, {len_diff}\nmov %r5, 0\n")
            )
        )
    };
    let csum_diff = |from_size: u32| {
        format!(
            "stw [%r10-8], {}\nstw [%r10-4], {}\nmov %r1, %r10\nadd %r1, -8\nmov %r2, {from_size}\n\
             mov %r3, %r10\nadd %r3, -4\nmov %r4, 4\nmov %r5, 0\ncall 28\nexit",
            u32::from_ne_bytes([0, 0, 0, 1]) as i32,
            u32::from_ne_bytes([0, 0, 0, 2]) as i32,
        )
    };
    let vlan = |push: &str, pop: bool| {
        let pop = if pop { call(19, "") } else { String::new() };
        format!(
            "{start}{}{BAIL}{pop}{BAIL}ldxw %r0, [%r6+20]\nlsh %r0, 28\nldxw %r2, [%r6+24]\n\
             lsh %r2, 16\nor %r0, %r2\nldxw %r2, [%r6+28]\nor %r0, %r2\nexit",
            call(18, push)
        )
    };
    let adjust =
        |id: u32, delta: i32| format!("{start}{}exit", call(id, &format!("mov %r2, {delta}\n")));
    // Changes the packet, then returns its length.
    let change =
        |id: u32, args: &str| format!("{start}{}{BAIL}ldxw %r0, [%r6+0]\nexit", call(id, args));
    let xdp_bytes = |id: u32, off: u32, len: u32| {
        format!(
            "{start}{}{BAIL}ldxh %r0, [%r10-8]\nexit",
            call(
                id,
                &format!("mov %r2, {off}\nmov %r3, %r10\nadd %r3, -8\nmov %r4, {len}\n")
            )
        )
    };
    vec![
        // Reading the packet.
        case(
            "tc load_bytes",
            TC,
            &format!("{start}{}{BAIL}ldxh %r0, [%r10-8]\nexit", load_bytes(12, 2)),
            0x0008,
        ),
        case(
            "tc load_bytes past the end",
            TC,
            &format!("{start}{}exit", load_bytes(53, 2)),
            EFAULT,
        ),
        case(
            "socket load_bytes from the network header",
            SOCKET,
            &format!("{start}{}{BAIL}ldxb %r0, [%r10-8]\nexit", load_bytes(9, 1)),
            6,
        ),
        case(
            "socket load_bytes_relative from the MAC header",
            SOCKET,
            &format!(
                "{start}{}{BAIL}ldxh %r0, [%r10-8]\nexit",
                relative(0, 12, 2)
            ),
            0x0008,
        ),
        case(
            "socket load_bytes_relative from the network header",
            SOCKET,
            &format!("{start}{}{BAIL}ldxb %r0, [%r10-8]\nexit", relative(1, 9, 1)),
            6,
        ),
        case(
            "tc load_bytes_relative from the network header",
            TC,
            &format!("{start}{}{BAIL}ldxb %r0, [%r10-8]\nexit", relative(1, 9, 1)),
            6,
        ),
        case(
            "tc load_bytes_relative from an unknown header",
            TC,
            &format!("{start}{}exit", relative(7, 0, 1)),
            EFAULT,
        ),
        // Writing it, and the checksums.
        case("tc store_bytes and csum_replace", TC, &rewrite, 0),
        case(
            "tc store_bytes with unknown flags",
            TC,
            &format!(
                "{start}{}exit",
                call(
                    9,
                    "mov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\nmov %r5, 4\n"
                )
            ),
            EINVAL,
        ),
        case(
            "tc store_bytes past the end",
            TC,
            &format!(
                "{start}{}exit",
                call(
                    9,
                    "mov %r2, 52\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\nmov %r5, 0\n"
                )
            ),
            EFAULT,
        ),
        case(
            "tc l3_csum_replace at an odd offset",
            TC,
            &format!(
                "{start}{}exit",
                call(10, "mov %r2, 25\nmov %r3, 0\nmov %r4, 0\nmov %r5, 2\n")
            ),
            EFAULT,
        ),
        case(
            "tc l4_csum_replace of size 3",
            TC,
            &format!(
                "{start}{}exit",
                call(11, "mov %r2, 50\nmov %r3, 0\nmov %r4, 0\nmov %r5, 3\n")
            ),
            EINVAL,
        ),
        case("xdp csum_diff", XDP, &csum_diff(4), 0x0100),
        case("xdp csum_diff of 3 bytes", XDP, &csum_diff(3), 0x0200),
        case(
            "tc csum_update",
            TC,
            &format!("{start}{}exit", call(40, "mov %r2, 5\n")),
            ENOTSUPP,
        ),
        case("tc csum_level query", TC, &csum_level(&[]), EACCES),
        case("tc csum_level inc", TC, &csum_level(&[1]), 0),
        case("tc csum_level inc inc", TC, &csum_level(&[1, 1]), 1),
        case("tc csum_level inc dec", TC, &csum_level(&[1, 2]), EACCES),
        case(
            "tc csum_level unknown",
            TC,
            &format!("{start}{}exit", call(135, "mov %r2, 9\n")),
            EINVAL,
        ),
        // Metadata.
        case(
            "tc get_cgroup_classid",
            TC,
            &format!("{start}{}exit", call(17, "")),
            0,
        ),
        case(
            "tc vlan_push",
            TC,
            &vlan("mov %r2, 0x81\nmov %r3, 5\n", false),
            0x1005_0081,
        ),
        case(
            "tc vlan_push of an unknown protocol",
            TC,
            &vlan("mov %r2, 0x3412\nmov %r3, 7\n", false),
            0x1007_0081,
        ),
        case(
            "tc vlan_push then pop",
            TC,
            &vlan("mov %r2, 0xa888\nmov %r3, 5\n", true),
            0,
        ),
        case(
            "tc hash recalculated twice is the same",
            TC,
            &format!(
                "{start}{}mov %r7, %r0\n{}xor %r0, %r7\nexit",
                call(34, ""),
                call(34, "")
            ),
            0,
        ),
        case(
            "tc hash is kept in the context",
            TC,
            &format!(
                "{start}{}ldxw %r2, [%r6+68]\nxor %r0, %r2\nexit",
                call(34, "")
            ),
            0,
        ),
        case(
            "tc set_hash",
            TC,
            &format!("{start}{}{}exit", call(48, "mov %r2, 42\n"), call(34, "")),
            42,
        ),
        case(
            "tc set_hash_invalid",
            TC,
            &format!(
                "{start}{}{}{}mov %r0, 1\njne %r7, 0, +1\nmov %r0, 0\nexit",
                call(48, "mov %r2, 0\n"),
                call(41, ""),
                call(34, "") + "mov %r7, %r0\n"
            ),
            1,
        ),
        // Verdicts and the device.
        case(
            "tc redirect",
            TC,
            "mov %r1, 1\nmov %r2, 0\ncall 23\nexit",
            7,
        ),
        case(
            "tc redirect with unknown flags",
            TC,
            "mov %r1, 1\nmov %r2, 2\ncall 23\nexit",
            2,
        ),
        case(
            "xdp redirect",
            XDP,
            "mov %r1, 1\nmov %r2, 0\ncall 23\nexit",
            4,
        ),
        case(
            "xdp redirect with flags",
            XDP,
            "mov %r1, 1\nmov %r2, 1\ncall 23\nexit",
            0,
        ),
        case("tc check_mtu", TC, &mtu(0, 0), 65536),
        case("tc check_mtu of loopback", TC, &mtu(1, 0), 65536),
        case("tc check_mtu too long", TC, &mtu(0, 65536), 1),
        case("tc check_mtu of no device", TC, &mtu(999_999, 0), ENODEV),
        case("xdp check_mtu", XDP, &mtu(0, 0), 65536),
        case("xdp check_mtu too long", XDP, &mtu(0, 65536), 1),
        // Where a test run's packet arrives.
        case(
            "xdp ingress_ifindex and rx_queue_index",
            XDP,
            "ldxw %r0, [%r1+12]\nldxw %r2, [%r1+16]\nlsh %r2, 16\nor %r0, %r2\nexit",
            1,
        ),
        // Legacy packet loads, from the packet, the network header
        // (SKF_NET_OFF) and the link-layer header (SKF_LL_OFF).
        case("socket ld_abs", SOCKET, "mov %r6, %r1\nldabsb 9\nexit", 6),
        case(
            "socket ld_abs from the link-layer header",
            SOCKET,
            "mov %r6, %r1\nldabsh -2097140\nexit",
            0x0800,
        ),
        case(
            "socket ld_abs from the network header",
            SOCKET,
            "mov %r6, %r1\nldabsb -1048567\nexit",
            6,
        ),
        case(
            "tc ld_abs from the network header",
            TC,
            "mov %r6, %r1\nldabsb -1048567\nexit",
            6,
        ),
        case(
            "tc ld_abs from the link-layer header",
            TC,
            "mov %r6, %r1\nldabsh -2097140\nexit",
            0x0800,
        ),
        case(
            "socket ld_abs before the link-layer header",
            SOCKET,
            "mov %r6, %r1\nmov %r0, 7\nldabsb -2097153\nexit",
            0,
        ),
        case(
            "tc ld_ind: a register plus the offset, twice",
            TC,
            "mov %r6, %r1\nmov %r7, 20\nldindh %r7, 3\nmov %r8, %r0\nmov %r2, 1\nldindb %r2, 22\nlsh %r8, 8\nor %r0, %r8\nexit",
            0x0006_2606,
        ),
        case(
            "tc ld_ind past the end ends the program with 0",
            TC,
            "mov %r6, %r1\nmov %r7, 60\nmov %r0, 7\nldindw %r7, 0\nmov %r0, 9\nexit",
            0,
        ),
        // Moving the packet's start and end.
        case("xdp adjust_head to grow", XDP, &adjust(44, -14), 0),
        case("xdp adjust_head to shrink", XDP, &adjust(44, 14), 0),
        case("xdp adjust_head past the headroom", XDP, &adjust(44, -300), EINVAL),
        case("xdp adjust_head past an Ethernet header", XDP, &adjust(44, 41), EINVAL),
        case(
            "xdp adjust_meta",
            XDP,
            &format!(
                "{start}{}{BAIL}ldxw %r2, [%r6+0]\nldxw %r3, [%r6+8]\nsub %r2, %r3\nmov %r0, %r2\nexit",
                call(54, "mov %r2, -8\n")
            ),
            8,
        ),
        case("xdp adjust_meta unaligned", XDP, &adjust(54, -6), EACCES),
        case("xdp adjust_meta of 36 bytes", XDP, &adjust(54, -36), 0),
        case("xdp adjust_meta past the headroom", XDP, &adjust(54, -220), EINVAL),
        case("xdp adjust_tail to grow", XDP, &adjust(65, 10), 0),
        case("xdp adjust_tail to shrink", XDP, &adjust(65, -20), 0),
        case("xdp adjust_tail under an Ethernet header", XDP, &adjust(65, -50), EINVAL),
        case("xdp adjust_tail past the page", XDP, &adjust(65, 4000), EINVAL),
        case("tc change_tail to grow", TC, &change(38, "mov %r2, 60\nmov %r3, 0\n"), 60),
        case("tc change_tail to shrink", TC, &change(38, "mov %r2, 20\nmov %r3, 0\n"), 20),
        case(
            "tc change_tail under an Ethernet header",
            TC,
            &change(38, "mov %r2, 10\nmov %r3, 0\n"),
            EINVAL,
        ),
        case(
            "tc change_tail with flags",
            TC,
            &change(38, "mov %r2, 60\nmov %r3, 1\n"),
            EINVAL,
        ),
        case("tc change_head", TC, &change(43, "mov %r2, 14\nmov %r3, 0\n"), 68),
        case("tc pull_data", TC, &change(39, "mov %r2, 10\n"), 54),
        case("tc pull_data past the end", TC, &change(39, "mov %r2, 100\n"), ENOMEM),
        // IPv4 to IPv6 and back: 20 bytes after the Ethernet header.
        case("tc change_proto to IPv6", TC, &change(31, "mov %r2, 0xdd86\nmov %r3, 0\n"), 74),
        case(
            "tc change_proto to IPv6 and back",
            TC,
            &format!(
                "{start}{}{BAIL}{}{BAIL}ldxw %r0, [%r6+0]\nexit",
                call(31, "mov %r2, 0xdd86\nmov %r3, 0\n"),
                call(31, "mov %r2, 0x0008\nmov %r3, 0\n")
            ),
            54,
        ),
        case("tc change_proto to ARP", TC, &change(31, "mov %r2, 0x0608\nmov %r3, 0\n"), ENOTSUPP),
        case("tc change_proto with flags", TC, &change(31, "mov %r2, 0xdd86\nmov %r3, 1\n"), EINVAL),
        case(
            "tc change_proto: the protocol after",
            TC,
            &format!("{start}{}{BAIL}ldxw %r0, [%r6+16]\nexit", call(31, "mov %r2, 0xdd86\nmov %r3, 0\n")),
            0xdd86,
        ),
        // bpf_skb_adjust_room(skb, len_diff, mode, flags).
        case("tc adjust_room grows after the MAC header", TC, &change(50, "mov %r2, 8\nmov %r3, 1\nmov %r4, 0\n"), 62),
        case("tc adjust_room grows after the IP header", TC, &change(50, "mov %r2, 8\nmov %r3, 0\nmov %r4, 0\n"), 62),
        case("tc adjust_room shrinks after the IP header", TC, &change(50, "mov %r2, -8\nmov %r3, 0\nmov %r4, 0\n"), 46),
        case(
            "tc adjust_room shrinks below an IP header",
            TC,
            &change(50, "mov %r2, -24\nmov %r3, 0\nmov %r4, 0\n"),
            ENOTSUPP,
        ),
        case("tc adjust_room in an unknown mode", TC, &change(50, "mov %r2, 8\nmov %r3, 2\nmov %r4, 0\n"), ENOTSUPP),
        case("tc adjust_room with an unknown flag", TC, &change(50, "mov %r2, 8\nmov %r3, 0\nmov %r4, 512\n"), EINVAL),
        case("tc adjust_room by too much", TC, &change(50, "mov %r2, 4096\nmov %r3, 0\nmov %r4, 0\n"), EFAULT),
        case(
            "tc adjust_room encapsulating in IPv4",
            TC,
            &change(50, "mov %r2, 20\nmov %r3, 1\nmov %r4, 2\n"),
            74,
        ),
        case(
            "tc adjust_room encapsulating twice",
            TC,
            &format!(
                "{start}{}{BAIL}{}exit",
                call(50, "mov %r2, 20\nmov %r3, 1\nmov %r4, 2\n"),
                call(50, "mov %r2, 20\nmov %r3, 1\nmov %r4, 2\n")
            ),
            err(114),
        ),
        case(
            "tc adjust_room decapsulating while growing",
            TC,
            &change(50, "mov %r2, 8\nmov %r3, 1\nmov %r4, 128\n"),
            EINVAL,
        ),
        // bpf_skb_set_tstamp(skb, tstamp, clock), read back.
        case(
            "tc set_tstamp monotonic",
            TC,
            &format!(
                "{start}{}{BAIL}ldxdw %r0, [%r6+152]\nldxb %r2, [%r6+180]\nlsh %r2, 16\nor %r0, %r2\nexit",
                call(192, "mov %r2, 1000\nmov %r3, 1\n")
            ),
            0x1_03e8,
        ),
        case("tc set_tstamp monotonic at 0", TC, &format!("{start}{}exit", call(192, "mov %r2, 0\nmov %r3, 1\n")), EINVAL),
        case("tc set_tstamp on an unknown clock", TC, &format!("{start}{}exit", call(192, "mov %r2, 5\nmov %r3, 3\n")), EINVAL),
        // Redirects: the verdict, nothing sent.
        case("tc clone_redirect to loopback", TC, &format!("{start}{}exit", call(13, "mov %r2, 1\nmov %r3, 0\n")), 0),
        case("tc clone_redirect to no device", TC, &format!("{start}{}exit", call(13, "mov %r2, 99\nmov %r3, 0\n")), EINVAL),
        case("tc clone_redirect with flags", TC, &format!("{start}{}exit", call(13, "mov %r2, 1\nmov %r3, 2\n")), EINVAL),
        case("tc redirect_neigh", TC, "mov %r1, 1\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\ncall 152\nexit", 7),
        case(
            "tc redirect_neigh with short parameters",
            TC,
            "stw [%r10-8], 0\nmov %r1, 1\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 4\nmov %r4, 0\ncall 152\nexit",
            2,
        ),
        case("tc redirect_peer", TC, "mov %r1, 1\nmov %r2, 0\ncall 155\nexit", 7),
        case("tc redirect_peer with flags", TC, "mov %r1, 1\nmov %r2, 1\ncall 155\nexit", 2),
        case(
            "tc change_type",
            TC,
            &format!("{start}{}{BAIL}ldxw %r0, [%r6+4]\nexit", call(32, "mov %r2, 1\n")),
            1,
        ),
        case(
            "tc change_type to an unknown type",
            TC,
            &format!("{start}{}exit", call(32, "mov %r2, 7\n")),
            EINVAL,
        ),
        // The context a caller passes, and gets back.
        with_ctx(
            case(
                "xdp ctx_in with metadata",
                XDP,
                "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+8]\nsub %r2, %r3\nmov %r0, %r2\nexit",
                8,
            ),
            24,
            &[(0, 8), (4, 54)],
        ),
        with_ctx(
            case(
                "xdp ctx_in on loopback's queue 0",
                XDP,
                "ldxw %r0, [%r1+12]\nexit",
                1,
            ),
            24,
            &[(4, 54), (12, 1)],
        ),
        refused(
            with_ctx(case("xdp ctx_in with an egress device", XDP, "mov %r0, 2\nexit", 0), 24, &[(4, 54), (20, 1)]),
            Errno::EINVAL,
        ),
        refused(
            with_ctx(case("xdp ctx_in with data_end past the data", XDP, "mov %r0, 2\nexit", 0), 24, &[(4, 60)]),
            Errno::EINVAL,
        ),
        refused(
            with_ctx(case("xdp ctx_in on no device", XDP, "mov %r0, 2\nexit", 0), 24, &[(4, 54), (12, 4242)]),
            Errno::ENODEV,
        ),
        with_ctx(
            case(
                "tc ctx_in and ctx_out",
                TC,
                "ldxw %r0, [%r1+8]\nldxw %r2, [%r1+32]\nadd %r0, %r2\nldxw %r2, [%r1+48]\n\
                 add %r0, %r2\nmov %r2, 42\nstxw [%r1+8], %r2\nexit",
                7 + 3 + 0x11,
            ),
            192,
            &[(8, 7), (32, 3), (48, 0x11), (152, 99), (176, 5)],
        ),
        refused(
            with_ctx(case("tc ctx_in with len", TC, "mov %r0, 0\nexit", 0), 192, &[(0, 5)]),
            Errno::EINVAL,
        ),
        refused(
            with_ctx(case("tc ctx_in on no device", TC, "mov %r0, 0\nexit", 0), 192, &[(40, 4242)]),
            Errno::ENODEV,
        ),
        refused(
            with_ctx(case("tc ctx_in with a short wire_len", TC, "mov %r0, 0\nexit", 0), 192, &[(160, 20)]),
            Errno::EINVAL,
        ),
        // XDP's byte helpers.
        case(
            "xdp get_buff_len",
            XDP,
            &format!("{start}{}exit", call(188, "")),
            54,
        ),
        case("xdp load_bytes", XDP, &xdp_bytes(189, 12, 2), 0x0008),
        case(
            "xdp load_bytes past the end",
            XDP,
            &xdp_bytes(189, 53, 2),
            EINVAL,
        ),
        case(
            "xdp load_bytes at a huge offset",
            XDP,
            &xdp_bytes(189, 0x10000, 2),
            EFAULT,
        ),
        case(
            "xdp store_bytes",
            XDP,
            &format!(
                "{start}stw [%r10-8], 0x0b0a0908\n{}{BAIL}ldxb %r0, [%r10-8]\nexit",
                call(190, "mov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\n")
            ),
            8,
        ),
    ]
}

fn bytecode(src: &str) -> Vec<u8> {
    asm::assemble(src)
        .unwrap_or_else(|e| panic!("{e}\n{src}"))
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect()
}

/// Runs `c` here: the return value (or errno) and the frame and context
/// after.
fn run_here(e: &Ebpf, c: &Case) -> (Result<u32, Errno>, Vec<u8>, Vec<u8>) {
    let code = bytecode(&c.src);
    let spec = ProgSpec {
        name: "helper",
        prog_type: c.prog_type as u32,
        bytecode: &code,
        license: "GPL",
        maps: &[],
        obj_types: &[],
    };
    let how = Admission {
        checked: false,
        log_level: 1,
        ..Default::default()
    };
    let (h, _) = e
        .prog_load_with(&spec, how)
        .unwrap_or_else(|err| panic!("{}: refused: {err:?}\n{}", c.name, c.src));
    let out = e.prog_test_run_with(h, &frame(), c.ctx.as_deref(), 1);
    e.close(h).unwrap();
    match out {
        Ok(out) => (Ok(out.retval), out.data_out, out.ctx_out),
        Err(err) => (Err(err.errno), Vec::new(), Vec::new()),
    }
}

#[test]
fn packet_helpers_behave_as_linuxs() {
    let e = client();
    // The reference is the build host's kernel; in the test VM, the
    // guest's kernel is only the module's host.
    let host = match std::env::var("EBPF_TEST_DEVICE") {
        Ok(_) => Some("running against a device".to_string()),
        Err(_) => host_bpf::unavailable(),
    };
    if let Some(why) = &host {
        println!("no comparison with the host kernel: {why}");
    }
    let mut compared = 0;
    for c in cases() {
        let (retval, data, ctx) = run_here(&e, &c);
        assert_eq!(retval, c.retval, "{}: retval {retval:x?}", c.name);
        if c.name == "tc store_bytes and csum_replace" {
            assert!(
                checksums_hold(&data),
                "{}: checksums broken: {data:02x?}",
                c.name
            );
            assert_eq!(data[30..34], [192, 168, 1, 7], "{}", c.name);
        }
        if host.is_some() {
            continue;
        }
        let theirs = host_bpf::Program::load(c.prog_type as u32, &bytecode(&c.src), 1)
            .unwrap_or_else(|e| panic!("{}: the host refused: {e}", c.name));
        let r = theirs.test_run_full(&frame(), 4096, c.ctx.as_deref());
        let r = match r {
            Ok(r) => r,
            Err(err) => {
                let errno = Errno(err.raw_os_error().unwrap_or(0));
                assert_eq!(Err(errno), c.retval, "{}: the host refuses the run", c.name);
                compared += 1;
                continue;
            }
        };
        assert_eq!(
            Ok(r.result.retval),
            c.retval,
            "{}: the host returns {:#x}",
            c.name,
            r.result.retval
        );
        assert_eq!(
            data, r.data_out,
            "{}: frames differ from the host's",
            c.name
        );
        assert_eq!(
            ctx, r.ctx_out,
            "{}: contexts differ from the host's",
            c.name
        );
        compared += 1;
    }
    println!("{compared} programs agree with the host kernel");
}

#[test]
fn xdp_fragments_are_refused_not_ignored() {
    // data_end short of the data: Linux puts the rest in fragments.
    let c = with_ctx(
        case("fragments", XDP, "mov %r0, 2\nexit", 0),
        24,
        &[(4, 50)],
    );
    let (retval, _, _) = run_here(&client(), &c);
    assert_eq!(retval, Err(Errno::EOPNOTSUPP));
}
