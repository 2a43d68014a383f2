//! Trees of objects, as `bpf_rb_root` and `bpf_rb_node` hold them in
//! place: a red-black tree ordered by the program's `less`, leftmost
//! first, an equal one after those already there (as Linux's
//! `rb_add_cached` places it). Adding calls `less` once per level, a
//! logarithm of the nodes; the leftmost is cached.
//!
//! A root is two words: the top node and the leftmost (0, 0 when empty: a
//! zeroed map value holds empty trees). A node is four: left, right, the
//! root that owns it (as a list node's owner word, claimed atomically:
//! [`list::claim`]) and its parent with its colour in the low bit.
//!
//! As [`list`](super::list): raw addresses the verifier proved, under the
//! root's lock.

use core::sync::atomic::Ordering;

use super::list::{self, word};

/// A root's words.
const TOP: u64 = 0;
const LEFTMOST: u64 = 1;
/// A node's words (the owner is word 2, as in a list node).
const LEFT: u64 = 0;
const RIGHT: u64 = 1;
const PARENT: u64 = 3;
/// The colour bit of the parent word.
const RED: u64 = 1;

/// Word `i` of `at`, read.
///
/// # Safety
/// `at` is a live root or node.
unsafe fn get(at: u64, i: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe { *word(at, i) }
}

/// Word `i` of `at`, written.
///
/// # Safety
/// As for [`get`].
unsafe fn set(at: u64, i: u64, v: u64) {
    // SAFETY: per the contract.
    unsafe { *word(at, i) = v }
}

/// Node `n`'s parent (0: the top).
///
/// # Safety
/// `n` is a live node of the tree.
unsafe fn parent(n: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe { get(n, PARENT) & !RED }
}

/// Whether `n` is red (an absent node, 0, is black).
///
/// # Safety
/// `n` is 0 or a live node of the tree.
unsafe fn is_red(n: u64) -> bool {
    // SAFETY: per the contract.
    n != 0 && unsafe { get(n, PARENT) } & RED != 0
}

/// Sets `n`'s parent, keeping its colour.
///
/// # Safety
/// As for [`parent`].
unsafe fn set_parent(n: u64, p: u64) {
    // SAFETY: per the contract.
    unsafe { set(n, PARENT, p | (get(n, PARENT) & RED)) }
}

/// Colours `n` red or black.
///
/// # Safety
/// As for [`parent`].
unsafe fn paint(n: u64, red: bool) {
    // SAFETY: per the contract.
    unsafe { set(n, PARENT, parent(n) | u64::from(red)) }
}

/// Puts `new` where `old` hangs from `p` (the top when `p` is 0).
///
/// # Safety
/// `root` is the tree's root; `p` is 0 or `old`'s parent.
unsafe fn replace_child(root: u64, p: u64, old: u64, new: u64) {
    // SAFETY: per the contract.
    unsafe {
        if p == 0 {
            set(root, TOP, new);
        } else if get(p, LEFT) == old {
            set(p, LEFT, new);
        } else {
            set(p, RIGHT, new);
        }
    }
}

/// Rotates around `x`: its child on side `side` (LEFT's opposite for a
/// left rotation) takes its place.
///
/// # Safety
/// `x` is a live node of `root`'s tree with a child on `side`.
unsafe fn rotate(root: u64, x: u64, side: u64) {
    let other = side ^ 1;
    // SAFETY: per the contract, every node below is in the tree.
    unsafe {
        let y = get(x, side);
        let inner = get(y, other);
        set(x, side, inner);
        if inner != 0 {
            set_parent(inner, x);
        }
        let p = parent(x);
        set_parent(y, p);
        replace_child(root, p, x, y);
        set(y, other, x);
        set_parent(x, y);
    }
}

/// The leftmost node of the subtree at `n` (0 for none).
///
/// # Safety
/// `n` is 0 or a live node of the tree.
unsafe fn leftmost(mut n: u64) -> u64 {
    // SAFETY: per the contract; a tree has no cycle.
    unsafe {
        while n != 0 && get(n, LEFT) != 0 {
            n = get(n, LEFT);
        }
    }
    n
}

/// The node after `n` in order (0 after the last). Reads only right and
/// parent words, and left words of the nodes after `n`.
///
/// # Safety
/// `n` is a live node of the tree.
unsafe fn successor(mut n: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe {
        if get(n, RIGHT) != 0 {
            return leftmost(get(n, RIGHT));
        }
        let mut p = parent(n);
        while p != 0 && get(p, RIGHT) == n {
            n = p;
            p = parent(p);
        }
        p
    }
}

/// Adds `node` to `root` after every node it is not less than; `Ok(false)`,
/// changing nothing, when it is in a tree (or list) already; `Err` when
/// `less` failed.
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
    // of the root or of a node in its tree.
    unsafe {
        let (mut p, mut side, mut leftmost) = (0, LEFT, true);
        let mut at = get(root, TOP);
        while at != 0 {
            let is_less = match less(node, at) {
                Ok(l) => l,
                Err(e) => {
                    list::release(node);
                    return Err(e);
                }
            };
            p = at;
            if is_less {
                side = LEFT;
                at = get(at, LEFT);
            } else {
                side = RIGHT;
                at = get(at, RIGHT);
                leftmost = false;
            }
        }
        set(node, LEFT, 0);
        set(node, RIGHT, 0);
        set(node, PARENT, p | RED);
        if p == 0 {
            set(root, TOP, node);
        } else {
            set(p, side, node);
        }
        if leftmost {
            set(root, LEFTMOST, node);
        }
        insert_fixup(root, node);
    }
    Ok(true)
}

/// Restores the red-black rules after `n` was added red.
///
/// # Safety
/// `n` is a node of `root`'s tree, the caller holds its lock.
unsafe fn insert_fixup(root: u64, mut n: u64) {
    // SAFETY: per the contract; each step moves up the tree.
    unsafe {
        while is_red(parent(n)) {
            let p = parent(n);
            // A red parent is not the top: there is a grandparent.
            let g = parent(p);
            let (side, other) = if get(g, LEFT) == p {
                (LEFT, RIGHT)
            } else {
                (RIGHT, LEFT)
            };
            let uncle = get(g, other);
            if is_red(uncle) {
                paint(p, false);
                paint(uncle, false);
                paint(g, true);
                n = g;
                continue;
            }
            let mut p = p;
            if get(p, other) == n {
                rotate(root, p, other);
                n = p;
                p = parent(n);
            }
            paint(p, false);
            paint(g, true);
            rotate(root, g, side);
        }
        paint(get(root, TOP), false);
    }
}

/// The leftmost node, if any.
///
/// # Safety
/// As for [`add`].
pub unsafe fn first(root: u64) -> u64 {
    // SAFETY: per the contract.
    unsafe { get(root, LEFTMOST) }
}

/// Takes `node` out of `root`; `false` when it is not in that tree.
///
/// # Safety
/// As for [`add`]; `node` is a live node (in a tree or not).
pub unsafe fn remove(root: u64, node: u64) -> bool {
    // SAFETY: per the contract.
    if unsafe { list::owner(node) }.load(Ordering::Acquire) != root {
        return false;
    }
    // SAFETY: the node is in `root`'s tree, under the caller's lock.
    unsafe {
        if get(root, LEFTMOST) == node {
            set(root, LEFTMOST, successor(node));
        }
        unlink(root, node);
        set(node, LEFT, 0);
        set(node, RIGHT, 0);
        set(node, PARENT, 0);
        list::release(node);
    }
    true
}

/// Takes `z` out of the tree's links and restores the red-black rules.
///
/// # Safety
/// `z` is a node of `root`'s tree, the caller holds its lock.
unsafe fn unlink(root: u64, z: u64) {
    // SAFETY: per the contract.
    unsafe {
        // `x` takes the place of the node that leaves its position (z, or
        // z's successor when z has two children); `xp` is x's parent
        // (x may be absent).
        let (x, xp, removed_red);
        if get(z, LEFT) == 0 || get(z, RIGHT) == 0 {
            x = if get(z, LEFT) != 0 {
                get(z, LEFT)
            } else {
                get(z, RIGHT)
            };
            xp = parent(z);
            removed_red = is_red(z);
            if x != 0 {
                set_parent(x, xp);
            }
            replace_child(root, xp, z, x);
        } else {
            // The successor: leftmost of the right subtree, no left child.
            let y = leftmost(get(z, RIGHT));
            removed_red = is_red(y);
            x = get(y, RIGHT);
            if parent(y) == z {
                xp = y;
            } else {
                xp = parent(y);
                if x != 0 {
                    set_parent(x, xp);
                }
                set(xp, LEFT, x);
                set(y, RIGHT, get(z, RIGHT));
                set_parent(get(z, RIGHT), y);
            }
            // y takes z's place, links and colour.
            let zp = parent(z);
            replace_child(root, zp, z, y);
            set(y, PARENT, get(z, PARENT));
            set(y, LEFT, get(z, LEFT));
            set_parent(get(z, LEFT), y);
        }
        if !removed_red {
            delete_fixup(root, x, xp);
        }
    }
}

/// Restores the red-black rules after a black node left from above `x`
/// (maybe absent), whose parent is `xp`.
///
/// # Safety
/// As for [`unlink`].
unsafe fn delete_fixup(root: u64, mut x: u64, mut xp: u64) {
    // SAFETY: per the contract; each step moves up the tree or ends.
    unsafe {
        while x != get(root, TOP) && !is_red(x) {
            let (side, other) = if get(xp, LEFT) == x {
                (LEFT, RIGHT)
            } else {
                (RIGHT, LEFT)
            };
            // x is short of a black node: its sibling exists.
            let mut w = get(xp, other);
            if is_red(w) {
                paint(w, false);
                paint(xp, true);
                rotate(root, xp, other);
                w = get(xp, other);
            }
            if !is_red(get(w, LEFT)) && !is_red(get(w, RIGHT)) {
                paint(w, true);
                x = xp;
                xp = parent(x);
                continue;
            }
            if !is_red(get(w, other)) {
                paint(get(w, side), false);
                paint(w, true);
                rotate(root, w, side);
                w = get(xp, other);
            }
            paint(w, is_red(xp));
            paint(xp, false);
            paint(get(w, other), false);
            rotate(root, xp, other);
            x = get(root, TOP);
            break;
        }
        if x != 0 {
            paint(x, false);
        }
    }
}

/// Detaches every node of `root` at once, the root left empty; returns
/// the first, the others following in order through their first words,
/// as a detached list chain ([`list::unlink_next`] walks it).
///
/// # Safety
/// As for [`add`], or the tree is the caller's alone.
pub unsafe fn take_all(root: u64) -> u64 {
    // SAFETY: per the contract. Visiting in order overwrites only the
    // left words of nodes already visited, which `successor` never reads
    // (the right and parent words stay until the chain is walked).
    unsafe {
        let first = leftmost(get(root, TOP));
        let mut at = first;
        // Bounded: a tree holds at most the pool's objects.
        for _ in 0..super::pool::MAX_OBJECTS {
            if at == 0 {
                break;
            }
            let next = successor(at);
            set(at, LEFT, next);
            at = next;
        }
        set(root, TOP, 0);
        set(root, LEFTMOST, 0);
        first
    }
}
