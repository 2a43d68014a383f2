//! Kernel functions (kfuncs) the runtime provides: calls with
//! `src = BPF_PSEUDO_KFUNC_CALL` whose `imm` is one of the ids below (the
//! runtime's own numbering: Linux's are BTF ids of its kernel, which a
//! loader resolves by name, as libbpf does for `__ksym` externs).
//!
//! Past the ABI they are served through the helper table: at load,
//! [`lower`] turns each kfunc call into a helper call of
//! [`ids::KFUNC_BASE`] plus its id, so that the verifier, the interpreter
//! and the JIT treat them as helpers with prototypes of their own.

use alloc::vec::Vec;

use super::ids;
use crate::error::LoadError;
use crate::insn::Insn;
use crate::opcode::{BPF_CALL, BPF_JMP, BPF_PSEUDO_HELPER, BPF_PSEUDO_KFUNC_CALL, BPF_X};

/// `void bpf_throw(u64 cookie)`: ends the program from any function,
/// which returns `cookie` (BPF exceptions with the default callback).
pub const THROW: u32 = 1;
/// `void bpf_preempt_disable(void)`: programs already run without
/// preemption here; the verifier checks that calls are balanced.
pub const PREEMPT_DISABLE: u32 = 2;
/// `void bpf_preempt_enable(void)`.
pub const PREEMPT_ENABLE: u32 = 3;
/// `int bpf_dynptr_from_skb(struct __sk_buff *, u64 flags, struct
/// bpf_dynptr *)`: a dynamic pointer over a socket buffer's bytes.
pub const DYNPTR_FROM_SKB: u32 = 4;
/// `int bpf_dynptr_from_xdp(struct xdp_md *, u64 flags, struct bpf_dynptr *)`.
pub const DYNPTR_FROM_XDP: u32 = 5;
/// `void *bpf_dynptr_slice(const struct bpf_dynptr *, u32 offset, void
/// *buffer, u32 buffer__szk)`: read-only memory of the dynamic pointer's
/// bytes, or NULL.
pub const DYNPTR_SLICE: u32 = 6;
/// `void *bpf_dynptr_slice_rdwr(...)`: the same, writable.
pub const DYNPTR_SLICE_RDWR: u32 = 7;
/// `int bpf_dynptr_adjust(const struct bpf_dynptr *, u32 start, u32 end)`.
pub const DYNPTR_ADJUST: u32 = 8;
/// `bool bpf_dynptr_is_null(const struct bpf_dynptr *)`.
pub const DYNPTR_IS_NULL: u32 = 9;
/// `bool bpf_dynptr_is_rdonly(const struct bpf_dynptr *)`.
pub const DYNPTR_IS_RDONLY: u32 = 10;
/// `u32 bpf_dynptr_size(const struct bpf_dynptr *)`.
pub const DYNPTR_SIZE: u32 = 11;
/// `int bpf_dynptr_clone(const struct bpf_dynptr *, struct bpf_dynptr *)`.
pub const DYNPTR_CLONE: u32 = 12;

/// `void *bpf_obj_new_impl(u64 local_type_id__k, void *meta__ign)`: a new
/// zeroed object of a program type, or NULL.
pub const OBJ_NEW: u32 = 13;
/// `void bpf_obj_drop_impl(void *p__alloc, void *meta__ign)`.
pub const OBJ_DROP: u32 = 14;
/// `int bpf_list_push_front_impl(struct bpf_list_head *, struct
/// bpf_list_node *, void *meta__ign, u64 off)`.
pub const LIST_PUSH_FRONT: u32 = 15;
/// `int bpf_list_push_back_impl(...)`.
pub const LIST_PUSH_BACK: u32 = 16;
/// `struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *)`.
pub const LIST_POP_FRONT: u32 = 17;
/// `struct bpf_list_node *bpf_list_pop_back(struct bpf_list_head *)`.
pub const LIST_POP_BACK: u32 = 18;

/// `int bpf_rbtree_add_impl(struct bpf_rb_root *, struct bpf_rb_node *,
/// bool (less)(struct bpf_rb_node *, const struct bpf_rb_node *), void
/// *meta__ign, u64 off)`.
pub const RBTREE_ADD: u32 = 19;
/// `struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *)`.
pub const RBTREE_FIRST: u32 = 20;
/// `struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *, struct
/// bpf_rb_node *)`.
pub const RBTREE_REMOVE: u32 = 21;
/// `void *bpf_refcount_acquire_impl(void *p__refcounted_kptr, void
/// *meta__ign)`: one more owner of the object, or NULL.
pub const REFCOUNT_ACQUIRE: u32 = 22;

/// Every kfunc: id and Linux's name.
pub const ALL: &[(u32, &str)] = &[
    (THROW, "bpf_throw"),
    (PREEMPT_DISABLE, "bpf_preempt_disable"),
    (PREEMPT_ENABLE, "bpf_preempt_enable"),
    (DYNPTR_FROM_SKB, "bpf_dynptr_from_skb"),
    (DYNPTR_FROM_XDP, "bpf_dynptr_from_xdp"),
    (DYNPTR_SLICE, "bpf_dynptr_slice"),
    (DYNPTR_SLICE_RDWR, "bpf_dynptr_slice_rdwr"),
    (DYNPTR_ADJUST, "bpf_dynptr_adjust"),
    (DYNPTR_IS_NULL, "bpf_dynptr_is_null"),
    (DYNPTR_IS_RDONLY, "bpf_dynptr_is_rdonly"),
    (DYNPTR_SIZE, "bpf_dynptr_size"),
    (DYNPTR_CLONE, "bpf_dynptr_clone"),
    (OBJ_NEW, "bpf_obj_new_impl"),
    (OBJ_DROP, "bpf_obj_drop_impl"),
    (LIST_PUSH_FRONT, "bpf_list_push_front_impl"),
    (LIST_PUSH_BACK, "bpf_list_push_back_impl"),
    (LIST_POP_FRONT, "bpf_list_pop_front"),
    (LIST_POP_BACK, "bpf_list_pop_back"),
    (RBTREE_ADD, "bpf_rbtree_add_impl"),
    (RBTREE_FIRST, "bpf_rbtree_first"),
    (RBTREE_REMOVE, "bpf_rbtree_remove"),
    (REFCOUNT_ACQUIRE, "bpf_refcount_acquire_impl"),
];

/// The id of the kfunc Linux calls `name`.
pub fn by_name(name: &str) -> Option<u32> {
    ALL.iter().find(|(_, n)| *n == name).map(|&(id, _)| id)
}

/// The helper-table id kfunc `id` is served under.
pub const fn helper_id(id: u32) -> u32 {
    ids::KFUNC_BASE + id
}

/// Turns kfunc calls into calls of their helper-table ids; `None` when
/// the program has none. A kfunc id the runtime does not have, a kfunc
/// call with a module BTF index (`off`), and a helper call naming a
/// helper-table id of a kfunc directly are refused.
pub(crate) fn lower(insns: &[Insn]) -> Result<Option<Vec<Insn>>, LoadError> {
    let call = BPF_JMP | BPF_CALL;
    let mut out: Option<Vec<Insn>> = None;
    for (pc, insn) in insns.iter().enumerate() {
        if insn.opcode != call || insn.opcode & BPF_X != 0 {
            continue;
        }
        match insn.src {
            BPF_PSEUDO_HELPER if insn.imm as u32 >= ids::KFUNC_BASE => {
                return Err(LoadError::UnknownHelper { pc, id: insn.imm });
            }
            BPF_PSEUDO_KFUNC_CALL => {
                let known = ALL.iter().any(|&(id, _)| id as i32 == insn.imm);
                if !known || insn.off != 0 || insn.dst != 0 {
                    return Err(LoadError::UnknownKfunc { pc, id: insn.imm });
                }
                let lowered = out.get_or_insert_with(|| insns.to_vec());
                lowered[pc] = Insn::new(
                    call,
                    0,
                    BPF_PSEUDO_HELPER,
                    0,
                    helper_id(insn.imm as u32) as i32,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfunc_calls_become_helper_calls_and_unknown_ones_are_refused() {
        let kcall = |imm| Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, imm);
        let exit = Insn::new(BPF_JMP | crate::opcode::BPF_EXIT, 0, 0, 0, 0);
        assert_eq!(lower(&[exit]).unwrap(), None);
        let lowered = lower(&[kcall(THROW as i32), exit]).unwrap().unwrap();
        assert_eq!(lowered[0].src, BPF_PSEUDO_HELPER);
        assert_eq!(lowered[0].imm as u32, helper_id(THROW));
        assert!(matches!(
            lower(&[kcall(99), exit]),
            Err(LoadError::UnknownKfunc { pc: 0, id: 99 })
        ));
        let direct = Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, helper_id(THROW) as i32);
        assert!(matches!(
            lower(&[direct, exit]),
            Err(LoadError::UnknownHelper { .. })
        ));
        assert_eq!(by_name("bpf_throw"), Some(THROW));
        assert_eq!(by_name("bpf_obj_new_impl"), Some(OBJ_NEW));
        assert_eq!(by_name("bpf_rbtree_add_impl"), Some(RBTREE_ADD));
        assert_eq!(by_name("bpf_kptr_xchg"), None);
    }
}
