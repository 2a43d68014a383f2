//! Trees of objects, as `bpf_rb_root` and `bpf_rb_node` hold them: the
//! objects in the order the program's `less` gives, leftmost first, an
//! equal one after those already there (as Linux's `rb_add_cached`
//! places it). They are kept as an ordered list in place (a root is a list
//! head, a node a list node and a spare word): adding costs a `less` call
//! per node before the new one, not a logarithm of them.
//!
//! As [`list`](super::list): raw addresses the verifier proved, under the
//! root's lock.

use core::sync::atomic::Ordering;

use super::list::{self, word, FIRST, LAST, NEXT, PREV};

/// Adds `node` to `root` before the first node `less(node, it)` says it
/// is less than; `Ok(false)`, changing nothing, when it is in a tree
/// already; `Err` when `less` failed.
///
/// # Safety
/// `root` and `node` are a live root and node; the caller holds the
/// root's lock; `less` does not change the tree.
pub unsafe fn add<E>(
    root: u64,
    node: u64,
    less: &mut dyn FnMut(u64, u64) -> Result<bool, E>,
) -> Result<bool, E> {
    // SAFETY: per the contract.
    if !unsafe { list::claim(node, root) } {
        return Ok(false);
    }
    // SAFETY: per the contract, every word below is a live, aligned word
    // of the root or of a node in it.
    unsafe {
        let mut at = *word(root, FIRST);
        while at != 0 {
            let is_less = match less(node, at) {
                Ok(l) => l,
                Err(e) => {
                    list::release(node);
                    return Err(e);
                }
            };
            if is_less {
                let prev = *word(at, PREV);
                *word(node, PREV) = prev;
                *word(node, NEXT) = at;
                if prev == 0 {
                    *word(root, FIRST) = node;
                } else {
                    *word(prev, NEXT) = node;
                }
                *word(at, PREV) = node;
                return Ok(true);
            }
            at = *word(at, NEXT);
        }
        list::link(root, node, true);
        Ok(true)
    }
}

/// The leftmost node, if any.
///
/// # Safety
/// As for [`add`].
pub unsafe fn first(root: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe { *word(root, FIRST) }
}

/// Takes `node` out of `root`; `false` when it is not in that tree.
///
/// # Safety
/// As for [`add`]; `node` is a live node (in a tree or not).
pub unsafe fn remove(root: u64, node: u64) -> bool {
    // SAFETY: per the contract.
    unsafe {
        if list::owner(node).load(Ordering::Acquire) != root {
            return false;
        }
        let (prev, next) = (*word(node, PREV), *word(node, NEXT));
        if prev == 0 {
            *word(root, FIRST) = next;
        } else {
            *word(prev, NEXT) = next;
        }
        if next == 0 {
            *word(root, LAST) = prev;
        } else {
            *word(next, PREV) = prev;
        }
        *word(node, NEXT) = 0;
        *word(node, PREV) = 0;
        list::release(node);
    }
    true
}
