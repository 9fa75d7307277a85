//! The expert cache in GPU memory: uploaded routed-expert weights kept within a VRAM budget,
//! so a part of an expert that is still resident is not uploaded again
//! ([`floe_compute::Backend::expert_weight`]).
//!
//! It is floe-stream's [`ExpertCache`] (the same budget accounting, [`PolicyKind`] policies and
//! pinning) over device weights instead of RAM blobs. A weight is pinned while the model holds
//! a clone of it (its chunk list's reference count), so an expert in use is never evicted;
//! evicting drops the cache's reference, and wgpu frees the buffers once no recorded or
//! submitted work uses them. Each of an expert's three matrices is its own entry, keyed
//! `BlobKey { layer, expert: 3 · expert + part }`; the three are used together, so the policy
//! sees the same order of uses as for whole experts.

use std::sync::{Arc, Mutex};

use floe_compute::{ComputeError, ExpertCacheStats, ExpertPart, ExpertWeightKey, WeightData};
use floe_stream::cache::{BlobKey, Cacheable, ExpertCache, PolicyKind};

use crate::tensor::WgpuWeight;

/// A cached weight: the device buffers and what they count against the budget.
#[derive(Clone)]
struct Resident {
    weight: WgpuWeight,
    bytes: u64,
}

impl Cacheable for Resident {
    fn size(&self) -> u64 {
        self.bytes
    }

    fn in_use(&self) -> bool {
        Arc::strong_count(&self.weight.chunks) > 1
    }
}

struct State {
    cache: ExpertCache<Resident>,
    hits: u64,
    misses: u64,
}

/// The cache of one backend (absent when the budget is 0).
pub(crate) struct GpuExpertCache {
    state: Mutex<State>,
}

/// The cache's key of one expert matrix, or `None` when it does not fit a u32.
fn blob_key(key: ExpertWeightKey) -> Option<BlobKey> {
    let part = match key.part {
        ExpertPart::Gate => 0,
        ExpertPart::Up => 1,
        ExpertPart::Down => 2,
    };
    Some(BlobKey {
        layer: key.layer,
        expert: key.expert.checked_mul(3)?.checked_add(part)?,
    })
}

impl GpuExpertCache {
    /// A cache of `budget` bytes under `policy`.
    pub(crate) fn new(budget: u64, policy: PolicyKind) -> Self {
        // The policy's notion of capacity (LFU's half-life) in weights; 1 MiB is a rough guess
        // at one expert matrix.
        let capacity = (budget >> 20).max(1);
        Self {
            state: Mutex::new(State {
                cache: ExpertCache::new(budget, policy.build(capacity)),
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The resident weight of `key`, or the one `upload` makes from `data` (then kept if the
    /// budget and policy allow). A resident weight whose shape or format differs from `data`
    /// means the caller broke the one-key-one-bytes promise: an error naming the key.
    pub(crate) fn get_or_upload(
        &self,
        key: ExpertWeightKey,
        data: WeightData,
        upload: impl FnOnce(WeightData) -> Result<WgpuWeight, ComputeError>,
    ) -> Result<WgpuWeight, ComputeError> {
        let Some(blob) = blob_key(key) else {
            return upload(data);
        };
        let mut state = self.lock();
        if let Some(resident) = state.cache.get(blob) {
            let w = &resident.weight;
            if (w.format, w.rows, w.cols) != (data.format, data.rows, data.cols) {
                return Err(ComputeError::Argument {
                    op: "expert_weight",
                    message: format!(
                        "layer {} expert {} {:?}: a [{}, {}] {} weight is resident under this key, but [{}, {}] {} was passed (one key must always name the same weight)",
                        key.layer, key.expert, key.part, w.rows, w.cols, w.format,
                        data.rows, data.cols, data.format
                    ),
                });
            }
            state.hits += 1;
            return Ok(resident.weight);
        }
        // Upload without holding the lock (other threads may use the cache meanwhile).
        drop(state);
        let bytes = data.bytes.len() as u64;
        let weight = upload(data)?;
        let mut state = self.lock();
        state.misses += 1;
        state.cache.insert(
            blob,
            Resident {
                weight: weight.clone(),
                bytes,
            },
        );
        Ok(weight)
    }

    /// The counters.
    pub(crate) fn stats(&self) -> ExpertCacheStats {
        let state = self.lock();
        ExpertCacheStats {
            budget_bytes: state.cache.budget(),
            resident_bytes: state.cache.used(),
            resident_weights: state.cache.len(),
            hits: state.hits,
            misses: state.misses,
            evictions: state.cache.evictions(),
        }
    }
}
