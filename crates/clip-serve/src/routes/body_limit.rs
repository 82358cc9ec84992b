//! Bodies past the limit: refused with a 413 the client actually receives.
//!
//! Answering before the body is read and then closing the connection makes the kernel reset
//! it while the client is still sending, and the client sees "broken pipe" or "connection
//! reset" instead of the 413 (what nginx's lingering close avoids). So a body whose declared
//! length is over the limit is read and thrown away — up to [`DRAIN_BYTES`], for at most
//! [`DRAIN_TIME`] — before the answer. Bodies without a length (chunked) are cut by
//! [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit) in the extractors.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::AppState;
use crate::ApiError;

/// Most bytes read from a refused body; past it the connection is just closed.
const DRAIN_BYTES: u64 = 256 << 20;
/// Longest time spent reading a refused body.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Refuses a request whose `Content-Length` is over `max_body_bytes`, after reading its body.
pub async fn refuse_large_bodies(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.limits.max_body_bytes as u64;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let Some(length) = declared.filter(|&length| length > limit) else {
        return next.run(request).await;
    };
    if length <= DRAIN_BYTES {
        let _ = tokio::time::timeout(DRAIN_TIME, drain(request)).await;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is {length} bytes; this server takes at most {limit}"),
    )
    .into_response()
}

async fn drain(request: Request) {
    let mut body = request.into_body();
    while let Some(Ok(_)) = body.frame().await {}
}
