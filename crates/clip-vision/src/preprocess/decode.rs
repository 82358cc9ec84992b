//! File bytes → [`PilImage`] in the mode Pillow would open it in.
//!
//! PNG is read with the `png` crate so the original colour type survives (Pillow keeps
//! palette images as `P`, ignores `tRNS` on grayscale/RGB, opens 16-bit grayscale as `I;16`
//! and keeps only the high byte of other 16-bit samples). JPEG is read with `zune-jpeg`
//! (the `image` crate's decoder) so CMYK stays CMYK until after the resize. Every other
//! format goes through the `image` crate.

use std::io::Cursor;

use super::pil::{Mode, PilImage};

/// Pillow's decompression-bomb limit (`2 · MAX_IMAGE_PIXELS`): larger images are refused.
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Decodes an image file's bytes; the error says what is wrong (the caller adds the path).
pub fn decode(bytes: &[u8]) -> Result<PilImage, String> {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Png) => decode_png(bytes),
        Ok(image::ImageFormat::Jpeg) => decode_jpeg(bytes),
        Ok(format) => decode_other(bytes, format),
        Err(_) => Err("not an image format this tool reads".into()),
    }
}

fn check_size(width: u64, height: u64) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("image has no pixels ({width}×{height})"));
    }
    if width * height > MAX_PIXELS {
        return Err(format!(
            "image is {width}×{height}, more than {MAX_PIXELS} pixels (a decompression bomb?)"
        ));
    }
    Ok(())
}

fn decode_png(bytes: &[u8]) -> Result<PilImage, String> {
    use png::{BitDepth, ColorType, Transformations};
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("invalid PNG: {e}"))?;
    let (color, depth) = (reader.info().color_type, reader.info().bit_depth);
    let (width, height) = reader.info().size();
    check_size(width.into(), height.into())?;
    let size = reader.output_buffer_size().ok_or("PNG is too large")?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("invalid PNG: {e}"))?;
    buf.truncate(frame.buffer_size());
    let (out_color, out_depth) = reader.output_color_type();
    let (w, h) = (width as usize, height as usize);
    let n = w * h;
    let channels = out_color.samples();
    let sixteen = out_depth == BitDepth::Sixteen;
    // One sample: the high byte of 16-bit samples (Pillow's `;16B` unpackers).
    let sample = |i: usize| if sixteen { buf[2 * i] } else { buf[i] };
    // The first `keep` channels of every pixel (dropping alpha that EXPAND made from tRNS).
    let take = |keep: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|p| (0..keep).map(move |c| p * channels + c))
            .map(sample)
            .collect()
    };
    let image = match (color, depth) {
        (ColorType::Grayscale, BitDepth::Sixteen) => {
            let data = (0..n)
                .map(|p| u16::from_be_bytes([buf[2 * p * channels], buf[2 * p * channels + 1]]))
                .collect();
            PilImage::from_u16(w, h, data)
        }
        (ColorType::Grayscale, BitDepth::One) => PilImage::from_u8(Mode::Bilevel, w, h, take(1)),
        (ColorType::Grayscale, _) => PilImage::from_u8(Mode::L, w, h, take(1)),
        (ColorType::Rgb, _) => PilImage::from_u8(Mode::Rgb, w, h, take(3)),
        (ColorType::Indexed, _) => PilImage::from_u8(Mode::Palette, w, h, take(3)),
        // Pillow opens 16-bit LA as RGBA (`LA;16B`).
        (ColorType::GrayscaleAlpha, BitDepth::Sixteen) => {
            let data =
                (0..n).flat_map(|p| [sample(2 * p); 3].into_iter().chain([sample(2 * p + 1)]));
            PilImage::from_u8(Mode::Rgba, w, h, data.collect())
        }
        (ColorType::GrayscaleAlpha, _) => PilImage::from_u8(Mode::La, w, h, take(2)),
        (ColorType::Rgba, _) => PilImage::from_u8(Mode::Rgba, w, h, take(4)),
    };
    Ok(image)
}

fn decode_jpeg(bytes: &[u8]) -> Result<PilImage, String> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    let invalid = |e: zune_jpeg::errors::DecodeErrors| format!("invalid JPEG: {e}");
    let mut probe = zune_jpeg::JpegDecoder::new(ZCursor::new(bytes));
    probe.decode_headers().map_err(invalid)?;
    let info = probe.info().ok_or("invalid JPEG: no frame header")?;
    check_size(info.width.into(), info.height.into())?;
    // Pillow keeps CMYK as CMYK (libjpeg turns YCCK into CMYK); grayscale stays `L`.
    let (out, mode) = match probe.input_colorspace() {
        Some(ColorSpace::Luma) => (ColorSpace::Luma, Mode::L),
        Some(ColorSpace::CMYK) => (ColorSpace::CMYK, Mode::Cmyk),
        // YCCK: zune-jpeg converts to RGB itself (before the resize, unlike Pillow).
        _ => (ColorSpace::RGB, Mode::Rgb),
    };
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(out)
        .set_strict_mode(false);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let mut data = decoder.decode().map_err(invalid)?;
    if mode == Mode::Cmyk {
        // Pillow reads CMYK JPEGs as `CMYK;I` (Adobe's inverted polarity).
        data.iter_mut().for_each(|v| *v = 255 - *v);
    }
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    if data.len() != w * h * mode.bands() {
        return Err("invalid JPEG: decoded size does not match its header".into());
    }
    Ok(PilImage::from_u8(mode, w, h, data))
}

fn decode_other(bytes: &[u8], format: image::ImageFormat) -> Result<PilImage, String> {
    use image::DynamicImage as D;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| format!("cannot decode {format:?}: {e}"))?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    check_size(w as u64, h as u64)?;
    // GIFs open as `P` in Pillow: resized nearest-neighbour, alpha ignored.
    let gif = format == image::ImageFormat::Gif;
    Ok(match decoded {
        D::ImageLuma8(b) => PilImage::from_u8(Mode::L, w, h, b.into_raw()),
        D::ImageLumaA8(b) => PilImage::from_u8(Mode::La, w, h, b.into_raw()),
        D::ImageRgb8(b) => PilImage::from_u8(
            if gif { Mode::Palette } else { Mode::Rgb },
            w,
            h,
            b.into_raw(),
        ),
        D::ImageRgba8(b) if gif => {
            let rgb = b
                .into_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            PilImage::from_u8(Mode::Palette, w, h, rgb)
        }
        D::ImageRgba8(b) => PilImage::from_u8(Mode::Rgba, w, h, b.into_raw()),
        D::ImageLuma16(b) => PilImage::from_u16(w, h, b.into_raw()),
        other if other.color().has_alpha() => {
            PilImage::from_u8(Mode::Rgba, w, h, other.to_rgba8().into_raw())
        }
        other => PilImage::from_u8(Mode::Rgb, w, h, other.to_rgb8().into_raw()),
    })
}
