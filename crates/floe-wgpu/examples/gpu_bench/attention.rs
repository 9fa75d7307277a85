//! Latency of decode attention at Qwen3-30B-A3B's shape (32 query heads, 4 kv heads, head_dim
//! 128, one query row): a chain in which each attention's output is the next one's query, as a
//! decode step's kernels depend on each other, at several context lengths.

use floe_compute::{AttentionSpec, Backend};
use floe_wgpu::WgpuBackend;

use super::chain::time_dependent;
use super::{Result, Rng};

/// Attention calls in one timed chain.
const LINKS: usize = 100;

/// Prints and returns one line per context length: µs per attention and the key/value bytes it
/// reads per µs against the copy `ceiling` (GB/s).
pub(super) fn bench(b: &WgpuBackend, rng: &mut Rng, ceiling: f64) -> Result<Vec<String>> {
    let (heads, kv_heads, head_dim) = (32usize, 4usize, 128usize);
    let mut lines = Vec::new();
    for context in [64usize, 512, 4096] {
        let spec = AttentionSpec {
            n_heads: heads,
            n_kv_heads: kv_heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            past: context - 1,
        };
        let mut values = |rows: usize, cols: usize| -> Vec<f32> {
            (0..rows * cols).map(|_| rng.unit()).collect()
        };
        let k = b.upload(
            &values(context, kv_heads * head_dim),
            context,
            kv_heads * head_dim,
        )?;
        let v = b.upload(
            &values(context, kv_heads * head_dim),
            context,
            kv_heads * head_dim,
        )?;
        let q = b.upload(&values(1, heads * head_dim), 1, heads * head_dim)?;
        let secs = time_dependent(b, &q, LINKS, |_, y| Ok(b.attention(y, &k, &v, &spec)?))?;
        let bytes = (2 * context * kv_heads * head_dim * 4) as f64;
        let gbs = bytes / secs / 1e9;
        let line = format!(
            "  attention decode {heads}/{kv_heads} heads x {head_dim}, context {context:5}: {:7.1} us per call in a chain  (K+V {:6.2} MB: {gbs:5.0} GB/s, {:5.1}% of copy)",
            secs * 1e6,
            bytes / 1e6,
            100.0 * gbs / ceiling
        );
        println!("{line}");
        lines.push(line);
    }
    Ok(lines)
}
