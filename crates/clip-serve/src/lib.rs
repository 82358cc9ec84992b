//! CLIP as an HTTP service, on axum and tokio.
//!
//! - `POST /v1/embeddings`: OpenAI's embeddings request and answer, for texts and images
//!   (data URLs or base64) alike;
//! - `POST /classify`: an image against labels, probabilities best first;
//! - `POST /search`: the images of an indexed collection most like a text or an image;
//! - `GET /` a search page, `GET /thumbnails/{row}`, `GET /healthz`, `GET /metrics`
//!   (Prometheus), `GET /v1/models`.
//!
//! Requests are gathered into shared forward passes on the model's own thread
//! ([`BatchOptions`]), bounded by [`Limits`] (every refusal a 4xx JSON error), contained
//! when they panic (500), and allowed to finish on shutdown. docs/serve.md has the curl
//! examples and measured throughput.
//!
//! ```no_run
//! use clip::ClipPipeline;
//! use clip_serve::{BatchOptions, Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = clip::device::Backend::Flex.device()?;
//! let pipeline = ClipPipeline::load("ViT-B/32", &device)?;
//! Server::new(pipeline, "ViT-B/32")
//!     .batching(BatchOptions { max_batch: 16, ..BatchOptions::default() })
//!     .index(clip_collection::Index::open("photos.clip")?)?
//!     .run("127.0.0.1:8080")?; // until Ctrl-C or SIGTERM
//! # Ok(()) }
//! ```

mod batcher;
mod error;
mod images;
mod metrics;
mod options;
mod routes;
mod server;

pub use error::{ApiError, ServeError};
pub use options::{BatchOptions, Limits};
pub use routes::AppState;
pub use server::{Running, Server};
