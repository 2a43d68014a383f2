//! `BPF_PROG_TYPE_SCHED_ACT` (tc actions): Linux gives them what it gives
//! tc classifiers (`tc_cls_act_*`): the same `struct __sk_buff` access, the
//! same helpers, the same test run.

use super::TypeSpec;

/// The type's description: tc's.
pub(super) static SPEC: &TypeSpec = &super::sched_cls::SPEC;
