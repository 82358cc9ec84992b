//! The HTTP surface: one file per endpoint family, the shared state, and the layers every
//! route runs under (body limit, panic containment, metrics).

mod body_limit;
mod classify;
mod embeddings;
mod health;
mod page;
mod search;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clip::tokenizer::{TextTokenizer, TokenBatch, TokenizerError};
use clip::vision::preprocess::Preprocessor;
use clip_collection::Index;
use serde_json::Value;

use crate::batcher::{Batcher, Rows};
use crate::metrics::Metrics;
use crate::{ApiError, Limits, images};

/// What every request reads (opaque: routes added with [`Server::route`] may name it as
/// their state type, not read it).
///
/// [`Server::route`]: crate::Server::route
pub struct AppState {
    pub(crate) batcher: Batcher,
    /// The model's tokenizer, or why it has none (texts are then refused).
    pub(crate) tokenizer: Result<TextTokenizer, String>,
    pub(crate) context_length: usize,
    pub(crate) preprocessor: Preprocessor,
    /// `exp(logit_scale)`: the model's temperature.
    pub(crate) logit_scale: f32,
    /// The logits' bias of a SigLIP model (probabilities are then sigmoids).
    pub(crate) logit_bias: Option<f32>,
    pub(crate) embed_dim: usize,
    pub(crate) model_name: String,
    pub(crate) index: Option<Index>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    /// Images decoded at once (one per core): bounds the blocking threads under load.
    pub(crate) decoders: tokio::sync::Semaphore,
}

/// Every endpoint, under the layers, around `extra` routes an embedding program adds.
pub fn router(state: Arc<AppState>, extra: Router<Arc<AppState>>) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(page::index))
        .route("/thumbnails/{row}", get(page::thumbnail))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/v1/models", get(health::models))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/classify", post(classify::classify))
        .route("/search", post(search::search))
        .merge(extra)
        .route_layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_limit::refuse_large_bodies,
        ))
        .with_state(state)
}

/// Counts each routed request by its route pattern and status.
async fn track(
    State(state): State<Arc<AppState>>,
    path: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    state
        .metrics
        .request(path.as_str(), response.status().as_u16(), seconds);
    response
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reason = crate::error::panic_message(&*panic);
    ApiError::internal(format!("the request failed inside the server: {reason}")).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint {} here", request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not take {}",
            request.uri().path(),
            request.method()
        ),
    )
}

/// A JSON object body, or the 4xx that says why not (413 past the body limit).
pub fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(status, code, rejection.body_text())
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// An optional boolean field.
pub fn flag(body: &Value, name: &str, default: bool) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(
            "invalid_field",
            format!("{name:?} must be true or false"),
        )),
    }
}

/// An optional string field.
pub fn string<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(
            "invalid_field",
            format!("{name:?} must be a string"),
        )),
    }
}

/// An optional count in `1..=max`.
pub fn count(body: &Value, name: &str, max: usize) -> Result<Option<usize>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n as usize <= max => Ok(Some(n as usize)),
            _ => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name:?} must be a whole number from 1 to {max}"),
            )),
        },
    }
}

impl AppState {
    /// Token ids of `texts` at the model's context (400 for a text too long to fit unless
    /// `truncate`).
    pub fn tokenize(&self, texts: &[String], truncate: bool) -> Result<TokenBatch, ApiError> {
        let tokenizer = self
            .tokenizer
            .as_ref()
            .map_err(|e| ApiError::new(StatusCode::NOT_IMPLEMENTED, "no_tokenizer", e.clone()))?;
        tokenizer
            .tokenize(texts, self.context_length, truncate)
            .map_err(|e| match e {
                TokenizerError::TooLong { .. } => ApiError::bad_request(
                    "text_too_long",
                    format!("{e} (send \"truncate\": true to cut it)"),
                ),
                other => ApiError::bad_request("bad_text", other.to_string()),
            })
    }

    /// Images' bytes decoded and preprocessed off the async threads; an error names the
    /// input (`what(i)`) at fault.
    pub async fn pixels(
        self: &Arc<Self>,
        images: Vec<Vec<u8>>,
        what: fn(usize) -> String,
    ) -> Result<Vec<Vec<f32>>, ApiError> {
        let _permit = self
            .decoders
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the server is shutting down"))?;
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            images
                .iter()
                .enumerate()
                .map(|(i, bytes)| {
                    let image =
                        images::decode_checked(bytes, state.limits.max_pixels).map_err(|e| {
                            ApiError {
                                message: format!("{}: {}", what(i), e.message),
                                ..e
                            }
                        })?;
                    Ok(state.preprocessor.pixels(&image))
                })
                .collect()
        })
        .await
        .map_err(|e| ApiError::internal(format!("decoding failed: {e}")))?
    }

    /// Features of texts already tokenized, or of preprocessed images, from a shared pass.
    pub async fn embed(&self, rows: Rows) -> Result<clip::Embeddings, ApiError> {
        self.batcher.embed(rows).await
    }
}
