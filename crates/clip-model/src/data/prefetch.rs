//! Batches prepared ahead of the model: a worker thread draws them from a [`BatchSource`]
//! (decoding in parallel on rayon's pool) into a bounded queue, so decoding overlaps the
//! training step and memory holds at most `depth` batches beyond the one in use.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::{Batch, BatchSource, DataError, StreamStats};

/// Where in the data a run stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataPosition {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Batches of it already consumed.
    pub batch: usize,
    /// Samples of its stream already consumed ([`Batch::position`] of the last batch).
    pub samples: u64,
}

/// What the worker hands over: a batch, or the end of an epoch with its data counts.
#[derive(Debug)]
pub enum Feed {
    /// The next batch.
    Batch(Box<Batch>),
    /// Epoch `epoch` has no more batches.
    EpochEnd {
        /// Which epoch ended.
        epoch: usize,
        /// What it used and skipped.
        stats: StreamStats,
    },
}

/// The batches of epochs `from.epoch..epochs`, starting at `from`, prepared on a worker
/// thread. Dropping it stops the worker after the batch it is preparing.
pub struct Prefetch {
    receiver: Option<Receiver<Result<Feed, DataError>>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Starts the worker with up to `depth` (at least 1) prepared items queued.
    pub fn spawn(
        source: Box<dyn BatchSource>,
        from: DataPosition,
        epochs: usize,
        depth: usize,
    ) -> Self {
        let (sender, receiver) = sync_channel(depth.max(1));
        let worker = std::thread::Builder::new()
            .name("clip-data".into())
            .spawn(move || produce(source, from, epochs, sender))
            .expect("spawning the data thread");
        Prefetch {
            receiver: Some(receiver),
            worker: Some(worker),
        }
    }
}

fn produce(
    mut source: Box<dyn BatchSource>,
    from: DataPosition,
    epochs: usize,
    sender: SyncSender<Result<Feed, DataError>>,
) {
    for epoch in from.epoch..epochs {
        let (batch, samples) = if epoch == from.epoch {
            (from.batch, from.samples)
        } else {
            (0, 0)
        };
        if let Err(e) = source.seek(epoch, batch, samples) {
            let _ = sender.send(Err(e));
            return;
        }
        while let Some(item) = source.next_batch() {
            let failed = item.is_err();
            if sender.send(item.map(|b| Feed::Batch(Box::new(b)))).is_err() || failed {
                return;
            }
        }
        let end = Feed::EpochEnd {
            epoch,
            stats: source.stats(),
        };
        if sender.send(Ok(end)).is_err() {
            return;
        }
    }
}

impl Iterator for Prefetch {
    type Item = Result<Feed, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the queue makes the worker's next send fail, which ends it.
        self.receiver.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageCaptions;
    use crate::data::loader::BatchLoader;

    fn tiny_set(dir: &std::path::Path, n: usize) -> ImageCaptions {
        let mut data = ImageCaptions::default();
        for i in 0..n {
            let path = dir.join(format!("{i}.png"));
            image::RgbImage::from_pixel(4, 4, image::Rgb([i as u8 * 20, 0, 0]))
                .save(&path)
                .unwrap();
            data.images.push(path);
            data.captions.push(vec![format!("image {i}")]);
        }
        data
    }

    #[test]
    fn gives_the_loaders_batches_in_order_with_epoch_ends_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = tiny_set(dir.path(), 7);
        let mut direct = BatchLoader::new(data.clone(), 4, 8, 3, 1, 0);
        let loader = BatchLoader::new(data, 4, 8, 3, 1, 0);
        let from = DataPosition {
            epoch: 0,
            batch: 1,
            samples: 6,
        };
        let feeds: Vec<Feed> = Prefetch::spawn(Box::new(loader), from, 2, 1)
            .map(Result::unwrap)
            .collect();
        // Epoch 0 from its second batch (the first was consumed before), then all of epoch 1.
        let expected = [(0, 1), (1, 0), (1, 1)];
        let mut k = 0;
        let mut ends = Vec::new();
        for feed in feeds {
            match feed {
                Feed::Batch(batch) => {
                    let (epoch, index) = expected[k];
                    k += 1;
                    let want = direct.batch(epoch, index).unwrap();
                    assert_eq!((batch.epoch, batch.index), (epoch, index));
                    assert_eq!(batch.images, want.images);
                    assert_eq!(batch.pixels, want.pixels);
                }
                Feed::EpochEnd { epoch, .. } => ends.push((epoch, k)),
            }
        }
        assert_eq!(k, 3);
        assert_eq!(ends, [(0, 1), (1, 3)]);

        // Dropped after one item: the worker stops instead of preparing every epoch.
        let loader = BatchLoader::new(tiny_set(dir.path(), 7), 4, 8, 3, 1, 0);
        let mut feed = Prefetch::spawn(Box::new(loader), DataPosition::default(), 1000, 1);
        assert!(matches!(feed.next(), Some(Ok(Feed::Batch(_)))));
        drop(feed);
    }
}
