//! Dynamic batching: concurrent requests gathered into one forward pass on the model's own
//! thread, so the async runtime never computes and a busy server runs the model at the
//! batch sizes it is fastest at.
//!
//! A request's rows (texts or images, never both) are one [`Job`]. The model thread takes
//! the oldest job, every queued job of the same kind, and — when that first job had been
//! waiting, i.e. under load — every one that arrives within [`BatchOptions::max_wait`] (or
//! the previous pass's duration, if shorter), until the pass holds
//! [`BatchOptions::max_batch`] rows. A request that finds the model idle is not kept waiting
//! for company that is not coming. Jobs of the other kind wait for the next
//! pass, in order. A panic in a pass answers its jobs with a 500 and the thread goes on.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use clip::tokenizer::TokenBatch;
use clip::{ClipPipeline, Embeddings};
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::{ApiError, BatchOptions};

/// Rows for the model.
pub enum Rows {
    /// Tokenized texts.
    Texts(TokenBatch),
    /// Preprocessed images, each `[3, R, R]`.
    Images(Vec<Vec<f32>>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::Texts(tokens) => tokens.len(),
            Rows::Images(images) => images.len(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Rows::Texts(_) => "text",
            Rows::Images(_) => "image",
        }
    }
}

struct Job {
    rows: Rows,
    reply: oneshot::Sender<Result<Embeddings, ApiError>>,
}

/// The way into the model's thread; cloned into every request.
#[derive(Clone)]
pub struct Batcher {
    jobs: SyncSender<Job>,
    metrics: Arc<Metrics>,
}

impl Batcher {
    /// Moves `pipeline` onto a thread of its own that runs passes as `options` says. The
    /// thread ends when every [`Batcher`] is dropped and the queue is empty.
    pub fn spawn(pipeline: ClipPipeline, options: BatchOptions, metrics: Arc<Metrics>) -> Self {
        let (jobs, queue) = sync_channel(options.max_queue.max(1));
        let pipeline = pipeline.batch_size(options.max_batch);
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("clip-model".into())
            .spawn(move || run(&pipeline, &queue, options, &thread_metrics))
            .expect("spawning the model thread");
        Batcher { jobs, metrics }
    }

    /// Features of `rows`, one row each, in order, computed in a pass shared with other
    /// requests. A full queue is a 503.
    pub async fn embed(&self, rows: Rows) -> Result<Embeddings, ApiError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { rows, reply }) {
            Ok(()) => self.metrics.queue(1),
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the server is at its queue limit; retry shortly",
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::internal("the model's thread has stopped"));
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("the model's thread has stopped")))
    }
}

fn run(pipeline: &ClipPipeline, queue: &Receiver<Job>, options: BatchOptions, metrics: &Metrics) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut last_pass = Duration::ZERO;
    loop {
        // A job that was already queued means requests arrive faster than passes end: worth
        // waiting for company. One that found the model idle is answered at once.
        let (first, busy) = match waiting
            .pop_front()
            .map(Ok)
            .unwrap_or_else(|| queue.try_recv())
        {
            Ok(job) => (job, true),
            Err(TryRecvError::Empty) => match queue.recv() {
                Ok(job) => (job, false),
                Err(_) => return, // every sender dropped, nothing left
            },
            Err(TryRecvError::Disconnected) => return,
        };
        let kind = first.rows.kind();
        let mut rows = first.rows.len();
        let mut pass = vec![first];
        // Same-kind jobs already waiting join first, in order.
        let mut i = 0;
        while i < waiting.len() && rows < options.max_batch {
            if waiting[i].rows.kind() == kind && rows + waiting[i].rows.len() <= options.max_batch {
                let job = waiting.remove(i).expect("in range");
                rows += job.rows.len();
                pass.push(job);
            } else {
                i += 1;
            }
        }
        // Then what is queued already, then (under load) what arrives before the deadline.
        // Never longer than a pass takes: idling longer than the model needs to answer
        // the ones already here costs more than it saves.
        let wait = if busy {
            options.max_wait.min(last_pass)
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        while rows < options.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = match queue.try_recv() {
                Ok(job) => Ok(job),
                Err(_) if left.is_zero() => break,
                Err(_) => queue.recv_timeout(left),
            };
            match next {
                Ok(job)
                    if job.rows.kind() == kind && rows + job.rows.len() <= options.max_batch =>
                {
                    rows += job.rows.len();
                    pass.push(job);
                }
                Ok(job) => waiting.push_back(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        metrics.queue(-(pass.len() as i64));
        let started = Instant::now();
        let sizes: Vec<usize> = pass.iter().map(|job| job.rows.len()).collect();
        let answers = compute(pipeline, &mut pass);
        last_pass = started.elapsed();
        metrics.batch(kind, rows, last_pass.as_secs_f64());
        match answers {
            Ok(features) => {
                let (dim, mut start) = (features.dim(), 0);
                for (job, size) in pass.into_iter().zip(sizes) {
                    let end = start + size * dim;
                    let own = Embeddings::new(features.as_slice()[start..end].to_vec(), dim);
                    start = end;
                    let _ = job.reply.send(Ok(own)); // the client may have gone
                }
            }
            Err(message) => {
                for job in pass {
                    let _ = job.reply.send(Err(ApiError::internal(message.clone())));
                }
            }
        }
    }
}

/// One forward pass over the jobs' rows (all of one kind; images are moved out of the jobs):
/// features as one matrix of rows, split back by the caller. A panic becomes the error.
fn compute(pipeline: &ClipPipeline, jobs: &mut [Job]) -> Result<Embeddings, String> {
    catch_unwind(AssertUnwindSafe(|| match &jobs[0].rows {
        Rows::Texts(first) => {
            let mut tokens = TokenBatch {
                ids: Vec::new(),
                lengths: Vec::new(),
                context_length: first.context_length,
            };
            for job in jobs.iter() {
                if let Rows::Texts(t) = &job.rows {
                    tokens.ids.extend_from_slice(&t.ids);
                    tokens.lengths.extend_from_slice(&t.lengths);
                }
            }
            pipeline.embed_tokens(&tokens)
        }
        Rows::Images(_) => {
            let images: Vec<Vec<f32>> = jobs
                .iter_mut()
                .flat_map(|job| match &mut job.rows {
                    Rows::Images(images) => std::mem::take(images),
                    Rows::Texts(_) => Vec::new(),
                })
                .collect();
            pipeline.embed_pixels(&images)
        }
    }))
    .map_err(|panic| {
        let reason = crate::error::panic_message(&*panic);
        format!("the model failed on this batch: {reason}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> ClipPipeline {
        let weights = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../weights/tiny-shapes.safetensors"
        );
        let device = clip::device::Backend::Flex.device().unwrap();
        ClipPipeline::load(weights, &device).unwrap()
    }

    /// Runs the model loop over `jobs`, all queued before it starts (a server under load);
    /// returns each job's answer and the metrics.
    fn run_queued(
        jobs: Vec<Rows>,
        options: BatchOptions,
    ) -> (Vec<Result<Embeddings, ApiError>>, Metrics) {
        let pipeline = pipeline().batch_size(options.max_batch);
        let (sender, queue) = sync_channel(jobs.len());
        let metrics = Metrics::default();
        let answers: Vec<_> = jobs
            .into_iter()
            .map(|rows| {
                let (reply, answer) = oneshot::channel();
                sender.send(Job { rows, reply }).unwrap();
                metrics.queue(1);
                answer
            })
            .collect();
        drop(sender);
        run(&pipeline, &queue, options, &metrics);
        let answers = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap())
            .collect();
        (answers, metrics)
    }

    fn texts(pipeline: &ClipPipeline, texts: &[&str]) -> TokenBatch {
        pipeline.tokenize(texts).unwrap()
    }

    #[test]
    fn queued_requests_share_passes_of_at_most_max_batch_rows_and_get_their_own_rows() {
        let p = pipeline();
        let words = ["red", "green", "blue", "yellow", "purple", "orange", "cyan"];
        let image = p.preprocessor().load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../weights/examples/red-circle.jpg"
        ));
        let image = image.unwrap();
        // Texts of one, two and three rows; an image between them waits for its own pass.
        let jobs = vec![
            Rows::Texts(texts(&p, &words[..1])),
            Rows::Images(vec![image.clone(), image.clone()]),
            Rows::Texts(texts(&p, &words[1..3])),
            Rows::Texts(texts(&p, &words[3..6])),
            Rows::Texts(texts(&p, &words[6..])),
        ];
        let options = BatchOptions {
            max_batch: 4,
            ..BatchOptions::default()
        };
        let (answers, metrics) = run_queued(jobs, options);
        let want = p.embed_texts(&words).unwrap();
        let want_image = p.embed_pixels(&[image]);
        let got: Vec<Embeddings> = answers.into_iter().map(Result::unwrap).collect();
        let rows_of = |e: &Embeddings| e.rows().map(<[f32]>::to_vec).collect::<Vec<_>>();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6);
        let text_rows: Vec<Vec<f32>> = [&got[0], &got[2], &got[3], &got[4]]
            .into_iter()
            .flat_map(rows_of)
            .collect();
        assert_eq!(text_rows.len(), words.len());
        for (i, row) in text_rows.iter().enumerate() {
            assert!(close(row, want.row(i)), "{}", words[i]);
        }
        assert_eq!(got[1].len(), 2);
        // A pass's other rows change how the convolutions' products are blocked, so an
        // image's features may move by float rounding (relative 1e-6), not more.
        let scale = want_image.row(0).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for row in got[1].rows() {
            let diff = row
                .iter()
                .zip(want_image.row(0))
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(diff <= 1e-6 * scale, "{diff} of {scale}");
        }
        // Passes: texts 1+2+1 (the 3-row job would make 6 > 4 and waits its turn), the
        // image (queued before it), then the 3 rows.
        let text = metrics.encode();
        assert!(
            text.contains("clip_batch_rows_count{kind=\"text\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("clip_batch_rows_sum{kind=\"text\"} 7.0"),
            "{text}"
        );
        assert!(
            text.contains("clip_batch_rows_count{kind=\"image\"} 1"),
            "{text}"
        );
        assert!(text.contains("clip_queue_depth 0"), "{text}");
    }
}
