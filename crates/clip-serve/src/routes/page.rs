//! The search page (`GET /`, one self-contained HTML file compiled into the binary) and the
//! thumbnails it shows, made only from the index's own rows.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use clip::vision::preprocess::Preprocessor;
use clip_collection::Item;
use image::ImageEncoder;

use super::AppState;
use crate::{ApiError, images};

/// Side of a thumbnail: the image resized and centre-cropped as the model sees it.
const THUMBNAIL: usize = 256;

/// `GET /`.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("../../assets/index.html"))
}

/// `GET /thumbnails/{row}`: row `row` of the index as a JPEG, `THUMBNAIL` pixels square.
pub async fn thumbnail(
    State(state): State<Arc<AppState>>,
    Path(row): Path<String>,
) -> Result<Response, ApiError> {
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no row {row:?} in the index"),
        )
    };
    let index = state.index.as_ref().ok_or_else(gone)?;
    let path = row
        .parse()
        .ok()
        .and_then(|r| index.path(r))
        .ok_or_else(gone)?
        .to_owned();
    let max_pixels = state.limits.max_pixels;
    let jpeg = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let unavailable = |e: String| ApiError::new(StatusCode::NOT_FOUND, "image_unavailable", e);
        let bytes = Item::find(&path)
            .and_then(|item| item.read())
            .map_err(|e| unavailable(e.to_string()))?;
        let image = images::decode_checked(&bytes, max_pixels)
            .map_err(|e| unavailable(format!("{path}: {}", e.message)))?;
        let rgb = Preprocessor::new(THUMBNAIL).rgb(&image);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(
                &rgb,
                THUMBNAIL as u32,
                THUMBNAIL as u32,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| ApiError::internal(format!("encoding a thumbnail: {e}")))?;
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(format!("thumbnail: {e}")))??;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}
