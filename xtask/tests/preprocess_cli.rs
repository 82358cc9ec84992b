//! `cargo xtask preprocess` and `embed --images` on the committed test images
//! (`tests/reference/preprocess_fixtures.py`), good and bad.

mod common;
use common::{fixtures, npz_f32, stderr, xtask};

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn preprocess_writes_the_reference_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pixels.npy");
    let names = ["photo.png", "rgba.png", "gray16.png"];
    let images: Vec<PathBuf> = names
        .iter()
        .map(|n| fixtures(&format!("images/{n}")))
        .collect();
    let mut args = vec!["preprocess", "--resolution", "224", "--output", s(&out)];
    args.extend(images.iter().map(|p| s(p)));
    let run = xtask(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let ours: Array4<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(ours.shape(), [3, 3, 224, 224]);
    let reference = fixtures("preprocess/reference.npz");
    for (i, name) in names.iter().enumerate() {
        let expected = npz_f32(&reference, &format!("pixels:{name}@224"));
        let got = ours.index_axis(ndarray::Axis(0), i);
        let max = got
            .iter()
            .zip(expected.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max <= 1e-6, "{name}: max difference {max}");
    }
}

#[test]
fn bad_images_fail_cleanly_or_are_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.jpg");
    std::fs::write(&bad, b"not a jpeg at all").unwrap();
    let good = fixtures("images/tiny.png");
    let out = dir.path().join("pixels.npy");

    let run = xtask(&[
        "preprocess",
        "--resolution",
        "16",
        "--output",
        s(&out),
        s(&good),
        s(&bad),
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("broken.jpg") && err.contains("--skip-bad"),
        "{err}"
    );
    assert!(!out.exists(), "output written despite the error");

    let run = xtask(&[
        "preprocess",
        "--resolution",
        "16",
        "--skip-bad",
        "--output",
        s(&out),
        s(&good),
        s(&bad),
        s(&good),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("broken.jpg"), "{}", stderr(&run));
    let pixels: Array4<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(pixels.shape(), [3, 3, 16, 16], "one row per input");
    assert!(
        pixels
            .index_axis(ndarray::Axis(0), 1)
            .iter()
            .all(|v| v.is_nan())
    );
    assert!(
        pixels
            .index_axis(ndarray::Axis(0), 0)
            .iter()
            .all(|v| v.is_finite())
    );
    assert_eq!(
        pixels.index_axis(ndarray::Axis(0), 0),
        pixels.index_axis(ndarray::Axis(0), 2)
    );
    let listed = std::fs::read_to_string(dir.path().join("pixels.npy.skipped.tsv")).unwrap();
    assert!(
        listed.starts_with("1\t") && listed.contains("broken.jpg"),
        "{listed}"
    );
}

#[test]
fn embed_images_equals_embed_of_preprocessed_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let weights = fixtures("models/tiny-vocab/state_dict.pt");
    let images = [
        fixtures("images/photo.jpg"),
        fixtures("images/rgba.png"),
        fixtures("images/palette.gif"),
    ];
    let pixels = dir.path().join("pixels.npy");
    let mut args = vec!["preprocess", "--resolution", "32", "--output", s(&pixels)];
    args.extend(images.iter().map(|p| s(p)));
    assert!(xtask(&args).status.success());

    let from_pixels = dir.path().join("a.npz");
    let run = xtask(&[
        "embed",
        "--weights",
        s(&weights),
        "--pixels",
        s(&pixels),
        "--output",
        s(&from_pixels),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let from_images = dir.path().join("b.npz");
    let mut args = vec![
        "embed",
        "--weights",
        s(&weights),
        "--output",
        s(&from_images),
        "--batch-size",
        "2",
        "--images",
    ];
    args.extend(images.iter().map(|p| s(p)));
    let run = xtask(&args);
    assert!(run.status.success(), "{}", stderr(&run));

    let a: Array2<f32> = npz_f32(&from_pixels, "image_features")
        .into_dimensionality()
        .unwrap();
    let b: Array2<f32> = npz_f32(&from_images, "image_features")
        .into_dimensionality()
        .unwrap();
    assert_eq!(a.nrows(), 3);
    let max = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(max <= 1e-5, "features differ by {max}");
}
