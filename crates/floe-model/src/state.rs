//! The per-sequence state a decoder carries between forward passes: one KV cache per attention
//! layer, all of a fixed capacity (the context limit), and one fixed-size recurrent state per
//! linear-attention layer (GatedDeltaNet: a convolution state and a delta-rule state).
//!
//! A KV cache can be cut back to any earlier length, since attention only reads the rows before
//! the current position. A recurrent state summarizes every position so far and cannot be
//! rewound without checkpoints, so a state with recurrent layers can only be
//! [`ModelState::reset`] (or truncated to 0, or to its current length).

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

/// The shapes of one linear-attention layer's recurrent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentShape {
    /// `[kernel − 1, channels]`: the causal convolution's last inputs
    /// (see `Backend::causal_conv1d`).
    pub conv: [usize; 2],
    /// `[value_heads · key_dim, value_dim]`: the delta rule's state
    /// (see `Backend::gated_delta_rule`).
    pub delta: [usize; 2],
}

/// The recurrent state of one linear-attention layer after the positions its [`ModelState`]
/// holds; zeros before the first token. Updated in place by each forward pass.
pub struct RecurrentState<B: Backend> {
    /// The convolution state, [`RecurrentShape::conv`].
    pub conv: B::Tensor,
    /// The delta-rule state, [`RecurrentShape::delta`].
    pub delta: B::Tensor,
}

/// What one decoder layer keeps between forward passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerMemory {
    /// A KV cache of `kv_width` columns (`n_kv_heads · head_dim`) and one row per position.
    Attention {
        /// Columns of the key and value caches.
        kv_width: usize,
    },
    /// A fixed-size recurrent state, whatever the number of positions.
    Recurrent(RecurrentShape),
}

/// A recurrent state and whether it must be zeroed before its next use.
struct RecurrentSlot<B: Backend> {
    state: RecurrentState<B>,
    shape: RecurrentShape,
    /// Set by [`ModelState::reset`]: the tensors still hold the previous sequence's state.
    stale: bool,
}

/// The state of one sequence: its KV caches and recurrent states, how many positions they hold,
/// and the time spent in each phase of the forward passes so far.
pub struct ModelState<B: Backend> {
    kv: Vec<KvCache<B>>,
    recurrent: Vec<RecurrentSlot<B>>,
    /// Set when a forward pass failed after updating some recurrent states.
    recurrent_invalid: bool,
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
        let memory: Vec<LayerMemory> = layers
            .iter()
            .filter(|&&attention| attention)
            .map(|_| LayerMemory::Attention { kv_width })
            .collect();
        Self::with_layers(backend, &memory, capacity)
    }

    /// A state of `capacity` positions holding, in layer order, a zeroed KV cache for each
    /// [`LayerMemory::Attention`] entry and a zeroed recurrent state for each
    /// [`LayerMemory::Recurrent`] one. [`ModelState::kv_cache_mut`] and
    /// [`ModelState::recurrent_mut`] number them separately, from 0.
    pub fn with_layers(
        backend: &B,
        layers: &[LayerMemory],
        capacity: usize,
    ) -> Result<Self, ModelError> {
        if capacity == 0 {
            return Err(ModelError::argument(
                "context",
                "the context limit must be at least 1 token",
            ));
        }
        let mut kv = Vec::new();
        let mut recurrent = Vec::new();
        for layer in layers {
            match *layer {
                LayerMemory::Attention { kv_width } => kv.push(KvCache {
                    k: backend.zeros(capacity, kv_width)?,
                    v: backend.zeros(capacity, kv_width)?,
                }),
                LayerMemory::Recurrent(shape) => recurrent.push(RecurrentSlot {
                    state: zeroed(backend, shape)?,
                    shape,
                    stale: false,
                }),
            }
        }
        Ok(Self {
            kv,
            recurrent,
            recurrent_invalid: false,
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

    /// Whether the state has recurrent (linear-attention) layers, which cannot be truncated.
    pub fn has_recurrent_layers(&self) -> bool {
        !self.recurrent.is_empty()
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
    /// [`ModelState::len`]. With recurrent layers only `len = 0` (a reset) and the current length
    /// (nothing to forget) are possible: their state cannot be rewound to an earlier position.
    pub fn truncate(&mut self, len: usize) -> Result<(), ModelError> {
        if len > self.len {
            return Err(ModelError::argument(
                "len",
                format!("cannot truncate a state of {} positions to {len}", self.len),
            ));
        }
        if len == self.len {
            return Ok(());
        }
        if len == 0 {
            self.reset();
            return Ok(());
        }
        if self.has_recurrent_layers() {
            return Err(ModelError::argument(
                "len",
                format!(
                    "cannot truncate a state of {} positions to {len}: the model has {} recurrent (linear-attention) layers, whose state cannot be rewound; only a reset (truncate to 0) is possible",
                    self.len,
                    self.recurrent.len()
                ),
            ));
        }
        self.len = len;
        Ok(())
    }

    /// Forgets every position. Recurrent states are zeroed before their next use.
    pub fn reset(&mut self) {
        self.len = 0;
        self.recurrent_invalid = false;
        for slot in &mut self.recurrent {
            slot.stale = true;
        }
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

    /// The recurrent state of the `index`-th linear-attention layer, zeroed first (with
    /// `backend`) if the state was reset since it was last used. Fails after
    /// [`ModelState::invalidate_recurrent`] until the next reset.
    pub fn recurrent_mut(
        &mut self,
        index: usize,
        backend: &B,
    ) -> Result<&mut RecurrentState<B>, ModelError> {
        if self.recurrent_invalid {
            return Err(ModelError::argument(
                "state",
                "a forward pass failed part-way through the recurrent layers, so their state no longer matches the positions held: reset the state",
            ));
        }
        let count = self.recurrent.len();
        let slot = self.recurrent.get_mut(index).ok_or_else(|| {
            ModelError::argument(
                "layer",
                format!("recurrent layer {index} does not exist ({count} in the state)"),
            )
        })?;
        if slot.stale {
            slot.state = zeroed(backend, slot.shape)?;
            slot.stale = false;
        }
        Ok(&mut slot.state)
    }

    /// Records that a forward pass failed after updating some recurrent states: they no longer
    /// describe [`ModelState::len`] positions, so [`ModelState::recurrent_mut`] fails until
    /// [`ModelState::reset`].
    pub fn invalidate_recurrent(&mut self) {
        if self.has_recurrent_layers() {
            self.recurrent_invalid = true;
        }
    }

    /// Records that `n` more positions are now held (called once per forward pass, after every
    /// layer has written its cache rows and updated its recurrent state).
    pub fn advance(&mut self, n: usize) -> Result<(), ModelError> {
        self.check_room(n)?;
        self.len += n;
        Ok(())
    }
}

/// A zeroed recurrent state of `shape`.
fn zeroed<B: Backend>(backend: &B, shape: RecurrentShape) -> Result<RecurrentState<B>, ModelError> {
    Ok(RecurrentState {
        conv: backend.zeros(shape.conv[0], shape.conv[1])?,
        delta: backend.zeros(shape.delta[0], shape.delta[1])?,
    })
}

#[cfg(test)]
mod tests {
    use floe_compute::cpu::CpuBackend;
    use floe_compute::Backend;

    use super::*;

    fn hybrid(backend: &CpuBackend) -> ModelState<CpuBackend> {
        let shape = RecurrentShape {
            conv: [3, 4],
            delta: [8, 2],
        };
        ModelState::with_layers(
            backend,
            &[
                LayerMemory::Recurrent(shape),
                LayerMemory::Attention { kv_width: 6 },
                LayerMemory::Recurrent(shape),
            ],
            10,
        )
        .unwrap()
    }

    #[test]
    fn layers_are_numbered_per_kind() {
        let b = CpuBackend::new(Some(1)).unwrap();
        let mut state = hybrid(&b);
        assert!(state.has_recurrent_layers());
        assert_eq!(b.shape(&state.kv_cache_mut(0).unwrap().k), [10, 6]);
        assert!(state.kv_cache_mut(1).is_err());
        assert_eq!(b.shape(&state.recurrent_mut(1, &b).unwrap().delta), [8, 2]);
        assert!(state.recurrent_mut(2, &b).is_err());
        let plain = ModelState::new(&b, &[true, false, true], 4, 5).unwrap();
        assert!(!plain.has_recurrent_layers());
    }

    #[test]
    fn reset_zeroes_recurrent_states_and_truncate_cannot_rewind_them() {
        let b = CpuBackend::new(Some(1)).unwrap();
        let mut state = hybrid(&b);
        state.recurrent_mut(0, &b).unwrap().conv = b.upload(&[1.0; 12], 3, 4).unwrap();
        state.advance(4).unwrap();
        assert!(
            state.truncate(2).is_err(),
            "a recurrent state cannot be rewound"
        );
        assert_eq!(state.len(), 4);
        state.truncate(4).unwrap();
        assert!(state.truncate(5).is_err());
        state.truncate(0).unwrap();
        assert!(state.is_empty());
        let conv = b
            .download(&state.recurrent_mut(0, &b).unwrap().conv)
            .unwrap();
        assert_eq!(conv, vec![0.0; 12], "a reset state starts from zeros");
        let mut attention_only = ModelState::new(&b, &[true], 4, 5).unwrap();
        attention_only.advance(3).unwrap();
        attention_only.truncate(1).unwrap();
        assert_eq!(attention_only.len(), 1);
    }

    #[test]
    fn an_invalidated_state_refuses_its_recurrent_layers_until_reset() {
        let b = CpuBackend::new(Some(1)).unwrap();
        let mut state = hybrid(&b);
        state.advance(2).unwrap();
        state.invalidate_recurrent();
        let err = state.recurrent_mut(0, &b).err().unwrap().to_string();
        assert!(err.contains("reset"), "{err}");
        state.reset();
        assert!(state.recurrent_mut(0, &b).is_ok());
    }

    #[test]
    fn the_context_limit_is_an_error_not_a_wrap() {
        let b = CpuBackend::new(Some(1)).unwrap();
        let mut state = hybrid(&b);
        state.advance(10).unwrap();
        assert!(matches!(
            state.advance(1),
            Err(ModelError::ContextOverflow {
                needed: 11,
                capacity: 10
            })
        ));
        assert!(ModelState::<CpuBackend>::with_layers(&b, &[], 0).is_err());
    }
}
