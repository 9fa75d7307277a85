//! The device's bandwidth ceilings and the costs of a sync and of a dispatch, measured through
//! wgpu in the same run as the kernels they are compared with.

use std::time::Instant;

use floe_compute::Backend;
use floe_wgpu::WgpuBackend;

use super::{median, Result};

/// A grid-stride copy (`MODE` 0) or read-only sum (`MODE` 1) over 16-byte words.
const KERNEL: &str = r#"
@group(0) @binding(0) var<storage, read> SRC: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> DST: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = arrayLength(&SRC);
    let stride = nwg.x * 256u;
    var acc = vec4<u32>(0u);
    for (var i = gid.x; i < n; i = i + stride) {
        if MODE == 0u {
            DST[i] = SRC[i];
        } else {
            acc = acc ^ SRC[i];
        }
    }
    if MODE == 1u && all(acc == vec4<u32>(0x12345678u)) {
        // Practically never: keeps the loads from being optimized away.
        DST[gid.x] = acc;
    }
}
"#;

/// GB/s of `copy_buffer_to_buffer`, of a shader copy (both bytes read + written) and of a
/// shader read-only pass over `bytes` bytes: medians of 5 runs of `reps` passes in one submit.
pub struct Ceilings {
    /// `copy_buffer_to_buffer`, read + written.
    pub transfer_copy: f64,
    /// A compute-shader copy of 16-byte words, read + written.
    pub shader_copy: f64,
    /// A compute-shader pass reading every 16-byte word once.
    pub shader_read: f64,
}

impl Ceilings {
    /// The copy ceiling the kernels are compared with: the faster copy.
    pub fn copy(&self) -> f64 {
        self.transfer_copy.max(self.shader_copy)
    }
}

/// Measures the three ceilings over `bytes`-byte buffers.
pub fn measure(b: &WgpuBackend, bytes: u64, reps: usize) -> Result<Ceilings> {
    let device = b.device();
    let make = |usage| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench ceiling"),
            size: bytes,
            usage,
            mapped_at_creation: false,
        })
    };
    let src = make(
        wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::STORAGE,
    );
    let dst = make(wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::STORAGE);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let piece: Vec<u8> = (0..(64u64 << 20).min(bytes))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut at = 0;
    while at < bytes {
        let n = piece.len().min((bytes - at) as usize);
        b.queue().write_buffer(&src, at, &piece[..n]);
        at += n as u64;
    }
    let time = |record: &dyn Fn(&mut wgpu::CommandEncoder)| -> Result<f64> {
        let run = |n: usize| -> Result<f64> {
            let mut enc =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            for _ in 0..n {
                record(&mut enc);
            }
            let t = Instant::now();
            b.queue().submit([enc.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely())?;
            Ok(t.elapsed().as_secs_f64())
        };
        run(2)?;
        let times: Vec<f64> = (0..5).map(|_| run(reps)).collect::<Result<_>>()?;
        Ok(median(times) / reps as f64)
    };
    let transfer = time(&|enc| enc.copy_buffer_to_buffer(&src, 0, &dst, 0, bytes))?;
    let shader = |mode: u32| -> Result<f64> {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("bench ceiling"),
            source: wgpu::ShaderSource::Wgsl(
                format!("const MODE: u32 = {mode}u;\n{KERNEL}").into(),
            ),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("bench ceiling"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: dst.as_entire_binding(),
                },
            ],
        });
        // Enough workgroups to fill any GPU several times over; each loops over the rest.
        let groups = ((bytes / 16 / 256) as u32).clamp(1, 16384);
        time(&|enc| {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        })
    };
    let shader_copy = shader(0)?;
    let shader_read = shader(1)?;
    let gbs = |factor: f64, secs: f64| factor * bytes as f64 / secs / 1e9;
    Ok(Ceilings {
        transfer_copy: gbs(2.0, transfer),
        shader_copy: gbs(2.0, shader_copy),
        shader_read: gbs(1.0, shader_read),
    })
}

/// Per-dispatch costs in microseconds, medians: see [`overheads`].
pub struct Overheads {
    /// A tiny operation, then a download of its one value.
    pub round_trip: f64,
    /// Recording one tiny dispatch on the CPU.
    pub record: f64,
    /// Running one of many independent tiny dispatches on the device.
    pub independent: f64,
    /// Running one of a chain of tiny dispatches, each reading the previous one's output (as
    /// the operations of a decode step do).
    pub dependent: f64,
}

/// Measures [`Overheads`] over `n` dispatches.
pub fn overheads(b: &WgpuBackend, n: usize) -> Result<Overheads> {
    let one = b.upload(&[1.0], 1, 1)?;
    let mut trips = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let y = b.add(&one, &one)?;
        std::hint::black_box(b.download(&y)?);
        trips.push(t.elapsed().as_secs_f64());
    }
    let row = b.upload(&vec![0.5; 2048], 1, 2048)?;
    b.finish()?;
    let mut record = Vec::new();
    let mut run = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let outs: Vec<_> = (0..n)
            .map(|_| b.add(&row, &row))
            .collect::<std::result::Result<_, _>>()?;
        record.push(t.elapsed().as_secs_f64() / n as f64);
        let t = Instant::now();
        b.finish()?;
        run.push(t.elapsed().as_secs_f64() / n as f64);
        drop(outs);
    }
    let mut chained = Vec::new();
    for _ in 0..5 {
        let mut y = b.add(&row, &row)?;
        b.finish()?;
        for _ in 0..n {
            y = b.add(&y, &row)?;
        }
        let t = Instant::now();
        b.finish()?;
        chained.push(t.elapsed().as_secs_f64() / n as f64);
    }
    Ok(Overheads {
        round_trip: median(trips) * 1e6,
        record: median(record) * 1e6,
        independent: median(run) * 1e6,
        dependent: median(chained) * 1e6,
    })
}
