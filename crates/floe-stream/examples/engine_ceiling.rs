//! Sustained random reads through one read engine, fio-style: `depth` reads of `block` bytes
//! always in flight over the given files for `seconds`, no scheduler or cache. Separates what an
//! engine can do from what the streaming source does with it. With `FLOE_BATCH=1` it instead
//! submits `depth` reads and waits for all of them before the next batch, as a model's
//! layer-by-layer demand fetches do.
//!
//! ```text
//! cargo run --release -p floe-stream --example engine_ceiling -- io_uring 8 direct 2654208 10 FILE...
//! ```

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floe_stream::buffer::BufferPool;
use floe_stream::engine::{BlobData, BlobFile, CompletionSink, EngineKind, IoMode, ReadRequest};
use floe_stream::synth::WyRand;

struct Sink(Mutex<Sender<(u64, std::io::Result<BlobData>)>>);

impl CompletionSink for Sink {
    fn complete(&self, tag: u64, result: std::io::Result<BlobData>) {
        let _ = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send((tag, result));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        return Err(
            "usage: engine_ceiling ENGINE DEPTH direct|buffered BLOCK SECONDS FILE...".into(),
        );
    }
    let depth: usize = args[1].parse()?;
    let engine = EngineKind::parse(&args[0], depth)?
        .build(BufferPool::new(4 * depth * args[3].parse::<usize>()?))?;
    let mode = IoMode::parse(&args[2])?;
    let block: usize = args[3].parse()?;
    let seconds: f64 = args[4].parse()?;
    let files: Vec<Arc<BlobFile>> = args[5..]
        .iter()
        .enumerate()
        .map(|(i, p)| BlobFile::open(i, std::path::Path::new(p), mode).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| f.file().metadata().map(|m| m.len()))
        .collect::<Result<_, _>>()?;
    let (tx, rx) = channel();
    let sink: Arc<dyn CompletionSink> = Arc::new(Sink(Mutex::new(tx)));
    let mut rng = WyRand::new(7);
    let mut next = |tag: u64| {
        let f = rng.below(files.len() as u64) as usize;
        let blocks = (sizes[f] - 4096) / block as u64;
        let offset = 4096 + rng.below(blocks.max(1)) * (block as u64).div_ceil(4096) * 4096;
        let offset = offset.min(sizes[f].saturating_sub(block as u64)) / 4096 * 4096;
        ReadRequest {
            tag,
            file: Arc::clone(&files[f]),
            offset,
            len: block,
        }
    };
    let started = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    let mut issued = 0u64;
    let batch: Vec<ReadRequest> = (0..depth as u64).map(&mut next).collect();
    issued += batch.len() as u64;
    engine.submit(batch, &sink);
    let batched = std::env::var_os("FLOE_BATCH").is_some();
    let (mut done, mut bytes) = (0u64, 0u64);
    while done < issued {
        let (_, result) = rx.recv()?;
        bytes += result?.len() as u64;
        done += 1;
        if started.elapsed() < limit {
            if !batched {
                engine.submit(vec![next(issued)], &sink);
                issued += 1;
            } else if done == issued {
                let batch: Vec<ReadRequest> =
                    (issued..issued + depth as u64).map(&mut next).collect();
                issued += depth as u64;
                engine.submit(batch, &sink);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let style = if batched { "batches" } else { "continuous" };
    println!(
        "{} {} {style}: {:.3} GB/s ({done} reads of {block} B in {elapsed:.1} s)",
        engine.name(),
        mode.name(),
        bytes as f64 / elapsed / 1e9
    );
    Ok(())
}
