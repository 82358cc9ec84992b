//! The ranks of an MPI job (OpenMPI, MPICH, Intel MPI …, launched by `mpirun` or `srun`),
//! through the `mpi` crate (rsmpi).

use std::sync::Mutex;
use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{Collective, DistributedError, Watchdog};

/// This process's place in an MPI job. MPI is finalised when it drops.
pub struct Mpi {
    world: SimpleCommunicator,
    /// The send side of all-reduces, kept between calls (see `GradientSum`).
    scratch: Mutex<Vec<f32>>,
    watchdog: Watchdog,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

// SAFETY: MPI is initialised with `MPI_THREAD_MULTIPLE` (checked in `init`), which allows any
// thread to call it at any time; the communicator is an immutable handle.
unsafe impl Send for Mpi {}
unsafe impl Sync for Mpi {}

impl Mpi {
    /// Joins the job this process was launched in (a job of one when started without
    /// `mpirun`). A collective that waits longer than `timeout` aborts the whole job with a
    /// message naming this rank.
    pub fn init(timeout: Duration) -> Result<Self, DistributedError> {
        let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Multiple)
            .ok_or_else(|| DistributedError::Init("it was already started".into()))?;
        if threading != mpi::Threading::Multiple {
            return Err(DistributedError::Init(format!(
                "the MPI library offers threading level {threading:?}, and training needs \
                 Multiple (build OpenMPI or MPICH with thread support)"
            )));
        }
        let world = universe.world();
        let rank = world.rank();
        let watchdog = Watchdog::new(timeout, move |what, waited| {
            eprintln!(
                "error: rank {rank}: the other ranks did not take part in the {what} for {} s \
                 (a rank died or its host is unreachable); aborting the job (--resume \
                 continues from the last checkpoint)",
                waited.as_secs()
            );
            // SAFETY: MPI_THREAD_MULTIPLE allows this thread to abort the job.
            unsafe {
                mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 70);
            }
        });
        Ok(Mpi {
            world,
            scratch: Mutex::new(Vec::new()),
            watchdog,
            _universe: universe,
        })
    }

    /// The host this rank runs on.
    pub fn processor_name(&self) -> String {
        mpi::environment::processor_name().unwrap_or_default()
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, local: &[f32]) -> Vec<f32> {
        let _watching = self.watchdog.watch("all-gather");
        let count = local.len() as i32;
        let mut counts = vec![0i32; self.ranks()];
        self.world.all_gather_into(&count, &mut counts[..]);
        let displs: Vec<i32> = counts
            .iter()
            .scan(0, |next, &c| {
                let at = *next;
                *next += c;
                Some(at)
            })
            .collect();
        let mut all = vec![0f32; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut all[..], counts, &displs[..]);
        self.world.all_gather_varcount_into(local, &mut partition);
        all
    }

    fn all_reduce_sum(&self, values: &mut [f32]) {
        let _watching = self.watchdog.watch("all-reduce");
        // MPI counts are 32-bit: a model of billions of parameters goes in pieces.
        let mut send = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        for chunk in values.chunks_mut(1 << 28) {
            send.clear();
            send.extend_from_slice(chunk);
            self.world
                .all_reduce_into(&send[..], chunk, SystemOperation::sum());
        }
    }

    /// `MPI_Abort`: mpirun (or srun) ends every rank.
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
