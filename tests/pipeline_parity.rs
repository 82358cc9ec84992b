//! The facade's `ClipPipeline` against OpenAI's code: features of texts given as strings and
//! of images given as files equal `encode_text(clip.tokenize(…))` / `encode_image(_transform(…))`
//! (fixtures from `reference/model_fixtures.py` and `reference/zeroshot_fixtures.py`), in
//! batches smaller than the input; bad input is an error naming it.

use clip::{ClipPipeline, Embeddings, Error};
use clip_tests::{agreement, fixture, read_npz};

const IMAGES: [&str; 3] = ["photo.png", "rgba.png", "palette.png"];
const LABELS: [&str; 3] = ["a diagram", "a dog", "a cat"];

fn tiny_vocab(batch: usize) -> ClipPipeline {
    let device = clip::device::Backend::Flex.device().unwrap();
    ClipPipeline::load(fixture("models/tiny-vocab/state_dict.pt"), &device)
        .unwrap()
        .batch_size(batch)
}

fn assert_matches(ours: &Embeddings, reference: &ndarray::ArrayD<f64>) {
    assert_eq!(ours.len(), reference.shape()[0]);
    let a = agreement(ours.as_slice(), reference);
    assert!(a.min_cosine >= 0.99999 && a.max_relative <= 1e-4, "{a:?}");
}

#[test]
fn texts_as_strings_match_the_reference() {
    let reference = read_npz(&fixture("models/tiny-vocab/reference.npz"));
    let text = std::fs::read_to_string(fixture("models/tiny-vocab/lines.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let ours = tiny_vocab(2).embed_texts(&lines).unwrap();
    assert_matches(&ours, &reference["text_features"]);

    // A text longer than the context fails, naming it, unless truncation is asked for.
    let long = ["word ".repeat(100)];
    let err = tiny_vocab(2).embed_texts(&long).unwrap_err();
    assert!(matches!(err, Error::Tokenizer(_)), "{err}");
    assert!(err.to_string().contains("too long"), "{err}");
    let cut = tiny_vocab(2).truncate(true).embed_texts(&long).unwrap();
    assert_eq!(cut.len(), 1);
}

#[test]
fn pixels_and_similarity_match_the_reference() {
    let reference = read_npz(&fixture("models/tiny-vocab/reference.npz"));
    let pixels = &reference["pixels"];
    let per = pixels.len() / pixels.shape()[0];
    let flat: Vec<f32> = pixels.iter().map(|&v| v as f32).collect();
    let images: Vec<Vec<f32>> = flat.chunks(per).map(<[f32]>::to_vec).collect();
    let clip = tiny_vocab(2);
    let ours = clip.embed_pixels(&images);
    assert_matches(&ours, &reference["image_features"]);

    // logits_per_image = exp(logit_scale) · cosine.
    let text = Embeddings::new(
        reference["text_features"]
            .iter()
            .map(|&v| v as f32)
            .collect(),
        ours.dim(),
    );
    let scale = reference["logit_scale"][[0]].exp();
    let logits = &reference["logits_per_image"];
    for (i, row) in ours.similarity(&text).iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            let expected = logits[[i, j]] / scale;
            assert!(
                (f64::from(s) - expected).abs() < 1e-5,
                "[{i}][{j}] {s} vs {expected}"
            );
        }
    }
}

#[test]
fn classify_gives_the_readme_probabilities() {
    let reference = read_npz(&fixture("zeroshot/reference.npz"));
    let probs = &reference["probs:a photo of a {}."];
    let clip = tiny_vocab(32);
    for (i, name) in IMAGES.iter().enumerate() {
        let ranked = clip
            .classify(
                fixture(&format!("images/{name}")),
                &LABELS,
                "a photo of a {}.",
            )
            .unwrap();
        assert_eq!(ranked.len(), LABELS.len());
        for (label, p) in ranked {
            let j = LABELS.iter().position(|l| *l == label).unwrap();
            assert!(
                (f64::from(p) - probs[[i, j]]).abs() < 1e-5,
                "{name} {label}"
            );
        }
    }
}

#[test]
fn image_files_match_their_preprocessed_pixels_and_bad_files_are_named() {
    let clip = tiny_vocab(2);
    let paths: Vec<_> = IMAGES
        .iter()
        .map(|n| fixture(&format!("images/{n}")))
        .collect();
    let from_files = clip.embed_images(&paths).unwrap();
    let pixels: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| clip.preprocessor().load(p).unwrap())
        .collect();
    assert_eq!(from_files, clip.embed_pixels(&pixels));

    let bad = [paths[0].clone(), fixture("models/bad/not_a_checkpoint.txt")];
    let err = clip.embed_images(&bad).unwrap_err();
    assert!(matches!(err, Error::Image(_)), "{err}");
    assert!(err.to_string().contains("not_a_checkpoint.txt"), "{err}");
    let err = clip
        .classify(&paths[0], &LABELS, "no placeholder")
        .unwrap_err();
    assert!(matches!(err, Error::ZeroShot(_)), "{err}");
}
