//! The RAM expert cache: blobs kept within a byte budget, evicted by a [`CachePolicy`], never
//! while in use.
//!
//! "In use" is the blob's own reference count: the model holds `bytes::Bytes` views of a blob,
//! and while any exists the blob is pinned (it is skipped when choosing a victim). Dropping the
//! cache's reference could not free memory the model still reads anyway, but pinning keeps the
//! budget honest: evicting a blob in use would free nothing and lose a blob about to be needed.

mod policy;

use std::collections::HashMap;

pub use policy::{CachePolicy, LfuAging, Lru, NoCache};

/// Identifies one expert blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    /// Decoder layer index.
    pub layer: u32,
    /// Expert index within the layer.
    pub expert: u32,
}

/// What the cache needs to know about a stored value.
pub trait Cacheable: Clone {
    /// Bytes it takes against the budget.
    fn size(&self) -> u64;
    /// Whether someone other than the cache holds it now (pinned: not evictable).
    fn in_use(&self) -> bool;
}

/// Which policy to use, for configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// [`Lru`].
    Lru,
    /// [`LfuAging`]; `half_life` in uses, `None` for the default (the number of blobs that fit
    /// in the budget).
    LfuAging {
        /// Uses after which a use counts half.
        half_life: Option<u64>,
    },
    /// [`NoCache`]: rely on the page cache.
    None,
}

impl PolicyKind {
    /// Parses `lru`, `lfu` (or `lfu-aging`) or `none`.
    pub fn parse(name: &str) -> Result<Self, crate::StreamError> {
        match name {
            "lru" => Ok(PolicyKind::Lru),
            "lfu" | "lfu-aging" => Ok(PolicyKind::LfuAging { half_life: None }),
            "none" => Ok(PolicyKind::None),
            other => Err(crate::StreamError::Config(format!(
                "unknown cache policy '{other}' (expected lru, lfu-aging or none)"
            ))),
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyKind::Lru => "lru",
            PolicyKind::LfuAging { .. } => "lfu-aging",
            PolicyKind::None => "none",
        }
    }

    /// Builds the policy for a cache expected to hold about `capacity_blobs` blobs.
    pub fn build(&self, capacity_blobs: u64) -> Box<dyn CachePolicy> {
        match *self {
            PolicyKind::Lru => Box::new(Lru::new()),
            PolicyKind::LfuAging { half_life } => {
                Box::new(LfuAging::new(half_life.unwrap_or(capacity_blobs)))
            }
            PolicyKind::None => Box::new(NoCache),
        }
    }
}

/// The outcome of [`ExpertCache::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Stored (after evicting this many blobs).
    Stored {
        /// Blobs evicted to make room.
        evicted: usize,
    },
    /// The key was already cached; nothing changed but its use.
    AlreadyCached,
    /// Not stored: the policy stores nothing, or the blob exceeds the whole budget.
    Refused,
    /// Not stored: everything that could make room is pinned (in use).
    AllPinned,
}

/// Blobs kept within `budget` bytes under a policy.
pub struct ExpertCache<V: Cacheable> {
    budget: u64,
    used: u64,
    entries: HashMap<BlobKey, V>,
    policy: Box<dyn CachePolicy>,
    evictions: u64,
}

impl<V: Cacheable> ExpertCache<V> {
    /// An empty cache of `budget` bytes under `policy`.
    pub fn new(budget: u64, policy: Box<dyn CachePolicy>) -> Self {
        Self {
            budget,
            used: 0,
            entries: HashMap::new(),
            policy,
            evictions: 0,
        }
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// The budget in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes stored.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Blobs stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Blobs evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether `key` is cached (not counted as a use).
    pub fn contains(&self, key: BlobKey) -> bool {
        self.entries.contains_key(&key)
    }

    /// The cached blob of `key`, counted as a use.
    pub fn get(&mut self, key: BlobKey) -> Option<V> {
        let value = self.entries.get(&key)?.clone();
        self.policy.on_hit(key);
        Some(value)
    }

    /// Stores `value` under `key`, evicting unpinned blobs the policy picks until it fits.
    pub fn insert(&mut self, key: BlobKey, value: V) -> Admission {
        if self.entries.contains_key(&key) {
            self.policy.on_hit(key);
            return Admission::AlreadyCached;
        }
        let size = value.size();
        if !self.policy.admits() || size > self.budget {
            return Admission::Refused;
        }
        let mut evicted = 0;
        while self.used + size > self.budget {
            let entries = &self.entries;
            let Some(victim) = self
                .policy
                .victim(&mut |k| entries.get(&k).is_some_and(|v| !v.in_use()))
            else {
                return Admission::AllPinned;
            };
            self.remove(victim);
            self.evictions += 1;
            evicted += 1;
        }
        self.used += size;
        self.entries.insert(key, value);
        self.policy.on_insert(key);
        Admission::Stored { evicted }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: BlobKey) -> Option<V> {
        let value = self.entries.remove(&key)?;
        self.used -= value.size();
        self.policy.on_remove(key);
        Some(value)
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        let keys: Vec<BlobKey> = self.entries.keys().copied().collect();
        for key in keys {
            self.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A test value: `size` bytes, pinned while the test holds another `Arc`.
    #[derive(Clone)]
    struct Fake(Arc<u64>);

    impl Cacheable for Fake {
        fn size(&self) -> u64 {
            *self.0
        }
        fn in_use(&self) -> bool {
            Arc::strong_count(&self.0) > 2 // the cache's copy and the policy-test's own
        }
    }

    fn key(expert: u32) -> BlobKey {
        BlobKey { layer: 1, expert }
    }

    #[test]
    fn stays_within_budget_evicting_by_policy() {
        let mut cache = ExpertCache::new(300, PolicyKind::Lru.build(3));
        let values: Vec<Fake> = (0..4).map(|_| Fake(Arc::new(100))).collect();
        for (e, v) in values.iter().enumerate().take(3) {
            assert_eq!(
                cache.insert(key(e as u32), v.clone()),
                Admission::Stored { evicted: 0 }
            );
        }
        assert!(cache.get(key(0)).is_some());
        assert_eq!(
            cache.insert(key(3), values[3].clone()),
            Admission::Stored { evicted: 1 }
        );
        assert!(!cache.contains(key(1)), "least recently used goes first");
        assert_eq!(cache.used(), 300);
        assert_eq!(cache.evictions(), 1);
        assert_eq!(
            cache.insert(key(0), values[0].clone()),
            Admission::AlreadyCached
        );
    }

    #[test]
    fn pinned_blobs_are_never_evicted() {
        let mut cache = ExpertCache::new(200, PolicyKind::Lru.build(2));
        let values: Vec<Fake> = (0..3).map(|_| Fake(Arc::new(100))).collect();
        cache.insert(key(0), values[0].clone());
        cache.insert(key(1), values[1].clone());
        let in_use = cache.get(key(0)).unwrap(); // key 0 pinned by a reader
        assert_eq!(
            cache.insert(key(2), values[2].clone()),
            Admission::Stored { evicted: 1 }
        );
        assert!(cache.contains(key(0)) && !cache.contains(key(1)));
        let also_in_use = cache.get(key(2)).unwrap();
        assert_eq!(
            cache.insert(key(1), values[1].clone()),
            Admission::AllPinned
        );
        drop((in_use, also_in_use));
        assert_eq!(
            cache.insert(key(1), values[1].clone()),
            Admission::Stored { evicted: 1 }
        );
    }

    #[test]
    fn refuses_oversized_blobs_and_stores_nothing_without_a_policy() {
        let mut cache = ExpertCache::new(50, PolicyKind::Lru.build(1));
        assert_eq!(
            cache.insert(key(0), Fake(Arc::new(100))),
            Admission::Refused
        );
        let mut none = ExpertCache::new(1 << 30, PolicyKind::None.build(0));
        assert_eq!(none.insert(key(0), Fake(Arc::new(1))), Admission::Refused);
        assert!(none.is_empty());
    }

    #[test]
    fn policy_names_parse() {
        assert_eq!(PolicyKind::parse("lru").unwrap(), PolicyKind::Lru);
        assert_eq!(PolicyKind::parse("lfu").unwrap().name(), "lfu-aging");
        assert_eq!(PolicyKind::parse("none").unwrap(), PolicyKind::None);
        assert!(PolicyKind::parse("arc")
            .unwrap_err()
            .to_string()
            .contains("'arc'"));
    }
}
