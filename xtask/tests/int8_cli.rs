//! `--dtype int8`: 8-bit linear layers and convolutions change the features a little, never
//! much, on both vision families.

mod common;

use common::{fixtures, npz_f32, stderr, xtask};
use ndarray::Array2;

/// `xtask embed` of the fixture images through `model`'s OpenAI checkpoint in `dtype`.
fn image_features(model: &str, dtype: &str, dir: &std::path::Path) -> Array2<f32> {
    let weights = fixtures(&format!("models/{model}/openai.pt"));
    let out = dir.join(format!("{model}-{dtype}.npz"));
    let images = ["images/photo.png", "images/photo.jpg", "images/rgba.png"].map(fixtures);
    let mut args = vec![
        "embed",
        "--weights",
        weights.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--dtype",
        dtype,
        "--images",
    ];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    let run = xtask(&args);
    assert!(run.status.success(), "{model} {dtype}: {}", stderr(&run));
    npz_f32(&out, "image_features")
        .into_dimensionality()
        .unwrap()
}

#[test]
fn int8_features_stay_within_a_thousandth_of_f32() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["tiny-vit", "tiny-rn"] {
        let f32 = image_features(model, "f32", dir.path());
        let int8 = image_features(model, "int8", dir.path());
        assert_eq!(f32.dim(), int8.dim());
        for (i, (a, b)) in f32.rows().into_iter().zip(int8.rows()).enumerate() {
            let cosine = a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
            assert!(cosine >= 0.999, "{model} image {i}: cosine {cosine}");
        }
        // The products did run in 8 bits.
        let moved = f32
            .iter()
            .zip(int8.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(moved > 1e-6, "{model}: int8 gave f32's features");
    }
}
