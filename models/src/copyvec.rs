//! A fixed-capacity vector of `Copy` items that is itself `Copy`: model states built from it clone
//! with one `memcpy` and allocate nothing.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

/// At most `N` items. Slots past `len` always hold `T::default()`, so the derived `Eq` and `Ord`
/// over the whole array agree with comparing the live items; `Hash` reads only the live ones.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopyVec<T: Copy + Default, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Default for CopyVec<T, N> {
    fn default() -> Self {
        CopyVec {
            len: 0,
            items: [T::default(); N],
        }
    }
}

impl<T: Copy + Default, const N: usize> CopyVec<T, N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends; a full vector is a broken bound (configurations are validated against `N`).
    pub fn push(&mut self, item: T) {
        assert!((self.len as usize) < N, "CopyVec capacity {N} exceeded");
        self.items[self.len as usize] = item;
        self.len += 1;
    }

    pub fn truncate(&mut self, len: usize) {
        while (self.len as usize) > len {
            self.len -= 1;
            self.items[self.len as usize] = T::default();
        }
    }
}

impl<T: Copy + Default + Hash, const N: usize> Hash for CopyVec<T, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.len);
        T::hash_slice(self, state);
    }
}

impl<T: Copy + Default, const N: usize> Deref for CopyVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..self.len as usize]
    }
}

impl<T: Copy + Default, const N: usize> DerefMut for CopyVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len as usize]
    }
}

impl<T: Copy + Default, const N: usize> FromIterator<T> for CopyVec<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = Self::new();
        for item in iter {
            v.push(item);
        }
        v
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a CopyVec<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for CopyVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Copy + Default + Serialize, const N: usize> Serialize for CopyVec<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for item in self.iter() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Deserialize<'de> for CopyVec<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = CopyVec<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a sequence of at most {N} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = CopyVec::new();
                while let Some(item) = seq.next_element()? {
                    if v.len() == N {
                        return Err(de::Error::invalid_length(N + 1, &self));
                    }
                    v.push(item);
                }
                Ok(v)
            }
        }
        d.deserialize_seq(V::<T, N>(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_slots_are_cleared_so_equal_contents_are_equal_values() {
        let mut a: CopyVec<u8, 4> = [1, 2, 3].into_iter().collect();
        a.truncate(1);
        let b: CopyVec<u8, 4> = [1].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(&*a, &[1]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "[1]");
        let back: CopyVec<u8, 4> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<CopyVec<u8, 4>>("[1,2,3,4,5]").is_err());
    }
}
