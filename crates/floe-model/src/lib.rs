//! floe's model architectures, written once against `floe_compute::Backend`.
