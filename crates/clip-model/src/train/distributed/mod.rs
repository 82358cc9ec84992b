//! Data parallelism across processes: every rank encodes its slice of the global batch, the
//! features of all ranks are gathered so the loss still contrasts the whole batch, and the
//! gradients are summed, so that each rank takes the step a single process would take on the
//! global batch (open_clip's `gather_with_grad=False` scheme, with the gradients summed).
//!
//! The ranks talk through a [`Collective`]: MPI across processes and hosts ([`Mpi`], the
//! `mpi` feature: launched by `mpirun` or Slurm's `srun`), or threads in one process
//! ([`ThreadGroup`], for tests and for embedding). Burn's own collectives (0.22, and
//! 0.23.0-pre.1's `Tensor::all_reduce`) take every member's tensor in one call, inside one
//! process, so they cannot be the transport between processes.

mod grads;
#[cfg(feature = "mpi")]
mod mpi;
mod threads;
mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};

pub use grads::{GradientSum, fingerprint};
#[cfg(feature = "mpi")]
pub use mpi::Mpi;
pub use threads::ThreadGroup;
pub use watchdog::Watchdog;

/// The operations data-parallel training needs from the ranks of one job. Every rank calls
/// the same operations in the same order; each call returns when every rank has made it.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;

    /// Ranks in the job.
    fn ranks(&self) -> usize;

    /// Every rank's `local` values, concatenated in rank order (lengths may differ).
    fn all_gather(&self, local: &[f32]) -> Vec<f32>;

    /// Element-wise sum over the ranks, in place; every rank receives the same values.
    fn all_reduce_sum(&self, values: &mut [f32]);

    /// Ends the whole job with `code` after an error on this rank (the others may be waiting
    /// for it in a collective); by default only this process exits.
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// A shared handle to the ranks of a job, as [`crate::train::FitSpec`] takes it.
pub type Group = Arc<dyn Collective>;

/// Why a job of several processes could not start.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    /// The `mpi` feature is off in this build.
    #[error(
        "this build has no MPI: rebuild with the `mpi` feature (e.g. `cargo run --release -p xtask --features mpi -- train …`), which needs an MPI library such as Debian's libopenmpi-dev"
    )]
    NotBuilt,
    /// MPI did not start (already started, or refused the threading level).
    #[error("MPI could not start: {0}")]
    Init(String),
}

/// Joins the MPI job this process was launched in (`mpirun`, `srun`; a job of one without a
/// launcher). A collective that waits longer than `timeout` aborts the job. Without the
/// `mpi` feature: [`DistributedError::NotBuilt`].
pub fn mpi(timeout: Duration) -> Result<Group, DistributedError> {
    #[cfg(feature = "mpi")]
    return Ok(Arc::new(Mpi::init(timeout)?));
    #[cfg(not(feature = "mpi"))]
    {
        let _ = timeout;
        Err(DistributedError::NotBuilt)
    }
}

/// Whether every rank agrees that `flag` is false: `true` when any rank's is true.
pub fn any(group: &dyn Collective, flag: bool) -> bool {
    let mut vote = [flag as u8 as f32];
    group.all_reduce_sum(&mut vote);
    vote[0] > 0.0
}

/// Every rank's rows of `width` values (`local`, row-major, any number of rows) stacked in
/// rank order: the `[N, width]` tensor on `device` and the index of this rank's first row.
pub fn gather_rows(
    group: &dyn Collective,
    local: Vec<f32>,
    width: usize,
    device: &Device,
) -> (Tensor<2>, usize) {
    let width = width.max(1);
    let counts = group.all_gather(&[(local.len() / width) as f32]);
    let offset = counts[..group.rank()].iter().map(|&c| c as usize).sum();
    let all = group.all_gather(&local);
    let total = all.len() / width;
    let gathered = Tensor::from_data(TensorData::new(all, [total, width]), device);
    (gathered, offset)
}

/// How long a rank waits in one collective before it gives up on the others, by default:
/// PyTorch's process-group default (30 minutes). A rank that died is usually noticed by the
/// launcher (mpirun, srun) at once; this bounds the wait when a host vanishes silently.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
