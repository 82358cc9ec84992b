//! `POST /v1/embeddings`: OpenAI's embeddings request and answer, for texts and images alike.
//!
//! `input` is a string or an array whose items are strings (texts), `{"type": "text",
//! "text": …}` or `{"type": "image", "image": DATA}` with DATA a data URL or base64
//! (`"image_url": DATA` or `{"url": DATA}` also read). Features are `encode_text` /
//! `encode_image`'s, as `cargo xtask embed` writes them; `"normalize": true` makes them
//! unit length. `encoding_format` `"base64"` sends each vector as little-endian f32 bytes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use base64::Engine;
use serde_json::{Value, json};

use super::{AppState, flag, json_body, string};
use crate::batcher::Rows;
use crate::{ApiError, images};

enum Input {
    Text(String),
    Image(Vec<u8>),
}

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body)?;
    let inputs = inputs(&body, state.limits.max_inputs)?;
    let base64 = match string(&body, "encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("\"encoding_format\" {other:?}: expected \"float\" or \"base64\""),
            ));
        }
    };
    if let Some(dimensions) = body.get("dimensions").filter(|d| !d.is_null())
        && dimensions.as_u64() != Some(state.embed_dim as u64)
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "\"dimensions\": this model's embeddings have {} (no shortening)",
                state.embed_dim
            ),
        ));
    }
    let truncate = flag(&body, "truncate", state.limits.truncate)?;
    let normalize = flag(&body, "normalize", false)?;

    let (mut texts, mut pictures, mut order) = (Vec::new(), Vec::new(), Vec::new());
    for input in inputs {
        match input {
            Input::Text(t) => {
                order.push((false, texts.len()));
                texts.push(t);
            }
            Input::Image(bytes) => {
                order.push((true, pictures.len()));
                pictures.push(bytes);
            }
        }
    }
    let tokens = (!texts.is_empty())
        .then(|| state.tokenize(&texts, truncate))
        .transpose()?;
    let prompt_tokens: usize = tokens.iter().flat_map(|t| &t.lengths).sum();
    let pixels = state.pixels(pictures, image_input).await?;
    let (text_features, image_features) = tokio::join!(
        async {
            match tokens {
                Some(t) => state.embed(Rows::Texts(t)).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match pixels.is_empty() {
                false => state.embed(Rows::Images(pixels)).await.map(Some),
                true => Ok(None),
            }
        }
    );
    let unit = |f: Option<clip::Embeddings>| f.map(|f| if normalize { f.normalized() } else { f });
    let (text_features, image_features) = (unit(text_features?), unit(image_features?));

    let data: Vec<Value> = order
        .iter()
        .enumerate()
        .map(|(index, &(image, i))| {
            let features = if image {
                &image_features
            } else {
                &text_features
            };
            let row = features.as_ref().expect("computed above").row(i);
            json!({"object": "embedding", "index": index, "embedding": encode(row, base64)})
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": state.model_name,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })))
}

fn image_input(i: usize) -> String {
    format!("input[{i}]")
}

/// The request's inputs, in order.
fn inputs(body: &Value, max: usize) -> Result<Vec<Input>, ApiError> {
    let items = match body.get("input") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "missing_input",
                "\"input\" is required",
            ));
        }
        Some(Value::String(text)) => return Ok(vec![Input::Text(text.clone())]),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_input",
                "\"input\" must be a string or an array",
            ));
        }
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("invalid_input", "\"input\" is empty"));
    }
    if items.len() > max {
        return Err(ApiError::bad_request(
            "too_many_inputs",
            format!("{} inputs; at most {max} a request", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| input(i, item))
        .collect()
}

fn input(i: usize, item: &Value) -> Result<Input, ApiError> {
    let bad =
        |message: &str| ApiError::bad_request("invalid_input", format!("input[{i}]: {message}"));
    match item {
        Value::String(text) => Ok(Input::Text(text.clone())),
        Value::Number(_) | Value::Array(_) => Err(bad(
            "token ids are not taken: send texts as strings (they are tokenized here)",
        )),
        Value::Object(fields) => match fields.get("type").and_then(Value::as_str) {
            Some("text") => match fields.get("text") {
                Some(Value::String(text)) => Ok(Input::Text(text.clone())),
                _ => Err(bad("a text item needs a \"text\" string")),
            },
            Some("image") | Some("image_url") => {
                let data = ["image", "image_url"]
                    .iter()
                    .find_map(|key| match fields.get(*key) {
                        Some(Value::String(s)) => Some(s.as_str()),
                        Some(Value::Object(url)) => url.get("url").and_then(Value::as_str),
                        _ => None,
                    })
                    .ok_or_else(|| bad("an image item needs \"image\": a data URL or base64"))?;
                let bytes = images::from_base64(data).map_err(|e| bad(&e.message))?;
                Ok(Input::Image(bytes))
            }
            _ => Err(bad("an object item needs \"type\": \"text\" or \"image\"")),
        },
        _ => Err(bad("expected a string or an object")),
    }
}

fn encode(row: &[f32], base64: bool) -> Value {
    if base64 {
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        Value::Array(row.iter().map(|v| json!(v)).collect())
    }
}
