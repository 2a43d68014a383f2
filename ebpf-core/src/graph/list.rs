//! Lists of objects, as `bpf_list_head` and `bpf_list_node` hold them in
//! place: a head is the first and last node's addresses (0, 0 when empty:
//! a zeroed map value holds empty lists), a node the next and previous
//! node's addresses and the head that owns it (0 when in no list).
//!
//! Every function takes raw addresses the verifier proved to be a list
//! head or node of the right type, under the lock that guards the head
//! (or owned by the caller alone, as at teardown). A node's owner word is
//! claimed and let go atomically: an object with a reference count may be
//! pushed into two lists at once, under two locks, by two programs.

use core::sync::atomic::{AtomicU64, Ordering};

/// Word `i` of the 8-aligned memory at `at` (dereferencing it is the
/// caller's to prove).
pub(super) fn word(at: u64, i: u64) -> *mut u64 {
    (at + 8 * i) as *mut u64
}

/// A head's words.
pub(super) const FIRST: u64 = 0;
pub(super) const LAST: u64 = 1;
/// A node's words.
pub(super) const NEXT: u64 = 0;
pub(super) const PREV: u64 = 1;
pub(super) const OWNER: u64 = 2;

/// A node's owner word.
///
/// # Safety
/// `node` is a live node for the returned reference's use.
pub(super) unsafe fn owner<'a>(node: u64) -> &'a AtomicU64 {
    // SAFETY: per the contract: an aligned word of the node.
    unsafe { AtomicU64::from_ptr(word(node, OWNER)) }
}

/// Makes `head` the owner of `node` if it has none (Linux's
/// `cmpxchg(&node->owner, NULL, ...)`); `false` when it has one.
///
/// # Safety
/// As for [`owner`].
pub(super) unsafe fn claim(node: u64, head: u64) -> bool {
    // SAFETY: per the contract.
    unsafe { owner(node) }
        .compare_exchange(0, head, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Lets `node` go: in no list or tree any more.
///
/// # Safety
/// As for [`owner`]; its links are cleared already.
pub(super) unsafe fn release(node: u64) {
    // SAFETY: per the contract.
    unsafe { owner(node) }.store(0, Ordering::Release);
}

/// Adds `node` at the front (or the back, `tail`) of `head`; `false`,
/// changing nothing, when the node is in a list already.
///
/// # Safety
/// `head` and `node` are a live list head and node; the caller holds the
/// head's lock.
pub unsafe fn push(head: u64, node: u64, tail: bool) -> bool {
    // SAFETY: per the contract.
    if !unsafe { claim(node, head) } {
        return false;
    }
    // SAFETY: as above.
    unsafe { link(head, node, tail) };
    true
}

/// Links `node`, claimed for `head`, at its front (or back, `tail`).
///
/// # Safety
/// As for [`push`].
pub(super) unsafe fn link(head: u64, node: u64, tail: bool) {
    // SAFETY: per the contract, all words below are live and aligned.
    unsafe {
        let (near, far_link, near_link) = if tail {
            (LAST, NEXT, PREV)
        } else {
            (FIRST, PREV, NEXT)
        };
        let old = *word(head, near);
        *word(node, near_link) = old;
        *word(node, far_link) = 0;
        if old == 0 {
            *word(head, FIRST) = node;
            *word(head, LAST) = node;
        } else {
            *word(old, far_link) = node;
            *word(head, near) = node;
        }
    }
}

/// Takes the first (or last, `tail`) node of `head` out, if any.
///
/// # Safety
/// As for [`push`].
pub unsafe fn pop(head: u64, tail: bool) -> Option<u64> {
    // SAFETY: per the contract, the head and every node linked from it are
    // live.
    unsafe {
        let (near, inward, outward) = if tail {
            (LAST, PREV, NEXT)
        } else {
            (FIRST, NEXT, PREV)
        };
        let node = *word(head, near);
        if node == 0 {
            return None;
        }
        let next = *word(node, inward);
        *word(head, near) = next;
        if next == 0 {
            *word(head, FIRST) = 0;
            *word(head, LAST) = 0;
        } else {
            *word(next, outward) = 0;
        }
        *word(node, NEXT) = 0;
        *word(node, PREV) = 0;
        release(node);
        Some(node)
    }
}

/// Detaches every node of `head` at once, the head left empty; returns
/// the first (the others follow through their next words).
///
/// # Safety
/// As for [`push`].
pub unsafe fn take_all(head: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe {
        let first = *word(head, FIRST);
        *word(head, FIRST) = 0;
        *word(head, LAST) = 0;
        first
    }
}

/// The node after `node` in a detached chain, `node` cleared.
///
/// # Safety
/// `node` is a live node no list head reaches any more.
pub unsafe fn unlink_next(node: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe {
        let next = *word(node, NEXT);
        *word(node, NEXT) = 0;
        *word(node, PREV) = 0;
        release(node);
        next
    }
}
