//! Ranks as threads of one process: the [`Collective`] that tests (and programs that embed
//! several trainers) use where MPI would be overkill.

use std::sync::{Arc, Barrier, Mutex};

use super::Collective;

/// One member of a group of threads that exchange through shared memory.
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    slots: Mutex<Vec<Vec<f32>>>,
    barrier: Barrier,
}

impl ThreadGroup {
    /// `ranks` members (at least 1), rank `i` at position `i`; give each to its own thread.
    pub fn new(ranks: usize) -> Vec<ThreadGroup> {
        let ranks = ranks.max(1);
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); ranks]),
            barrier: Barrier::new(ranks),
        });
        (0..ranks)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Every member's `local`, in rank order.
    fn exchange(&self, local: &[f32]) -> Vec<Vec<f32>> {
        self.lock()[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let all = self.lock().clone();
        // Nobody writes the next round's values before everyone has read this one's.
        self.shared.barrier.wait();
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<f32>>> {
        // A member that panicked while holding the lock left whole vectors behind.
        self.shared.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.lock().len()
    }

    fn all_gather(&self, local: &[f32]) -> Vec<f32> {
        self.exchange(local).concat()
    }

    fn all_reduce_sum(&self, values: &mut [f32]) {
        let all = self.exchange(values);
        // Summed in rank order on every member, so all members get the same bits.
        values.fill(0.0);
        for member in &all {
            for (v, x) in values.iter_mut().zip(member) {
                *v += x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_in_rank_order_and_sums() {
        let results: Vec<(Vec<f32>, Vec<f32>)> = std::thread::scope(|s| {
            let workers: Vec<_> = ThreadGroup::new(3)
                .into_iter()
                .map(|member| {
                    s.spawn(move || {
                        let r = member.rank() as f32;
                        let local: Vec<f32> =
                            (0..=member.rank()).map(|i| r * 10.0 + i as f32).collect();
                        let gathered = member.all_gather(&local);
                        let mut sum = vec![1.0, r];
                        member.all_reduce_sum(&mut sum);
                        (gathered, sum)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for (gathered, sum) in results {
            assert_eq!(gathered, vec![0.0, 10.0, 11.0, 20.0, 21.0, 22.0]);
            assert_eq!(sum, vec![3.0, 3.0]);
        }
    }
}
