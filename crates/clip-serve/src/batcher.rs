//! Dynamic batching: concurrent requests gathered into one forward pass on the model's own
//! thread, so the async runtime never computes and a busy server runs the model at the
//! batch sizes it is fastest at.
//!
//! A request's rows (texts or images, never both) are one [`Job`]. The model thread takes
//! the oldest job, then every job of the same kind that arrives within
//! [`BatchOptions::max_wait`] until the pass holds [`BatchOptions::max_batch`] rows; jobs of
//! the other kind wait for the next pass, in order. A panic in a pass answers its jobs with
//! a 500 and the thread goes on.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

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
    loop {
        let Some(first) = waiting.pop_front().or_else(|| queue.recv().ok()) else {
            return; // every sender dropped, nothing left
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
        let deadline = Instant::now() + options.max_wait;
        while rows < options.max_batch {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match queue.recv_timeout(left) {
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
        let answers = compute(pipeline, pass.iter().map(|job| &job.rows));
        metrics.batch(kind, rows, started.elapsed().as_secs_f64());
        match answers {
            Ok(features) => {
                let (dim, mut start) = (features.dim(), 0);
                for job in pass {
                    let end = start + job.rows.len() * dim;
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

/// One forward pass over the jobs' rows (all of one kind): features as one matrix of rows,
/// split back by the caller. A panic becomes the error.
fn compute<'a>(
    pipeline: &ClipPipeline,
    jobs: impl Iterator<Item = &'a Rows>,
) -> Result<Embeddings, String> {
    let jobs: Vec<&Rows> = jobs.collect();
    catch_unwind(AssertUnwindSafe(|| match jobs[0] {
        Rows::Texts(first) => {
            let mut tokens = TokenBatch {
                ids: Vec::new(),
                lengths: Vec::new(),
                context_length: first.context_length,
            };
            for job in &jobs {
                if let Rows::Texts(t) = job {
                    tokens.ids.extend_from_slice(&t.ids);
                    tokens.lengths.extend_from_slice(&t.lengths);
                }
            }
            pipeline.embed_tokens(&tokens)
        }
        Rows::Images(_) => {
            let images: Vec<Vec<f32>> = jobs
                .iter()
                .flat_map(|job| match job {
                    Rows::Images(images) => images.clone(),
                    Rows::Texts(_) => Vec::new(),
                })
                .collect();
            pipeline.embed_pixels(&images)
        }
    }))
    .map_err(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        format!("the model failed on this batch: {reason}")
    })
}
