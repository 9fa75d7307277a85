//! The per-sequence state a decoder carries between forward passes: one KV cache per attention
//! layer, all of a fixed capacity (the context limit).

use floe_compute::Backend;

use crate::{ModelError, Timings};

/// Keys and values of one attention layer: `[capacity, n_kv_heads · head_dim]` each; rows
/// `0 .. len` of the owning [`ModelState`] are valid.
pub struct KvCache<B: Backend> {
    /// Cached keys (after RoPE).
    pub k: B::Tensor,
    /// Cached values.
    pub v: B::Tensor,
}

/// The state of one sequence: its KV caches, how many positions they hold, and the time spent in
/// each phase of the forward passes so far.
pub struct ModelState<B: Backend> {
    kv: Vec<KvCache<B>>,
    len: usize,
    capacity: usize,
    /// Accumulated time per forward-pass phase.
    pub timings: Timings,
}

impl<B: Backend> ModelState<B> {
    /// A state of `capacity` positions with one zeroed KV cache of `kv_width` columns per entry
    /// of `layers` that is `true` (an attention layer).
    pub fn new(
        backend: &B,
        layers: &[bool],
        kv_width: usize,
        capacity: usize,
    ) -> Result<Self, ModelError> {
        if capacity == 0 {
            return Err(ModelError::argument(
                "context",
                "the context limit must be at least 1 token",
            ));
        }
        let kv = layers
            .iter()
            .filter(|&&attention| attention)
            .map(|_| {
                Ok(KvCache {
                    k: backend.zeros(capacity, kv_width)?,
                    v: backend.zeros(capacity, kv_width)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            kv,
            len: 0,
            capacity,
            timings: Timings::default(),
        })
    }

    /// Positions held (tokens processed so far).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token has been processed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The context limit in tokens.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions still free.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// Fails with [`ModelError::ContextOverflow`] unless `n` more tokens fit.
    pub fn check_room(&self, n: usize) -> Result<(), ModelError> {
        if n > self.remaining() {
            return Err(ModelError::ContextOverflow {
                needed: self.len + n,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// Forgets every position after the first `len` (to re-run from there); `len` must not exceed
    /// [`ModelState::len`].
    pub fn truncate(&mut self, len: usize) -> Result<(), ModelError> {
        if len > self.len {
            return Err(ModelError::argument(
                "len",
                format!("cannot truncate a state of {} positions to {len}", self.len),
            ));
        }
        self.len = len;
        Ok(())
    }

    /// Forgets every position.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// The KV cache of the `index`-th attention layer.
    pub fn kv_cache_mut(&mut self, index: usize) -> Result<&mut KvCache<B>, ModelError> {
        let count = self.kv.len();
        self.kv.get_mut(index).ok_or_else(|| {
            ModelError::argument(
                "layer",
                format!("attention layer {index} does not exist ({count} in the state)"),
            )
        })
    }

    /// Records that `n` more positions are now held (called once per forward pass, after every
    /// layer has written its cache rows).
    pub fn advance(&mut self, n: usize) -> Result<(), ModelError> {
        self.check_room(n)?;
        self.len += n;
        Ok(())
    }
}
