//! Verifying keys kept parsed (point decompressed and validated) between logins, within a
//! byte budget.
//!
//! Eviction is CLOCK, the usual approximation of least-recently-used: a hit only sets a
//! flag (no allocation, no reordering under the lock), and eviction sweeps a hand that
//! spares each flagged entry once. A key used since the hand last passed stays; one never
//! used again goes first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use latchkey_policy::CredentialId;
use latchkey_verify::VerifyingKey;

/// A stored COSE key with its parsed verifying key.
pub(crate) type CachedKey = Arc<(Vec<u8>, VerifyingKey)>;

/// The default budget, 64 MiB: about 3,300 ES256 keys with their precomputed tables
/// (about 19 KB each, built at a key's second use), or some 200,000 EdDSA keys. Each key
/// is charged for its table up front ([`VerifyingKey::precomputed_bytes`]).
pub const DEFAULT_KEY_CACHE_BYTES: usize = 64 << 20;

/// What an entry is charged besides its id and COSE bytes: the parsed key (an RSA key's
/// heap is charged through its COSE bytes, which hold the modulus), the map slot, the
/// `Arc`.
const ENTRY_OVERHEAD: usize = 128 + core::mem::size_of::<VerifyingKey>();

/// What an entry is charged: its id, its COSE bytes, the table an ES256 key builds from
/// its second use (charged up front), and the fixed overhead.
fn cost_of(id: &CredentialId, key: &CachedKey) -> usize {
    id.as_bytes().len() + key.0.len() + key.1.precomputed_bytes() + ENTRY_OVERHEAD
}

/// How the cache has served so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCacheStats {
    /// Lookups that found the key parsed.
    pub hits: u64,
    /// Lookups that had to parse it.
    pub misses: u64,
    /// Keys held now.
    pub entries: usize,
    /// Bytes charged for them (never over the budget).
    pub bytes: usize,
}

/// The cache: see the module documentation.
#[derive(Debug)]
pub(crate) struct KeyCache {
    budget: usize,
    ring: Mutex<Ring>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Ring {
    index: HashMap<CredentialId, usize>,
    slots: Vec<Slot>,
    hand: usize,
    bytes: usize,
}

#[derive(Debug)]
struct Slot {
    id: CredentialId,
    key: CachedKey,
    cost: usize,
    referenced: bool,
}

impl KeyCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            ring: Mutex::new(Ring::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The parsed key of `id`, if cached for exactly these stored bytes: a changed record
    /// is never served stale.
    pub(crate) fn get(&self, id: &CredentialId, cose: &[u8]) -> Option<CachedKey> {
        let found = self.ring.lock().ok().and_then(|mut ring| {
            let at = *ring.index.get(id)?;
            let slot = ring.slots.get_mut(at)?;
            (slot.key.0 == cose).then(|| {
                slot.referenced = true;
                Arc::clone(&slot.key)
            })
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `key` for `id`, evicting until it fits; a key larger than the whole budget is
    /// not kept.
    pub(crate) fn insert(&self, id: &CredentialId, key: CachedKey) {
        let cost = cost_of(id, &key);
        if cost > self.budget {
            return;
        }
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        ring.remove(id);
        while ring.bytes + cost > self.budget && ring.evict_one() {}
        let at = ring.slots.len();
        ring.slots.push(Slot {
            id: id.clone(),
            key,
            cost,
            referenced: false,
        });
        ring.index.insert(id.clone(), at);
        ring.bytes += cost;
    }

    pub(crate) fn stats(&self) -> KeyCacheStats {
        let (entries, bytes) = self
            .ring
            .lock()
            .map_or((0, 0), |ring| (ring.slots.len(), ring.bytes));
        KeyCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}

impl Ring {
    /// Sweeps the hand to the first entry not used since it last passed and evicts it;
    /// false when empty.
    fn evict_one(&mut self) -> bool {
        // Two turns at most: the first clears every flag it passes.
        for _ in 0..=2 * self.slots.len() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some(slot) = self.slots.get_mut(self.hand) else {
                return false;
            };
            if slot.referenced {
                slot.referenced = false;
                self.hand += 1;
            } else {
                let at = self.hand;
                let id = slot.id.clone();
                self.remove(&id);
                // What moved into the evicted slot has not been looked at yet.
                self.hand = at;
                return true;
            }
        }
        false
    }

    fn remove(&mut self, id: &CredentialId) {
        let Some(at) = self.index.remove(id) else {
            return;
        };
        if at >= self.slots.len() {
            return;
        }
        let removed = self.slots.swap_remove(at);
        self.bytes -= removed.cost;
        if let Some(moved) = self.slots.get(at) {
            self.index.insert(moved.id.clone(), at);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use latchkey_testkit::authenticator::SoftKey;

    use super::*;

    fn key(seed: u8) -> (CredentialId, CachedKey) {
        let cose = SoftKey::es256([seed; 32])
            .public_key()
            .as_cose_bytes()
            .to_vec();
        let parsed = VerifyingKey::from_cose(&cose).unwrap();
        (CredentialId::new(vec![seed; 16]), Arc::new((cose, parsed)))
    }

    fn cost() -> usize {
        let (id, cached) = key(1);
        cost_of(&id, &cached)
    }

    #[test]
    fn the_budget_holds_and_a_key_in_use_outlives_one_that_is_not() {
        let cache = KeyCache::new(4 * cost());
        let keys: Vec<_> = (1..=20).map(key).collect();
        for (id, cached) in &keys[..4] {
            cache.insert(id, Arc::clone(cached));
        }
        // Key 1 keeps being used while twelve others come and go.
        for (id, cached) in &keys[4..16] {
            assert!(cache.get(&keys[0].0, &keys[0].1.0).is_some());
            cache.insert(id, Arc::clone(cached));
            let stats = cache.stats();
            assert!(stats.bytes <= 4 * cost() && stats.entries == 4, "{stats:?}");
        }
        assert!(cache.get(&keys[0].0, &keys[0].1.0).is_some());
        assert!(cache.get(&keys[1].0, &keys[1].1.0).is_none());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (13, 1));
    }

    #[test]
    fn a_changed_record_is_not_served_and_an_oversized_key_is_not_kept() {
        let cache = KeyCache::new(2 * cost());
        let (id, cached) = key(1);
        cache.insert(&id, Arc::clone(&cached));
        let (_, other) = key(2);
        assert!(cache.get(&id, &other.0).is_none());
        assert!(cache.get(&id, &cached.0).is_some());
        // Inserting again replaces, it does not charge twice.
        cache.insert(&id, other);
        assert_eq!(cache.stats().entries, 1);
        assert_eq!(cache.stats().bytes, cost());
        let tiny = KeyCache::new(cost() - 1);
        tiny.insert(&id, cached);
        assert_eq!(tiny.stats().entries, 0);
    }
}
