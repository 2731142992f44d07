//! [`FreeList`]: released GPU resources kept for reuse, with the rules that keep the cache bounded.
//!
//! A training loop allocates the same shapes every step, so after warm-up every request is served from
//! here and nothing is created. What the loop stops using (the shapes of an evaluation pass, the last short
//! batch, variable-length sequences) must not stay forever: an entry unused for [`MAX_AGE`] executes is
//! evicted, and when a byte cap is set the oldest entries go first once the cached bytes pass it. Evicted
//! resources are handed back to the caller, which destroys them (freeing device memory at once).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Executes an unused free resource is kept.
pub const MAX_AGE: u64 = 64;

#[derive(Debug)]
struct Entry<V> {
    /// The execute it was released in.
    stamp: u64,
    bytes: u64,
    value: V,
}

/// Free resources by key (size class, exact size), most recently released last.
#[derive(Debug)]
pub struct FreeList<K, V> {
    by_key: HashMap<K, VecDeque<Entry<V>>>,
    bytes: u64,
    /// Most cached bytes (`None`: no cap, only aging).
    cap: Option<u64>,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> FreeList<K, V> {
    pub fn new(cap: Option<u64>) -> Self {
        FreeList {
            by_key: HashMap::new(),
            bytes: 0,
            cap,
            evicted: 0,
        }
    }

    /// A cached resource of `key` (the most recently released), if any.
    pub fn pop(&mut self, key: &K) -> Option<V> {
        let entry = self.by_key.get_mut(key)?.pop_back()?;
        self.bytes -= entry.bytes;
        Some(entry.value)
    }

    /// Caches `value`; returns what had to be evicted to stay under the cap (possibly `value` itself, when
    /// it alone exceeds it).
    pub fn push(&mut self, key: K, value: V, bytes: u64, stamp: u64) -> Vec<V> {
        let entry = Entry {
            stamp,
            bytes,
            value,
        };
        self.by_key.entry(key).or_default().push_back(entry);
        self.bytes += bytes;
        let mut evicted = Vec::new();
        while self.cap.is_some_and(|cap| self.bytes > cap) {
            match self.evict_oldest() {
                Some(v) => evicted.push(v),
                None => break,
            }
        }
        evicted
    }

    /// Evicts everything released before execute `stamp - MAX_AGE`.
    pub fn expire(&mut self, stamp: u64) -> Vec<V> {
        let mut evicted = Vec::new();
        for list in self.by_key.values_mut() {
            while list.front().is_some_and(|e| e.stamp + MAX_AGE < stamp) {
                let e = list.pop_front().expect("checked non-empty");
                self.bytes -= e.bytes;
                evicted.push(e.value);
            }
        }
        self.by_key.retain(|_, l| !l.is_empty());
        self.evicted += evicted.len() as u64;
        evicted
    }

    /// Evicts everything.
    pub fn clear(&mut self) -> Vec<V> {
        let evicted: Vec<V> = self
            .by_key
            .drain()
            .flat_map(|(_, l)| l.into_iter().map(|e| e.value))
            .collect();
        self.bytes = 0;
        self.evicted += evicted.len() as u64;
        evicted
    }

    fn evict_oldest(&mut self) -> Option<V> {
        let key = self
            .by_key
            .iter()
            .filter_map(|(k, l)| l.front().map(|e| (e.stamp, k)))
            .min_by_key(|(stamp, _)| *stamp)
            .map(|(_, k)| k.clone())?;
        let list = self.by_key.get_mut(&key)?;
        let e = list.pop_front()?;
        if list.is_empty() {
            self.by_key.remove(&key);
        }
        self.bytes -= e.bytes;
        self.evicted += 1;
        Some(e.value)
    }

    pub fn set_cap(&mut self, cap: Option<u64>) -> Vec<V> {
        self.cap = cap;
        let mut evicted = Vec::new();
        while self.cap.is_some_and(|c| self.bytes > c) {
            match self.evict_oldest() {
                Some(v) => evicted.push(v),
                None => break,
            }
        }
        evicted
    }

    /// Bytes cached now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Resources evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_newest_first_and_ages_out() {
        let mut f: FreeList<u32, &str> = FreeList::new(None);
        assert!(f.push(1, "a", 10, 0).is_empty());
        assert!(f.push(1, "b", 10, 5).is_empty());
        assert_eq!(f.pop(&1), Some("b"));
        assert_eq!(f.bytes(), 10);
        assert!(f.expire(MAX_AGE).is_empty(), "age MAX_AGE is kept");
        assert_eq!(f.expire(MAX_AGE + 1), vec!["a"]);
        assert_eq!((f.bytes(), f.evicted()), (0, 1));
    }

    #[test]
    fn a_cap_evicts_the_oldest() {
        let mut f: FreeList<u32, u32> = FreeList::new(Some(25));
        f.push(1, 100, 10, 0);
        f.push(2, 200, 10, 1);
        assert_eq!(f.push(1, 101, 10, 2), vec![100]);
        assert_eq!(f.bytes(), 20);
        assert_eq!(
            f.push(3, 300, 30, 3).len(),
            3,
            "too big alone: everything goes"
        );
        assert_eq!(f.set_cap(None), Vec::<u32>::new());
        assert_eq!(f.clear().len(), 0);
    }
}
