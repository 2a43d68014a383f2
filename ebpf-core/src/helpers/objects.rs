//! The object graph's kfuncs: `bpf_obj_new_impl`, `bpf_obj_drop_impl`,
//! `bpf_list_push_front_impl`/`_back_impl`, `bpf_list_pop_front`/`_back`
//! ([`crate::graph`]). Only verified programs call them (the load refuses
//! others), so the pointers they pass are the list heads, nodes and
//! objects the verifier proved them to be, and the head's lock is held.

use crate::errno::Errno;
use crate::error::HelperError;
use crate::graph::{list, rbtree, Graph};

use super::{ids, ProgramMemory, RunContext};

impl RunContext<'_> {
    /// The object kfuncs; `None` for another id.
    pub(super) fn call_graph(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Option<Result<u64, HelperError>> {
        if !ids::GRAPH.contains(&id) {
            return None;
        }
        let Some((graph, types)) = self.objects else {
            return Some(Err(HelperError::Other(
                "object kfunc in a program without object types",
            )));
        };
        Some(Ok(match id {
            // The program's BTF id of the type, proven constant.
            ids::OBJ_NEW => types
                .iter()
                .find(|&&(btf, _)| u64::from(btf) == a[0])
                .map_or(0, |&(_, i)| graph.alloc(i)),
            ids::OBJ_DROP => {
                // SAFETY: the verifier proved an object the program owns,
                // at its start; the reference ends with the call.
                unsafe { graph.drop_object(a[0]) };
                0
            }
            // SAFETY: an object the program owns, or reaches under the
            // lock of the list or tree that owns it.
            ids::REFCOUNT_ACQUIRE => unsafe { graph.acquire(a[0]) },
            // SAFETY: a kptr, and an object of its type the program owns
            // (or 0): the kptr owns it now, the program what it held.
            ids::KPTR_XCHG => unsafe { Graph::kptr_xchg(a[0], a[1]) },
            ids::LIST_PUSH_FRONT | ids::LIST_PUSH_BACK => {
                // SAFETY: a list head under its held lock and a node of an
                // object the program owns, of the type the list holds.
                let pushed = unsafe { list::push(a[0], a[1], id == ids::LIST_PUSH_BACK) };
                if pushed {
                    0
                } else {
                    // SAFETY: the node is of an object the program owned.
                    unsafe { graph.drop_by_node(a[1]) };
                    Errno::EINVAL.to_helper_ret()
                }
            }
            ids::LIST_POP_FRONT | ids::LIST_POP_BACK => {
                // SAFETY: a list head under its held lock.
                unsafe { list::pop(a[0], id == ids::LIST_POP_BACK) }.unwrap_or(0)
            }
            ids::RBTREE_ADD => {
                let less = a[2];
                let mut call = |x: u64, y: u64| {
                    mem.call_function(self, less, [x, y, 0, 0, 0])
                        .map(|r| r != 0)
                };
                // SAFETY: a tree root under its held lock and a node of an
                // object the program owns, of the type the tree holds; the
                // verified `less` cannot change the tree (no calls).
                match unsafe { rbtree::add(a[0], a[1], &mut call) } {
                    Ok(true) => 0,
                    Ok(false) => {
                        // SAFETY: the node is of an object the program
                        // owned.
                        unsafe { graph.drop_by_node(a[1]) };
                        Errno::EINVAL.to_helper_ret()
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
            // SAFETY: a tree root under its held lock.
            ids::RBTREE_FIRST => unsafe { rbtree::first(a[0]) },
            ids::RBTREE_REMOVE => {
                // SAFETY: a tree root under its held lock and the node of
                // an object a tree of that type held (maybe this one).
                if unsafe { rbtree::remove(a[0], a[1]) } {
                    a[1]
                } else {
                    0
                }
            }
            _ => return None,
        }))
    }
}
