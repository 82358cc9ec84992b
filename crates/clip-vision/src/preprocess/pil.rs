//! Decoded images in the form Pillow holds them, and Pillow's conversions between modes.
//!
//! The reference resizes *before* converting to RGB, so the result depends on the mode the
//! file opened in: palette and bilevel images are resized nearest-neighbour, `LA`/`RGBA`
//! with premultiplied alpha, `I;16` in 16 bits. Keeping Pillow's mode is what makes the
//! pixels exact.

use super::resample::{Plane, Window, bicubic_window, nearest_window};

/// The Pillow modes an image file opens in, as far as CLIP's pipeline can tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `1`: bilevel (1-bit PNG), samples 0 or 255; resized nearest-neighbour.
    Bilevel,
    /// `L`: 8-bit grayscale.
    L,
    /// `LA`: grayscale with alpha.
    La,
    /// `P`: palette; stored here already looked up to RGB (what `convert("RGB")` yields),
    /// resized nearest-neighbour as Pillow does for `P`.
    Palette,
    /// `RGB`.
    Rgb,
    /// `RGBA`.
    Rgba,
    /// `CMYK` with Pillow's polarity (`CMYK;I`: 0 = no ink).
    Cmyk,
    /// `I;16`: 16-bit grayscale (16-bit grayscale PNG).
    I16,
}

impl Mode {
    /// Samples per pixel.
    pub fn bands(self) -> usize {
        match self {
            Mode::Bilevel | Mode::L | Mode::I16 => 1,
            Mode::La => 2,
            Mode::Palette | Mode::Rgb => 3,
            Mode::Rgba | Mode::Cmyk => 4,
        }
    }
}

/// The pixels of a decoded image.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Pixels {
    U8(Plane<u8>),
    U16(Plane<u16>),
}

/// A decoded image: its Pillow mode and pixels (row-major, bands interleaved).
#[derive(Clone, Debug, PartialEq)]
pub struct PilImage {
    pub(crate) mode: Mode,
    pub(crate) pixels: Pixels,
}

impl PilImage {
    /// An 8-bit image; `data` holds `width · height · mode.bands()` samples.
    ///
    /// # Panics
    /// If `mode` is [`Mode::I16`] or `data` has the wrong length.
    pub fn from_u8(mode: Mode, width: usize, height: usize, data: Vec<u8>) -> Self {
        assert!(mode != Mode::I16, "I;16 images hold u16 samples");
        assert_eq!(data.len(), width * height * mode.bands(), "sample count");
        let bands = mode.bands();
        PilImage {
            mode,
            pixels: Pixels::U8(Plane {
                width,
                height,
                bands,
                data,
            }),
        }
    }

    /// A 16-bit grayscale (`I;16`) image.
    ///
    /// # Panics
    /// If `data` does not hold `width · height` samples.
    pub fn from_u16(width: usize, height: usize, data: Vec<u16>) -> Self {
        assert_eq!(data.len(), width * height, "sample count");
        PilImage {
            mode: Mode::I16,
            pixels: Pixels::U16(Plane {
                width,
                height,
                bands: 1,
                data,
            }),
        }
    }

    /// The Pillow mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        match &self.pixels {
            Pixels::U8(p) => (p.width, p.height),
            Pixels::U16(p) => (p.width, p.height),
        }
    }

    /// The interleaved samples of an 8-bit image (`None` for `I;16`).
    pub fn samples_u8(&self) -> Option<&[u8]> {
        match &self.pixels {
            Pixels::U8(p) => Some(&p.data),
            Pixels::U16(_) => None,
        }
    }

    /// `Image.resize((out_w, out_h), BICUBIC)` followed by a crop to `window` and
    /// `convert("RGB")`: interleaved RGB bytes of the window.
    pub(crate) fn resize_crop_rgb(&self, out_w: usize, out_h: usize, window: Window) -> Vec<u8> {
        match (&self.pixels, self.mode) {
            (Pixels::U16(p), _) => {
                let out = bicubic_window(p, out_w, out_h, window);
                // `I16_RGB`: values above 255 saturate (Pillow does not rescale).
                out.data
                    .iter()
                    .flat_map(|&v| [v.min(255) as u8; 3])
                    .collect()
            }
            (Pixels::U8(p), Mode::Bilevel | Mode::Palette) => {
                to_rgb(self.mode, &nearest_window(p, out_w, out_h, window).data)
            }
            (Pixels::U8(p), Mode::La | Mode::Rgba) => {
                let premultiplied = Plane {
                    data: premultiply(&p.data, p.bands),
                    ..p.clone()
                };
                let mut out = bicubic_window(&premultiplied, out_w, out_h, window);
                unpremultiply(&mut out.data, out.bands);
                to_rgb(self.mode, &out.data)
            }
            (Pixels::U8(p), _) => to_rgb(self.mode, &bicubic_window(p, out_w, out_h, window).data),
        }
    }
}

/// `MULDIV255`: `a·b/255` rounded, in Pillow's integer form.
#[inline]
fn muldiv255(a: u32, b: u32) -> u32 {
    let t = a * b + 128;
    ((t >> 8) + t) >> 8
}

/// `RGBA → RGBa` / `LA → La` (`rgbA2rgba`, `lA2la`).
fn premultiply(data: &[u8], bands: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    for px in out.chunks_exact_mut(bands) {
        let (colour, alpha) = px.split_at_mut(bands - 1);
        for c in colour {
            *c = muldiv255(u32::from(*c), u32::from(alpha[0])) as u8;
        }
    }
    out
}

/// `RGBa → RGBA` / `La → LA` (`rgba2rgbA`, `la2lA`): integer division, clipped.
fn unpremultiply(data: &mut [u8], bands: usize) {
    for px in data.chunks_exact_mut(bands) {
        let (colour, alpha) = px.split_at_mut(bands - 1);
        let a = u32::from(alpha[0]);
        if a != 0 && a != 255 {
            for c in colour {
                *c = (255 * u32::from(*c) / a).min(255) as u8;
            }
        }
    }
}

/// `convert("RGB")` of interleaved samples in `mode`.
fn to_rgb(mode: Mode, data: &[u8]) -> Vec<u8> {
    match mode {
        Mode::Bilevel | Mode::L => data.iter().flat_map(|&v| [v; 3]).collect(),
        Mode::La => data.chunks_exact(2).flat_map(|p| [p[0]; 3]).collect(),
        Mode::Palette | Mode::Rgb => data.to_vec(),
        Mode::Rgba => data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        Mode::Cmyk => data
            .chunks_exact(4)
            .flat_map(|p| {
                // `cmyk2rgb`.
                let nk = 255 - u32::from(p[3]);
                [0, 1, 2].map(|i| nk.saturating_sub(muldiv255(u32::from(p[i]), nk)) as u8)
            })
            .collect(),
        Mode::I16 => unreachable!("I;16 is converted from u16 samples"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiply_round_trip_matches_pillow_formulas() {
        // Opaque and fully transparent pixels pass through; others lose precision as in Pillow.
        let mut px = premultiply(&[200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128], 4);
        assert_eq!(&px[..8], &[200, 100, 50, 255, 0, 0, 0, 0]);
        assert_eq!(&px[8..], &[100, 50, 25, 128]);
        unpremultiply(&mut px, 4);
        assert_eq!(&px[8..], &[199, 99, 49, 128]);
    }

    #[test]
    fn cmyk_uses_pillow_polarity() {
        assert_eq!(to_rgb(Mode::Cmyk, &[0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(to_rgb(Mode::Cmyk, &[255, 0, 0, 0]), [0, 255, 255]);
        assert_eq!(to_rgb(Mode::Cmyk, &[0, 0, 0, 255]), [0, 0, 0]);
    }
}
