//! Images in requests: data URLs or bare base64 in JSON, or uploaded bytes; their size
//! checked from the header before anything is decoded.

use std::io::Cursor;

use axum::http::StatusCode;
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use clip::vision::preprocess::{PilImage, decode};

use crate::ApiError;

/// The bytes of `data`: a `data:image/…;base64,` URL or bare base64 (standard alphabet,
/// padding optional; URL-safe accepted too).
pub fn from_base64(data: &str) -> Result<Vec<u8>, ApiError> {
    let payload = match data.strip_prefix("data:") {
        Some(url) => {
            let (meta, payload) = url.split_once(',').ok_or_else(|| {
                ApiError::bad_request("invalid_image", "a data URL without a ',' before its data")
            })?;
            if !meta.ends_with(";base64") {
                return Err(ApiError::bad_request(
                    "invalid_image",
                    "a data URL must be base64-encoded (data:image/png;base64,…)",
                ));
            }
            payload
        }
        None => data,
    };
    let payload: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    // Padding optional, in either alphabet.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [alphabet::STANDARD, alphabet::URL_SAFE]
        .iter()
        .find_map(|a| GeneralPurpose::new(a, config).decode(&payload).ok())
        .ok_or_else(|| ApiError::bad_request("invalid_image", "the image is not valid base64"))
}

/// Decodes `bytes` as Pillow would open them, after checking from the header that the image
/// has at most `max_pixels` pixels (413 otherwise).
pub fn decode_checked(bytes: &[u8], max_pixels: u64) -> Result<PilImage, ApiError> {
    let (width, height) = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|reader| reader.into_dimensions().ok())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_image", "not an image this server can read")
        })?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("the image is {width}×{height}, more than the {max_pixels} pixels allowed"),
        ));
    }
    decode(bytes).map_err(|e| ApiError::bad_request("invalid_image", e))
}
