//! The error type of floe-compute.

/// What can go wrong in a backend operation.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// Operands whose shapes do not fit the operation; the message names the operation and shapes.
    #[error("shape mismatch in {op}: {message}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// What does not fit.
        message: String,
    },
    /// A scalar parameter outside the values the operation accepts (a non-positive RoPE θ, a
    /// negative epsilon); the message names the parameter and its value.
    #[error("invalid argument to {op}: {message}")]
    Argument {
        /// The operation.
        op: &'static str,
        /// Which parameter is wrong and why.
        message: String,
    },
    /// A format or operation this backend does not implement.
    #[error("unsupported by this backend: {0}")]
    Unsupported(String),
    /// A device failure (out of memory, device lost, driver error).
    #[error("device error: {0}")]
    Device(String),
    /// A bad weight.
    #[error(transparent)]
    Quant(#[from] floe_quant::QuantError),
}
