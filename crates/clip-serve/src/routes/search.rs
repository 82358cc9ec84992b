//! `POST /search`: the indexed images most like a text or an image, as `cargo xtask search`.
//!
//! `{"text": "a dog", "template": "a photo of {}."?, "k": 10?}` or `{"image": DATA, "k"?}`
//! → `{"model", "results": [{"rank", "row", "score", "path", "thumbnail"}]}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use clip::zeroshot::Prompts;
use serde_json::{Value, json};

use super::{AppState, count, flag, json_body, string};
use crate::batcher::Rows;
use crate::{ApiError, images};

/// Results when a request does not say.
const DEFAULT_K: usize = 10;

pub async fn search(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let index = state.index.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_index",
            "this server has no collection to search: start it with --index DIR",
        )
    })?;
    let body = json_body(body)?;
    let k = count(&body, "k", state.limits.max_k)?.unwrap_or(DEFAULT_K);
    let template = string(&body, "template")?.unwrap_or("{}");
    let query = match (string(&body, "text")?, string(&body, "image")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give \"text\" or \"image\", not both",
            ));
        }
        (Some(text), None) => {
            let prompts =
                Prompts::new(vec![text.to_owned()], vec![template.to_owned()]).map_err(|e| {
                    ApiError::bad_request("invalid_field", format!("\"template\": {e}"))
                })?;
            let truncate = flag(&body, "truncate", state.limits.truncate)?;
            let tokens = state.tokenize(&prompts.texts(0), truncate)?;
            state.embed(Rows::Texts(tokens)).await?
        }
        (None, Some(data)) => {
            let bytes = images::from_base64(data)?;
            let pixels = state.pixels(vec![bytes], |_| "image".into()).await?;
            state.embed(Rows::Images(pixels)).await?
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "nothing to search for: give \"text\" or \"image\"",
            ));
        }
    };
    let hits = index
        .search(query.row(0), k)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let results: Vec<Value> = hits
        .iter()
        .enumerate()
        .map(|(rank, hit)| {
            json!({
                "rank": rank + 1,
                "row": hit.row,
                "score": hit.score,
                "path": hit.path,
                "thumbnail": format!("/thumbnails/{}", hit.row),
            })
        })
        .collect();
    Ok(Json(json!({"model": state.model_name, "results": results})))
}
