//! [`FixedVec`]: up to `N` copyable items kept in place, of which only the
//! first `len` are ever initialized, so that making one costs nothing
//! however large `N` is (a run sets several up and uses few slots).

use core::fmt;
use core::mem::MaybeUninit;

/// A vector of at most `N` items stored inline.
#[derive(Clone, Copy)]
pub(crate) struct FixedVec<T: Copy, const N: usize> {
    items: [MaybeUninit<T>; N],
    len: usize,
}

/// [`FixedVec::push`] on a full vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl<T: Copy, const N: usize> FixedVec<T, N> {
    /// An empty vector.
    pub(crate) const fn new() -> Self {
        FixedVec {
            items: [const { MaybeUninit::uninit() }; N],
            len: 0,
        }
    }

    /// Appends `item`.
    pub(crate) fn push(&mut self, item: T) -> Result<(), Full> {
        let slot = self.items.get_mut(self.len).ok_or(Full)?;
        slot.write(item);
        self.len += 1;
        Ok(())
    }

    /// Whether it holds `N` items.
    pub(crate) fn is_full(&self) -> bool {
        self.len == N
    }

    /// Removes the item at `index`, putting the last one in its place.
    pub(crate) fn swap_remove(&mut self, index: usize) -> Option<T> {
        let item = *self.as_slice().get(index)?;
        let last = self.as_slice()[self.len - 1];
        self.items[index].write(last);
        self.len -= 1;
        Some(item)
    }

    /// Empties it.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The items.
    pub(crate) fn as_slice(&self) -> &[T] {
        let len = self.len.min(N);
        // SAFETY: the first `len` slots were written by `push` or
        // `swap_remove` (`len` grows only in `push`), and MaybeUninit<T>
        // has T's layout.
        unsafe { core::slice::from_raw_parts(self.items.as_ptr().cast::<T>(), len) }
    }
}

impl<T: Copy + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full_then_remove() {
        let mut v: FixedVec<u32, 3> = FixedVec::new();
        assert_eq!(v.as_slice(), &[] as &[u32]);
        for i in 1..=3 {
            v.push(i).unwrap();
        }
        assert!(v.is_full());
        assert_eq!(v.push(4), Err(Full));
        assert_eq!(v.swap_remove(0), Some(1));
        assert_eq!(v.as_slice(), &[3, 2]);
        assert_eq!(v.swap_remove(5), None);
        v.clear();
        assert!(v.as_slice().is_empty());
    }
}
