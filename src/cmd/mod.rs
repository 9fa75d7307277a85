//! One module per subcommand: its clap arguments and its `run`.

pub mod backend;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod inspect;
pub mod logits;
pub mod run;
pub mod stream;
pub mod synth;
pub mod synth_trace;
pub mod trace_routing;
