//! floe's model architectures, written once against `floe_compute::Backend`.
//!
//! [`load_model`] opens a checkpoint as the architecture its manifest names ([`Model`];
//! [`load_model_with`] with [`LoadOptions`] such as a different number of experts per token); a
//! [`ModelState`] holds a sequence's KV caches between forward passes; [`generate`] runs the
//! prefill-then-decode loop with a [`Sampler`]; [`TextTokenizer`], [`ChatTemplate`] and
//! [`StreamDecoder`] turn text into tokens and back. Routed experts are fetched through a
//! `floe_format::ExpertSource`, layer-major: each needed expert once per forward pass; or, with
//! [`LoadOptions::resident_experts`], all loaded into backend memory at load time and selected
//! on the device per token.

pub mod arch;
mod chat;
pub mod config;
mod detokenizer;
mod error;
mod generate;
pub mod layers;
mod model;
mod registry;
mod sampling;
mod state;
mod stop;
pub mod synthetic;

mod timings;
mod tokenizer;
mod traffic;
mod weights;

pub use chat::{ChatMessage, ChatTemplate, CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE};
pub use detokenizer::StreamDecoder;
pub use error::ModelError;
pub use generate::{generate, generate_text, GenerateOptions, Generation, PhaseStats, StopReason};
pub use model::{check_input, Logits, LogitsWanted, Model, ModelInfo};
pub use registry::{load_model, load_model_with, supported_architectures, LoadOptions};
pub use sampling::{Sampler, SamplingParams};
pub use state::{KvCache, LayerMemory, ModelState, RecurrentShape, RecurrentState};
pub use stop::{stop_tokens, GENERATION_CONFIG_FILE};
pub use timings::Timings;
pub use tokenizer::{TextTokenizer, TOKENIZER_FILE};
pub use traffic::{CountingExpertSource, ExpertTraffic};
pub use weights::WeightLoader;
