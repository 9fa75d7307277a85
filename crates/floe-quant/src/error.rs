//! The error type of floe-quant.

/// What can go wrong when describing, quantizing or reading a quantized matrix.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// A format or parameter floe does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A shape that the format cannot store, or data whose length does not match its shape.
    #[error("bad shape: {0}")]
    Shape(String),
    /// A value the format cannot store: a NaN or infinity given to a quantized format, or a
    /// value (or block scale) beyond the range of the format's element type.
    #[error("unrepresentable value: {0}")]
    Unrepresentable(String),
}
