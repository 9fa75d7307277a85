//! The backend conformance suite, run against the CPU backend: with two threads (large cases
//! take the parallel paths) and with one (everything runs on the calling thread).

use floe_compute::cpu::CpuBackend;

floe_compute::backend_conformance_tests!(cpu, || CpuBackend::new(Some(2)));
floe_compute::backend_conformance_tests!(cpu_one_thread, || CpuBackend::new(Some(1)));
