//! Eviction policies: which cached blob goes when room is needed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::BlobKey;

/// Decides admission and eviction for an [`ExpertCache`](super::ExpertCache). The cache tells it
/// about every insertion, hit and removal; when it needs room it asks for a victim, passing a
/// predicate that says which keys may be evicted now (blobs in use are pinned).
pub trait CachePolicy: Send {
    /// The policy's name, e.g. `lru`.
    fn name(&self) -> &'static str;

    /// Whether the cache stores anything at all (`false` for [`NoCache`]).
    fn admits(&self) -> bool {
        true
    }

    /// `key` was inserted.
    fn on_insert(&mut self, key: BlobKey);

    /// `key` was found in the cache.
    fn on_hit(&mut self, key: BlobKey);

    /// `key` left the cache (evicted or removed).
    fn on_remove(&mut self, key: BlobKey);

    /// The key to evict next among those for which `evictable` is true, or `None` if none is.
    fn victim(&mut self, evictable: &mut dyn FnMut(BlobKey) -> bool) -> Option<BlobKey>;
}

/// Least recently used.
#[derive(Default)]
pub struct Lru {
    clock: u64,
    last_use: HashMap<BlobKey, u64>,
    by_age: BTreeMap<u64, BlobKey>,
}

impl Lru {
    /// An empty LRU.
    pub fn new() -> Self {
        Self::default()
    }

    fn touch(&mut self, key: BlobKey) {
        self.clock += 1;
        if let Some(old) = self.last_use.insert(key, self.clock) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.clock, key);
    }
}

impl CachePolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn on_insert(&mut self, key: BlobKey) {
        self.touch(key);
    }

    fn on_hit(&mut self, key: BlobKey) {
        self.touch(key);
    }

    fn on_remove(&mut self, key: BlobKey) {
        if let Some(old) = self.last_use.remove(&key) {
            self.by_age.remove(&old);
        }
    }

    fn victim(&mut self, evictable: &mut dyn FnMut(BlobKey) -> bool) -> Option<BlobKey> {
        self.by_age.values().copied().find(|&key| evictable(key))
    }
}

/// Least frequently used with exponential aging: each use adds `2^(t / half_life)` to a blob's
/// score, where `t` counts every use the policy has seen, so a use `half_life` uses ago weighs half
/// as much as one now. The lowest score is evicted (ties: the least recently used). Popular
/// blobs stay; popularity that has faded decays away instead of pinning a blob forever.
pub struct LfuAging {
    half_life: f64,
    clock: u64,
    /// `clock` at the last rescale; weights are `2^((clock - base) / half_life)`.
    base: u64,
    entries: HashMap<BlobKey, (f64, u64)>,
    order: BTreeSet<(u64, u64, BlobKey)>,
}

/// Rescale scores once a weight exceeds this (keeps them far from f64 overflow).
const RESCALE_ABOVE: f64 = 1e200;

impl LfuAging {
    /// An empty policy whose weights halve every `half_life` uses (at least 1).
    pub fn new(half_life: u64) -> Self {
        Self {
            half_life: half_life.max(1) as f64,
            clock: 0,
            base: 0,
            entries: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// The current score of `key`, if tracked (for tests and diagnostics).
    pub fn score(&self, key: BlobKey) -> Option<f64> {
        self.entries.get(&key).map(|&(score, _)| score)
    }

    fn weight(&self) -> f64 {
        ((self.clock - self.base) as f64 / self.half_life).exp2()
    }

    fn bump(&mut self, key: BlobKey) {
        self.clock += 1;
        let mut weight = self.weight();
        if weight > RESCALE_ABOVE {
            self.rescale(weight);
            weight = 1.0;
        }
        let (score, tick) = self.entries.get(&key).copied().unwrap_or((0.0, 0));
        self.order.remove(&(score.to_bits(), tick, key));
        let updated = (score + weight, self.clock);
        self.entries.insert(key, updated);
        // Scores are positive, so their bit patterns order like their values.
        self.order.insert((updated.0.to_bits(), updated.1, key));
    }

    fn rescale(&mut self, factor: f64) {
        self.base = self.clock;
        self.order.clear();
        for (key, (score, tick)) in self.entries.iter_mut() {
            *score /= factor;
            self.order.insert((score.to_bits(), *tick, *key));
        }
    }
}

impl CachePolicy for LfuAging {
    fn name(&self) -> &'static str {
        "lfu-aging"
    }

    fn on_insert(&mut self, key: BlobKey) {
        self.bump(key);
    }

    fn on_hit(&mut self, key: BlobKey) {
        self.bump(key);
    }

    fn on_remove(&mut self, key: BlobKey) {
        if let Some((score, tick)) = self.entries.remove(&key) {
            self.order.remove(&(score.to_bits(), tick, key));
        }
    }

    fn victim(&mut self, evictable: &mut dyn FnMut(BlobKey) -> bool) -> Option<BlobKey> {
        self.order
            .iter()
            .map(|&(_, _, key)| key)
            .find(|&key| evictable(key))
    }
}

/// No application cache: every blob is read from the file each time it is needed, so the page
/// cache (with buffered I/O) is the only cache, as in Flash-MoE.
#[derive(Default)]
pub struct NoCache;

impl CachePolicy for NoCache {
    fn name(&self) -> &'static str {
        "none"
    }

    fn admits(&self) -> bool {
        false
    }

    fn on_insert(&mut self, _key: BlobKey) {}

    fn on_hit(&mut self, _key: BlobKey) {}

    fn on_remove(&mut self, _key: BlobKey) {}

    fn victim(&mut self, _evictable: &mut dyn FnMut(BlobKey) -> bool) -> Option<BlobKey> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(expert: u32) -> BlobKey {
        BlobKey { layer: 0, expert }
    }

    #[test]
    fn lru_evicts_the_least_recent_evictable_key() {
        let mut lru = Lru::new();
        for e in 0..3 {
            lru.on_insert(key(e));
        }
        lru.on_hit(key(0));
        assert_eq!(lru.victim(&mut |_| true), Some(key(1)));
        assert_eq!(lru.victim(&mut |k| k != key(1)), Some(key(2)));
        lru.on_remove(key(1));
        assert_eq!(lru.victim(&mut |_| true), Some(key(2)));
        assert_eq!(lru.victim(&mut |_| false), None);
    }

    #[test]
    fn lfu_keeps_frequent_keys_and_ages_old_popularity() {
        let mut lfu = LfuAging::new(4);
        lfu.on_insert(key(0));
        for _ in 0..5 {
            lfu.on_hit(key(0));
        }
        lfu.on_insert(key(1));
        // key 0 has six uses, key 1 one: key 1 goes first.
        assert_eq!(lfu.victim(&mut |_| true), Some(key(1)));
        // Many recent uses of key 1 outweigh key 0's old ones once they have aged.
        for _ in 0..12 {
            lfu.on_hit(key(1));
        }
        assert_eq!(lfu.victim(&mut |_| true), Some(key(0)));
        assert!(lfu.score(key(1)).unwrap() > lfu.score(key(0)).unwrap());
        assert_eq!(lfu.victim(&mut |k| k != key(0)), Some(key(1)));
    }

    #[test]
    fn lfu_rescales_without_changing_the_order() {
        let mut lfu = LfuAging::new(1);
        lfu.on_insert(key(0));
        lfu.on_insert(key(1));
        lfu.on_hit(key(1));
        for _ in 0..2000 {
            lfu.on_hit(key(2)); // weights pass 1e200 and get rescaled
        }
        assert!(lfu.score(key(2)).unwrap().is_finite());
        assert_eq!(lfu.victim(&mut |_| true), Some(key(0)));
        assert_eq!(lfu.victim(&mut |k| k != key(0)), Some(key(1)));
    }

    #[test]
    fn no_cache_admits_nothing() {
        let mut none = NoCache;
        assert!(!none.admits());
        none.on_insert(key(0));
        assert_eq!(none.victim(&mut |_| true), None);
    }
}
