//! Routing traces: which experts each token used in each MoE layer.
//!
//! The file format is JSON lines, one object per token: `{"layers": [[3, 17, …], …]}`, entry `i`
//! of `layers` being the expert ids of the `i`-th MoE layer (in layer order). Traces come from
//! real runs (recorded routing) or from [`SyntheticTrace`], which imitates what real models show
//! (a per-prompt working set, skewed popularity, adjacent-token reuse); [`UniformRouting`] is the
//! no-locality baseline that random-weight models produce.

mod synth;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use synth::{SyntheticTrace, TraceSpec};

use crate::synth::WyRand;
use crate::StreamError;

/// The routing of one token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRouting {
    /// Per MoE layer (in layer order), the experts used.
    pub layers: Vec<Vec<u32>>,
}

impl TokenRouting {
    /// Checks the routing against a model with `experts[i]` experts in MoE layer `i`: at least
    /// that many layers (extra trailing layers are ignored: the model may be a prefix slice), ids
    /// in range, no duplicates within a layer. The message says what is wrong.
    pub fn check(&self, experts: &[u32]) -> Result<(), String> {
        if self.layers.len() < experts.len() {
            return Err(format!(
                "the token routes {} layers but the model has {} MoE layers",
                self.layers.len(),
                experts.len()
            ));
        }
        for (i, (ids, &n)) in self.layers.iter().zip(experts).enumerate() {
            for (j, &id) in ids.iter().enumerate() {
                if id >= n {
                    return Err(format!(
                        "layer {i}: expert {id} is out of range (the layer has {n} experts)"
                    ));
                }
                if ids[..j].contains(&id) {
                    return Err(format!("layer {i}: expert {id} is listed twice"));
                }
            }
        }
        Ok(())
    }
}

/// Reads a trace file token by token.
pub struct TraceReader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line: usize,
}

impl TraceReader {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self, StreamError> {
        let file = File::open(path).map_err(|e| StreamError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            lines: BufReader::new(file).lines(),
            line: 0,
        })
    }
}

impl Iterator for TraceReader {
    type Item = Result<TokenRouting, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(text) => text,
                Err(e) => return Some(Err(StreamError::io(&self.path, e))),
            };
            self.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            return Some(serde_json::from_str(&text).map_err(|e| StreamError::Trace {
                path: self.path.clone(),
                line: self.line,
                message: format!("expected {{\"layers\": [[expert ids], ...]}}: {e}"),
            }));
        }
    }
}

/// Writes `tokens` as JSON lines to `out`.
pub fn write_trace(
    out: &mut dyn Write,
    tokens: impl IntoIterator<Item = TokenRouting>,
) -> std::io::Result<u64> {
    let mut count = 0;
    for token in tokens {
        serde_json::to_writer(&mut *out, &token)?;
        out.write_all(b"\n")?;
        count += 1;
    }
    Ok(count)
}

/// Writes `tokens` to the file `path` (through `<path>.partial`, renamed when complete).
pub fn write_trace_file(
    path: &Path,
    tokens: impl IntoIterator<Item = TokenRouting>,
) -> Result<u64, StreamError> {
    let mut partial = path.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| {
        let mut out = std::io::BufWriter::new(File::create(&partial)?);
        let count = write_trace(&mut out, tokens)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(count)
    })();
    match result {
        Ok(count) => {
            std::fs::rename(&partial, path).map_err(|e| StreamError::io(path, e))?;
            Ok(count)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(StreamError::io(&partial, e))
        }
    }
}

/// Uniformly random routing: each token picks `top_k` distinct experts per layer, independently.
/// What a random-weight model's router does; no locality for a cache to exploit.
pub struct UniformRouting {
    experts: Vec<u32>,
    top_k: u32,
    rng: WyRand,
}

impl UniformRouting {
    /// Routing over MoE layers with `experts[i]` experts each, `top_k` per token (clamped to the
    /// layer's experts).
    pub fn new(experts: Vec<u32>, top_k: u32, seed: u64) -> Self {
        Self {
            experts,
            top_k,
            rng: WyRand::new(seed),
        }
    }
}

impl Iterator for UniformRouting {
    type Item = TokenRouting;

    fn next(&mut self) -> Option<TokenRouting> {
        let layers = self
            .experts
            .iter()
            .map(|&n| {
                let mut chosen = Vec::with_capacity(self.top_k as usize);
                while chosen.len() < self.top_k.min(n) as usize {
                    let id = self.rng.below(u64::from(n)) as u32;
                    if !chosen.contains(&id) {
                        chosen.push(id);
                    }
                }
                chosen
            })
            .collect();
        Some(TokenRouting { layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let tokens: Vec<TokenRouting> = UniformRouting::new(vec![8, 8, 8], 2, 1).take(5).collect();
        assert_eq!(write_trace_file(&path, tokens.clone()).unwrap(), 5);
        let read: Vec<TokenRouting> = TraceReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, tokens);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"layers\":[["), "{text}");
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, "{\"layers\": [[1, 2]]}\n\n{\"layer\": 3}\n").unwrap();
        let results: Vec<_> = TraceReader::open(&path).unwrap().collect();
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:3:"), "{err}");
    }

    #[test]
    fn routing_is_checked_against_the_model() {
        let token = TokenRouting {
            layers: vec![vec![0, 5], vec![1, 1]],
        };
        assert!(
            token.check(&[8]).is_ok(),
            "a prefix slice of the model is fine"
        );
        assert!(token.check(&[8, 8]).unwrap_err().contains("listed twice"));
        assert!(token
            .check(&[4])
            .unwrap_err()
            .contains("expert 5 is out of range"));
        assert!(token
            .check(&[8, 8, 8])
            .unwrap_err()
            .contains("has 3 MoE layers"));
    }

    #[test]
    fn uniform_routing_picks_distinct_experts() {
        for token in UniformRouting::new(vec![16, 4], 4, 9).take(50) {
            assert!(token.check(&[16, 4]).is_ok());
            assert_eq!(token.layers[1].len(), 4);
        }
    }
}
