//! The C header (`include/ebpf-kmod/ebpf_ioctl.h`) describes exactly the
//! ABI the Rust side implements: compiled with the system's C compiler, every
//! struct's size, every field's offset and every request number must match
//! `ebpf_core::abi`. Skips with a message where no C compiler exists.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command as Process;

use ebpf_core::abi::*;

/// (C struct, Rust size, [(field, Rust offset)]).
type Layout = (&'static str, usize, Vec<(&'static str, usize)>);

macro_rules! layout {
    ($c:literal, $t:ty, $($f:ident),+) => {
        ($c, size_of::<$t>(), vec![$((stringify!($f), core::mem::offset_of!($t, $f))),+])
    };
}

fn layouts() -> Vec<Layout> {
    vec![
        layout!("ebpf_ioctl_arg", IoctlArg, request, size, reserved),
        layout!(
            "ebpf_version_req",
            VersionReq,
            abi_version,
            commands,
            possible_cpus,
            reserved,
            version
        ),
        layout!(
            "ebpf_map_create_req",
            MapCreateReq,
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags,
            inner_map_handle,
            spin_lock_offset_plus_one,
            map_extra,
            name,
            handle,
            id,
            value_fields,
            nr_value_fields,
            nr_obj_types,
            obj_types
        ),
        layout!(
            "ebpf_obj_field",
            ObjField,
            kind,
            offset,
            contains,
            node_offset
        ),
        layout!(
            "ebpf_obj_type",
            ObjTypeDesc,
            name,
            btf_id,
            size,
            nr_fields,
            reserved,
            fields
        ),
        layout!(
            "ebpf_map_elem_req",
            MapElemReq,
            handle,
            reserved,
            key,
            value,
            flags
        ),
        layout!(
            "ebpf_map_batch_req",
            MapBatchReq,
            handle,
            count,
            in_batch,
            out_batch,
            keys,
            values,
            elem_flags,
            flags
        ),
        layout!(
            "ebpf_prog_load_req",
            ProgLoadReq,
            prog_type,
            insn_cnt,
            insns,
            license,
            log_level,
            log_size,
            log_buf,
            map_handles,
            map_count,
            prog_flags,
            name,
            handle,
            id,
            log_true_size,
            expected_attach_type,
            exception_cb,
            nr_obj_types,
            obj_types
        ),
        layout!(
            "ebpf_test_run_req",
            TestRunReq,
            handle,
            retval,
            data_size_in,
            data_size_out,
            data_in,
            data_out,
            ctx_size_in,
            ctx_size_out,
            ctx_in,
            ctx_out,
            repeat,
            duration,
            flags,
            reserved
        ),
        layout!("ebpf_obj_pin_req", ObjPinReq, handle, kind, name),
        layout!("ebpf_obj_close_req", ObjCloseReq, handle, reserved),
        layout!("ebpf_get_info_req", GetInfoReq, handle, info_len, info),
        layout!(
            "ebpf_map_info",
            MapInfo,
            map_type,
            id,
            key_size,
            value_size,
            max_entries,
            map_flags,
            name,
            memory_bytes
        ),
        layout!(
            "ebpf_prog_info",
            ProgInfo,
            prog_type,
            id,
            insn_cnt,
            map_count,
            name,
            load_time_ns,
            run_cnt,
            run_time_ns,
            xlated_len,
            flags,
            xlated_insns
        ),
        layout!("ebpf_id_req", IdReq, kind, id, next_id, handle),
        layout!(
            "ebpf_ringbuf_consume_req",
            RingbufConsumeReq,
            handle,
            buf_len,
            buf,
            records,
            index,
            lost
        ),
        layout!(
            "ebpf_link_create_req",
            LinkCreateReq,
            prog_handle,
            ifindex,
            ifname,
            direction,
            flags,
            link_handle,
            ifindex_out
        ),
        layout!(
            "ebpf_link_info",
            LinkInfo,
            link_type,
            id,
            prog_id,
            ifindex,
            direction,
            attached_ifindex,
            verdicts
        ),
    ]
}

/// The request macro of each command, in `Command::ALL` order (one per
/// command: a new command does not compile without its macro here).
const REQUESTS: [&str; Command::ALL.len()] = [
    "VERSION",
    "MAP_CREATE",
    "MAP_LOOKUP_ELEM",
    "MAP_UPDATE_ELEM",
    "MAP_DELETE_ELEM",
    "MAP_GET_NEXT_KEY",
    "MAP_LOOKUP_AND_DELETE_ELEM",
    "MAP_LOOKUP_BATCH",
    "MAP_UPDATE_BATCH",
    "MAP_DELETE_BATCH",
    "PROG_LOAD",
    "PROG_TEST_RUN",
    "OBJ_PIN",
    "OBJ_GET",
    "OBJ_CLOSE",
    "OBJ_GET_INFO",
    "GET_NEXT_ID",
    "GET_HANDLE_BY_ID",
    "RINGBUF_CONSUME",
    "LINK_CREATE",
    "LINK_DETACH",
];

#[test]
fn the_c_header_matches_the_abi() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if Process::new(&cc).arg("--version").output().is_err() {
        eprintln!("skipped: no C compiler `{cc}` (set CC)");
        return;
    }
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    let mut src = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <ebpf-kmod/ebpf_ioctl.h>\nint main(void) {\n",
    );
    let mut want = String::new();
    for (name, size, fields) in layouts() {
        writeln!(src, "printf(\"{name} %zu\\n\", sizeof(struct {name}));").unwrap();
        writeln!(want, "{name} {size}").unwrap();
        for (field, offset) in fields {
            writeln!(
                src,
                "printf(\"{name}.{field} %zu\\n\", offsetof(struct {name}, {field}));"
            )
            .unwrap();
            writeln!(want, "{name}.{field} {offset}").unwrap();
        }
    }
    for (cmd, macro_name) in Command::ALL.iter().zip(REQUESTS) {
        writeln!(
            src,
            "printf(\"{macro_name} %#lx\\n\", (unsigned long)EBPF_IOC_{macro_name});"
        )
        .unwrap();
        writeln!(want, "{macro_name} {:#x}", cmd.request()).unwrap();
    }
    for (macro_name, value) in [
        ("EBPF_ATTACH_XDP_DEVMAP", ATTACH_XDP_DEVMAP),
        ("EBPF_ATTACH_XDP_CPUMAP", ATTACH_XDP_CPUMAP),
        ("EBPF_ATTACH_XDP", ATTACH_XDP),
        ("EBPF_FIELD_SPIN_LOCK", FIELD_SPIN_LOCK),
        ("EBPF_FIELD_LIST_HEAD", FIELD_LIST_HEAD),
        ("EBPF_FIELD_LIST_NODE", FIELD_LIST_NODE),
        ("EBPF_FIELD_RB_ROOT", FIELD_RB_ROOT),
        ("EBPF_FIELD_RB_NODE", FIELD_RB_NODE),
        ("EBPF_FIELD_KPTR", FIELD_KPTR),
        ("EBPF_FIELD_REFCOUNT", FIELD_REFCOUNT),
        ("EBPF_FIELD_TIMER", FIELD_TIMER),
    ] {
        writeln!(src, "printf(\"{macro_name} %u\\n\", {macro_name});").unwrap();
        writeln!(want, "{macro_name} {value}").unwrap();
    }
    // Every kfunc: EBPF_KFUNC_ and its name without `bpf_`.
    for &(id, name) in ebpf_core::helpers::kfunc::ALL {
        let macro_name = format!(
            "EBPF_KFUNC_{}",
            name.trim_start_matches("bpf_").to_uppercase()
        );
        writeln!(src, "printf(\"{macro_name} %u\\n\", {macro_name});").unwrap();
        writeln!(want, "{macro_name} {id}").unwrap();
    }
    writeln!(
        src,
        "printf(\"ABI %d\\n\", EBPF_ABI_VERSION);\nreturn 0;\n}}"
    )
    .unwrap();
    writeln!(want, "ABI {ABI_VERSION}").unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (c, exe) = (dir.join("c_header.c"), dir.join("c_header"));
    std::fs::write(&c, src).unwrap();
    let out = Process::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(&c)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(Process::new(&exe).output().unwrap().stdout).unwrap();
    let differ: Vec<String> = got
        .lines()
        .zip(want.lines())
        .filter(|(c, rust)| c != rust)
        .map(|(c, rust)| format!("C: {c}, Rust: {rust}"))
        .collect();
    assert!(
        differ.is_empty() && got.lines().count() == want.lines().count(),
        "the header disagrees with ebpf_core::abi:\n{}",
        differ.join("\n")
    );
}
