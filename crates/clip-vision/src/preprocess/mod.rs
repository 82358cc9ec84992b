//! Image preprocessing identical to OpenAI's `clip._transform(n_px)`:
//! `Resize(n_px, BICUBIC)` → `CenterCrop(n_px)` → `convert("RGB")` → `ToTensor` →
//! `Normalize(MEAN, STD)`, with Pillow's resampling reproduced to the 8-bit value.
//!
//! Reading files ([`open`], `Preprocessor::load*`, [`decode`]) is the `image` feature (on by
//! default); the transform itself on decoded [`PilImage`]s needs no dependency.
//!
//! ```
//! use clip_vision::preprocess::{Mode, PilImage, Preprocessor};
//!
//! // A 4×2 red image; real code calls `Preprocessor::load(path)`.
//! let image = PilImage::from_u8(Mode::Rgb, 4, 2, [255, 0, 0].repeat(8));
//! let pixels = Preprocessor::new(3).pixels(&image); // [3, 3, 3], channel-major
//! assert_eq!(pixels.len(), 27);
//! assert!((pixels[0] - (1.0 - 0.48145466) / 0.26862954).abs() < 1e-6);
//! ```

#[cfg(feature = "image")]
mod chunks;
#[cfg(feature = "image")]
mod decode;
#[cfg(feature = "image")]
mod files;
mod pil;
mod resample;

use burn::tensor::{Device, Tensor, TensorData};

#[cfg(feature = "image")]
pub use chunks::Skipped;
#[cfg(feature = "image")]
pub use decode::{MAX_PIXELS, decode};
#[cfg(feature = "image")]
pub use files::{ImageError, open};
pub use pil::{Mode, PilImage};
use resample::Window;

/// `Normalize` mean, per RGB channel (OpenAI's literals, kept digit for digit).
#[allow(clippy::excessive_precision)]
pub const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// `Normalize` standard deviation, per RGB channel (OpenAI's literals).
#[allow(clippy::excessive_precision)]
pub const STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// torchvision's `Resize(n)` output size: the short side becomes `n`, the long side
/// `int(n · long / short)`.
pub fn resized_size(width: usize, height: usize, n: usize) -> (usize, usize) {
    let long = |long: usize, short: usize| ((n * long) as f64 / short as f64) as usize;
    if width <= height {
        (n, long(height, width))
    } else {
        (long(width, height), n)
    }
}

/// torchvision's `center_crop` offset along one side: `int(round((len − n) / 2))` with
/// Python's half-to-even rounding, or the (negative) zero padding when `len < n`.
fn crop_offset(len: usize, n: usize) -> i64 {
    if len >= n {
        let d = (len - n) as i64;
        let half = d / 2;
        // d odd → x.5: round to the even neighbour.
        if d % 2 == 1 && half % 2 == 1 {
            half + 1
        } else {
            half
        }
    } else {
        -(((n - len) / 2) as i64)
    }
}

/// OpenAI's `_transform(n_px)` for one resolution, or open_clip's `image_transform` with a
/// model's own mean, standard deviation and resize mode.
#[derive(Clone, Copy, Debug)]
pub struct Preprocessor {
    resolution: usize,
    mean: [f32; 3],
    std: [f32; 3],
    squash: bool,
}

impl Preprocessor {
    /// The transform of a model whose input is `resolution × resolution`.
    ///
    /// # Panics
    /// If `resolution` is 0.
    pub fn new(resolution: usize) -> Self {
        assert!(resolution > 0, "resolution must be positive");
        Preprocessor {
            resolution,
            mean: MEAN,
            std: STD,
            squash: false,
        }
    }

    /// `Normalize(mean, std)` with a model's own values (open_clip's `preprocess_cfg`; 0.5
    /// for SigLIP and some LAION models) instead of OpenAI's.
    pub fn with_normalization(mut self, mean: [f32; 3], std: [f32; 3]) -> Self {
        (self.mean, self.std) = (mean, std);
        self
    }

    /// open_clip's `resize_mode="squash"`: both sides resized to the resolution, the aspect
    /// ratio not kept, nothing cropped (DFN's and SigLIP's models), instead of the short side
    /// resized and the centre cropped.
    pub fn with_squash(mut self, squash: bool) -> Self {
        self.squash = squash;
        self
    }

    /// The output side length.
    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// Resize, center crop and `convert("RGB")`: `[R, R, 3]` bytes, as `np.asarray` of the
    /// cropped PIL image.
    pub fn rgb(&self, image: &PilImage) -> Vec<u8> {
        let n = self.resolution;
        let (w, h) = image.size();
        let (out_w, out_h) = if self.squash {
            (n, n)
        } else {
            resized_size(w, h, n)
        };
        let window = Window {
            left: crop_offset(out_w, n),
            top: crop_offset(out_h, n),
            width: n,
            height: n,
        };
        image.resize_crop_rgb(out_w, out_h, window)
    }

    /// The whole transform: normalised `[3, R, R]` f32 pixels.
    pub fn pixels(&self, image: &PilImage) -> Vec<f32> {
        normalize_with(&self.rgb(image), self.mean, self.std)
    }

    /// Stacks preprocessed images into the `[N, 3, R, R]` tensor the encoders take.
    ///
    /// # Panics
    /// If an image does not hold `3 · R · R` values.
    pub fn to_tensor(&self, images: &[Vec<f32>], device: &Device) -> Tensor<4> {
        pixels_to_tensor(self.concat(images), self.resolution, device)
    }

    /// Preprocessed images laid end to end (`[N, 3, R, R]`, row-major).
    ///
    /// # Panics
    /// If an image does not hold `3 · R · R` values.
    pub fn concat(&self, images: &[Vec<f32>]) -> Vec<f32> {
        let r = self.resolution;
        if let Some(bad) = images.iter().find(|image| image.len() != 3 * r * r) {
            panic!("image of {} values is not [3, {r}, {r}]", bad.len());
        }
        images.concat()
    }
}

/// Preprocessed images laid end to end (`[N, 3, R, R]`, row-major) as the tensor the
/// encoders take.
///
/// # Panics
/// If `pixels` is not a whole number of `3 · R · R` images.
pub fn pixels_to_tensor(pixels: Vec<f32>, resolution: usize, device: &Device) -> Tensor<4> {
    let per = 3 * resolution * resolution;
    assert!(
        per > 0 && pixels.len().is_multiple_of(per),
        "{} values are not images of [3, {resolution}, {resolution}]",
        pixels.len()
    );
    let n = pixels.len() / per;
    Tensor::from_data(
        TensorData::new(pixels, [n, 3, resolution, resolution]),
        device,
    )
}

/// `ToTensor` + `Normalize` with OpenAI's mean and standard deviation: `[H, W, 3]` bytes →
/// `[3, H, W]` f32.
pub fn normalize(rgb: &[u8]) -> Vec<f32> {
    normalize_with(rgb, MEAN, STD)
}

/// `ToTensor` + `Normalize(mean, std)`: `[H, W, 3]` bytes → `[3, H, W]` f32, computed in f32
/// as torch does (`v / 255`, then `(x − mean) / std`).
pub fn normalize_with(rgb: &[u8], mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let n = rgb.len() / 3;
    let mut out = vec![0.0f32; rgb.len()];
    for c in 0..3 {
        let plane = &mut out[c * n..(c + 1) * n];
        for (o, px) in plane.iter_mut().zip(rgb.chunks_exact(3)) {
            *o = (f32::from(px[c]) / 255.0 - mean[c]) / std[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_aspect_with_truncation() {
        assert_eq!(resized_size(640, 480, 224), (298, 224));
        assert_eq!(resized_size(480, 640, 224), (224, 298));
        assert_eq!(resized_size(1, 1, 224), (224, 224));
        assert_eq!(resized_size(3000, 10, 224), (67200, 224));
    }

    #[test]
    fn crop_offset_rounds_half_to_even() {
        assert_eq!(crop_offset(225, 224), 0); // round(0.5) = 0
        assert_eq!(crop_offset(227, 224), 2); // round(1.5) = 2
        assert_eq!(crop_offset(229, 224), 2); // round(2.5) = 2
        assert_eq!(crop_offset(228, 224), 2);
        assert_eq!(crop_offset(220, 224), -2);
    }
}
