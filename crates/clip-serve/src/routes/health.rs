//! What operators and clients poll: liveness, metrics, the served model.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;

/// `GET /healthz`: 200 while the server answers, with what it serves.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "model": state.model_name,
        "embedding_dim": state.embed_dim,
        "index_rows": state.index.as_ref().map(|i| i.info().rows),
    }))
}

/// `GET /metrics`: Prometheus' text format (OpenMetrics).
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// `GET /v1/models`: OpenAI's model list, of the one model served.
pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": state.model_name, "object": "model", "owned_by": "clip-burn"}],
    }))
}
