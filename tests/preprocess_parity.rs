//! Image preprocessing against torchvision + Pillow running OpenAI's `_transform`
//! (fixtures from `reference/preprocess_fixtures.py`).
//!
//! Resizing, cropping and mode conversion must be exact (max difference 0 in 8 bits);
//! lossless files must decode exactly as Pillow decodes them; JPEG decoding (zune-jpeg vs
//! Pillow's libjpeg-turbo) is held to the bound measured below.

use std::collections::HashMap;
use std::sync::OnceLock;

use clip_tests::{fixture, read_npz};
use clip_vision::preprocess::{self, Mode, PilImage, Preprocessor};
use ndarray::ArrayD;

fn reference() -> &'static HashMap<String, ArrayD<f64>> {
    static REF: OnceLock<HashMap<String, ArrayD<f64>>> = OnceLock::new();
    REF.get_or_init(|| read_npz(&fixture("preprocess/reference.npz")))
}

/// Every image name in the fixture.
fn names() -> Vec<String> {
    let mut names: Vec<String> = reference()
        .keys()
        .filter_map(|k| k.strip_prefix("mode:").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn pillow_mode(name: &str) -> String {
    let bytes: Vec<u8> = reference()[&format!("mode:{name}")]
        .iter()
        .map(|&v| v as u8)
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// The resolutions the fixture holds for `name`.
fn resolutions(name: &str) -> Vec<usize> {
    let prefix = format!("rgb:{name}@");
    let mut rs: Vec<usize> = reference()
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix).map(|r| r.parse().unwrap()))
        .collect();
    rs.sort();
    rs
}

fn is_jpeg(name: &str) -> bool {
    name.ends_with(".jpg")
}

/// Pillow's decoded pixels as the Rust side holds them.
fn pillow_decoded(name: &str) -> PilImage {
    let a = &reference()[&format!("decoded:{name}")];
    let (h, w) = (a.shape()[0], a.shape()[1]);
    let mode = match pillow_mode(name).as_str() {
        "1" => Mode::Bilevel,
        "L" => Mode::L,
        "LA" => Mode::La,
        "P" => Mode::Palette,
        "RGB" => Mode::Rgb,
        "RGBA" => Mode::Rgba,
        "CMYK" => Mode::Cmyk,
        "I;16" => return PilImage::from_u16(w, h, a.iter().map(|&v| v as u16).collect()),
        other => panic!("{name}: mode {other} not covered"),
    };
    PilImage::from_u8(mode, w, h, a.iter().map(|&v| v as u8).collect())
}

/// Largest absolute difference and how many values differ.
fn diff(ours: &[u8], reference: &ArrayD<f64>) -> (u8, usize) {
    assert_eq!(ours.len(), reference.len(), "length");
    ours.iter()
        .zip(reference.iter())
        .fold((0, 0), |(max, count), (&a, &b)| {
            let d = (f64::from(a) - b).abs() as u8;
            (max.max(d), count + usize::from(d > 0))
        })
}

#[test]
fn fixture_covers_every_mode_and_resolution() {
    let modes: std::collections::BTreeSet<String> =
        names().iter().map(|n| pillow_mode(n)).collect();
    for mode in ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"] {
        assert!(
            modes.contains(mode),
            "no fixture image in mode {mode}: {modes:?}"
        );
    }
    assert_eq!(resolutions("photo.png"), [224, 288, 336, 384, 448]);
}

/// Pillow's own decoded pixels through our resize/crop/convert: exact for every mode,
/// size and resolution.
#[test]
fn resize_crop_convert_is_exact() {
    let mut failures = Vec::new();
    for name in names() {
        let image = pillow_decoded(&name);
        for r in resolutions(&name) {
            let ours = Preprocessor::new(r).rgb(&image);
            let (max, count) = diff(&ours, &reference()[&format!("rgb:{name}@{r}")]);
            if max > 0 {
                failures.push(format!("{name}@{r}: {count} values differ, max {max}"));
            }
        }
    }
    assert!(failures.is_empty(), "not exact:\n{}", failures.join("\n"));
}

/// JPEG decoding (zune-jpeg) against libjpeg-turbo: the measured bound (see `files_end_to_end`).
const JPEG_DECODE_MAX: u8 = 4;

/// Our decoders open every file in Pillow's mode; lossless files decode exactly.
#[test]
fn decoding_matches_pillow() {
    let mut failures = Vec::new();
    for name in names() {
        let ours = preprocess::open(fixture(&format!("images/{name}"))).unwrap();
        let theirs = pillow_decoded(&name);
        if ours.mode() != theirs.mode() || ours.size() != theirs.size() {
            failures.push(format!(
                "{name}: ours {:?} {:?}, Pillow {:?} {:?}",
                ours.mode(),
                ours.size(),
                theirs.mode(),
                theirs.size()
            ));
        } else if is_jpeg(&name) {
            let samples = ours.samples_u8().expect("JPEGs decode to 8 bits");
            let (max, count) = diff(samples, &reference()[&format!("decoded:{name}")]);
            eprintln!("{name}: decoded max diff {max}, {count} values differ");
            if max > JPEG_DECODE_MAX {
                failures.push(format!("{name}: decoded values differ by up to {max}"));
            }
        } else if ours != theirs {
            failures.push(format!("{name}: pixels differ"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Files end to end: exact for lossless formats; JPEGs within the decoder bound.
#[test]
fn files_end_to_end() {
    // zune-jpeg and Pillow's libjpeg-turbo differ in IDCT rounding (±1 without chroma
    // subsampling) and in fancy chroma upsampling (zune rounds between its vertical and
    // horizontal passes): measured max 1 (gray, CMYK), 2 (4:4:4), 3 (4:2:2), 4 (4:2:0).
    const JPEG_MAX: u8 = 4;
    let mut failures = Vec::new();
    for name in names() {
        let image = preprocess::open(fixture(&format!("images/{name}"))).unwrap();
        for r in resolutions(&name) {
            let ours = Preprocessor::new(r).rgb(&image);
            let (max, count) = diff(&ours, &reference()[&format!("rgb:{name}@{r}")]);
            let bound = if is_jpeg(&name) { JPEG_MAX } else { 0 };
            eprintln!("{name}@{r}: max diff {max}, {count} values differ");
            if max > bound {
                failures.push(format!(
                    "{name}@{r}: {count} values differ, max {max} > {bound}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ToTensor` + `Normalize` in f32 as torch computes them.
#[test]
fn normalised_pixels_match_torch() {
    let keys: Vec<&String> = reference()
        .keys()
        .filter(|k| k.starts_with("pixels:"))
        .collect();
    assert!(!keys.is_empty());
    for key in keys {
        let (name, r) = key["pixels:".len()..].split_once('@').unwrap();
        let image = pillow_decoded(name);
        let ours = Preprocessor::new(r.parse().unwrap()).pixels(&image);
        let reference = &reference()[key.as_str()];
        let max = ours
            .iter()
            .zip(reference.iter())
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(max <= 1e-6, "{key}: max difference {max}");
    }
}

#[test]
fn bad_files_fail_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("images/photo.png")).unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("truncated.png", &good[..good.len() / 2], "invalid PNG"),
        (
            "text.jpg",
            b"definitely not an image",
            "not an image format",
        ),
        ("empty.png", b"", "not an image format"),
        (
            "truncated.jpg",
            &std::fs::read(fixture("images/photo.jpg")).unwrap()[..300],
            "JPEG",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = preprocess::open(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
    let err = preprocess::open(dir.path().join("missing.png"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.png"), "{err}");
}
