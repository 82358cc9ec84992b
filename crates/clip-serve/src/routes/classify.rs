//! `POST /classify`: one image against candidate labels, probabilities best first, as
//! `cargo xtask predict` (a softmax of the model's own logits). Several templates are
//! ensembled as OpenAI's notebook does (normalised text features averaged per label).
//!
//! JSON: `{"image": DATA, "labels": [...], "templates": [...]?, "top_k": n?, "truncate"?}`.
//! Multipart: an `image` file, `labels` (comma-separated) or repeated `label` fields,
//! optional repeated `template` fields and `top_k`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use clip::Embeddings;
use serde_json::{Value, json};

use super::{AppState, count, flag, json_body};
use crate::batcher::Rows;
use crate::{ApiError, images};

/// What a classification asks.
#[derive(Default)]
struct Ask {
    image: Option<Vec<u8>>,
    labels: Vec<String>,
    templates: Vec<String>,
    top_k: Option<usize>,
    truncate: Option<bool>,
}

pub async fn classify(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let multipart = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let ask = if multipart {
        let form = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_body", e.body_text()))?;
        from_form(form).await?
    } else {
        let body = Bytes::from_request(request, &()).await;
        from_json(&json_body(body)?)?
    };
    let limits = &state.limits;
    let image = ask
        .image
        .ok_or_else(|| ApiError::bad_request("missing_image", "\"image\" is required"))?;
    if ask.labels.len() > limits.max_labels {
        return Err(ApiError::bad_request(
            "too_many_labels",
            format!(
                "{} labels; at most {} a request",
                ask.labels.len(),
                limits.max_labels
            ),
        ));
    }
    if ask.templates.len() > limits.max_templates {
        return Err(ApiError::bad_request(
            "too_many_templates",
            format!(
                "{} templates; at most {} a request",
                ask.templates.len(),
                limits.max_templates
            ),
        ));
    }
    let templates = match ask.templates.is_empty() {
        true => vec!["{}".to_owned()],
        false => ask.templates,
    };
    let prompts = clip::zeroshot::Prompts::new(ask.labels, templates)
        .map_err(|e| ApiError::bad_request("invalid_labels", e.to_string()))?;
    let texts: Vec<String> = (0..prompts.classes.len())
        .flat_map(|c| prompts.texts(c))
        .collect();
    let tokens = state.tokenize(&texts, ask.truncate.unwrap_or(limits.truncate))?;
    let pixels = state.pixels(vec![image], |_| "image".into()).await?;
    let (image, text) = tokio::join!(
        state.embed(Rows::Images(pixels)),
        state.embed(Rows::Texts(tokens))
    );
    let (image, text) = (image?, text?);

    // OpenAI's prompt ensembling: each prompt's features normalised, averaged per label,
    // normalised again; then the model's temperature times the cosine with the image.
    let (image, text) = (image.normalized(), text.normalized());
    let (per_label, dim) = (prompts.templates.len(), text.dim());
    let means: Vec<f32> = text
        .as_slice()
        .chunks(per_label * dim)
        .flat_map(|prompts| {
            (0..dim)
                .map(move |j| prompts.iter().skip(j).step_by(dim).sum::<f32>() / per_label as f32)
        })
        .collect();
    let labels = Embeddings::new(means, dim).normalized();
    let logits: Vec<f32> = labels
        .rows()
        .map(|label| {
            let cosine: f32 = label.iter().zip(image.row(0)).map(|(a, b)| a * b).sum();
            state.logit_scale * cosine
        })
        .collect();
    let probabilities: Vec<f32> = match state.logit_bias {
        // SigLIP: each label's own sigmoid (they need not sum to one).
        Some(bias) => logits
            .iter()
            .map(|l| 1.0 / (1.0 + (-(l + bias)).exp()))
            .collect(),
        None => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let total: f32 = exp.iter().sum();
            exp.iter().map(|e| e / total).collect()
        }
    };
    let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(ask.top_k.unwrap_or(ranked.len()));
    let labels: Vec<Value> = ranked
        .iter()
        .map(|&(c, p)| json!({"label": prompts.classes[c], "probability": p}))
        .collect();
    Ok(Json(json!({"model": state.model_name, "labels": labels})))
}

fn strings(body: &Value, name: &str) -> Result<Vec<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::bad_request("invalid_field", format!("{name:?} must be strings"))
            }),
        Some(_) => Err(ApiError::bad_request(
            "invalid_field",
            format!("{name:?} must be an array of strings"),
        )),
    }
}

fn from_json(body: &Value) -> Result<Ask, ApiError> {
    let image = match super::string(body, "image")? {
        Some(data) => Some(images::from_base64(data)?),
        None => None,
    };
    let mut templates = strings(body, "templates")?;
    if let Some(t) = super::string(body, "template")? {
        templates.push(t.to_owned());
    }
    Ok(Ask {
        image,
        labels: strings(body, "labels")?,
        templates,
        top_k: count(body, "top_k", usize::MAX)?,
        truncate: match body.get("truncate") {
            None | Some(Value::Null) => None,
            Some(_) => Some(flag(body, "truncate", false)?),
        },
    })
}

async fn from_form(mut form: Multipart) -> Result<Ask, ApiError> {
    let broken = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), "invalid_body", e.body_text())
    };
    let mut ask = Ask::default();
    while let Some(field) = form.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "image" => ask.image = Some(field.bytes().await.map_err(broken)?.to_vec()),
            "labels" => {
                let text = field.text().await.map_err(broken)?;
                ask.labels.extend(
                    text.split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
            "label" => ask.labels.push(field.text().await.map_err(broken)?),
            "template" => ask.templates.push(field.text().await.map_err(broken)?),
            "top_k" => {
                let text = field.text().await.map_err(broken)?;
                ask.top_k = Some(text.trim().parse().ok().filter(|&k| k >= 1).ok_or_else(
                    || {
                        ApiError::bad_request(
                            "invalid_field",
                            "\"top_k\" must be a whole number ≥ 1",
                        )
                    },
                )?);
            }
            "truncate" => {
                let text = field.text().await.map_err(broken)?;
                ask.truncate = Some(matches!(text.trim(), "true" | "1" | "yes"));
            }
            _ => {} // unknown fields are ignored, as JSON's are
        }
    }
    Ok(ask)
}
