//! open_clip's large-tower options against open_clip's own code (fixtures by
//! `reference/open_clip_fixtures.py`: a random-weight model built by `open_clip.model.CLIP`
//! with exact GELU, a head width other than 64 and bigG's MLP ratio, laid out as an hf-hub
//! repository): the configuration read from `open_clip_config.json` beside the weights, the
//! features, and `hf-hub:` downloading both files (from a server on 127.0.0.1).
//!
//! Target (issue 23): cosine ≥ 0.99999 and max relative error ≤ 1e-4.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use clip_model::{Clip, to_f32_vec};
use clip_nn::Activation;
use clip_tests::{Agreement, agreement, fixture, read_npz};
use clip_tokenizer::TokenBatch;

const WEIGHTS: &str = "open_clip_model.safetensors";
const CONFIG: &str = "open_clip_config.json";

/// Image and text features of `model` on the fixture's inputs, against open_clip's.
fn features(model: &Clip, dir: &Path) -> [Agreement; 2] {
    let device = Device::flex();
    let reference = read_npz(&dir.join("reference.npz"));
    let pixels = &reference["pixels"];
    let data: Vec<f32> = pixels.iter().map(|&v| v as f32).collect();
    let pixels = Tensor::<4>::from_data(TensorData::new(data, pixels.shape().to_vec()), &device);
    let tokens = &reference["tokens"];
    let ids: Vec<u32> = tokens.iter().map(|&v| v as u32).collect();
    let tokens = TokenBatch::from_ids(ids, tokens.shape()[1]).unwrap();
    [
        agreement(
            &to_f32_vec(model.encode_image(pixels)),
            &reference["image_features"],
        ),
        agreement(
            &to_f32_vec(model.encode_text(&tokens)),
            &reference["text_features"],
        ),
    ]
}

fn assert_matches(what: &str, model: &Clip, dir: &Path) {
    for (name, a) in ["image", "text"].iter().zip(features(model, dir)) {
        eprintln!("{what} {name} features: {a:?}");
        assert!(
            a.min_cosine >= 0.99999 && a.max_relative <= 1e-4,
            "{what} {name} features: {a:?}"
        );
    }
}

#[test]
fn large_tower_options_match_open_clip() {
    let dir = fixture("models/open-clip-gelu-96");
    let model = Clip::load(dir.join(WEIGHTS), &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    let config = &model.config;
    assert_eq!(config.activation, Activation::Gelu);
    assert_eq!(config.vision_head_width, 96, "from open_clip_config.json");
    assert_eq!(config.transformer_heads, 2, "from open_clip_config.json");
    assert_eq!(
        config.vision_mlp_width,
        Some(945),
        "from the weights' shapes"
    );
    assert_matches(
        "open_clip (GELU, head width 96, MLP ratio 4.9231)",
        &model,
        &dir,
    );

    // The weights alone: the shapes give the MLP width but not the activation or the heads,
    // and the features are then another model's.
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join(WEIGHTS), alone.path().join(WEIGHTS)).unwrap();
    let guessed = Clip::load(alone.path().join(WEIGHTS), &Device::flex()).unwrap();
    assert_eq!(guessed.config.activation, Activation::QuickGelu);
    let [image, text] = features(&guessed, &dir);
    assert!(
        image.max_relative > 1e-2 && text.max_relative > 1e-2,
        "{image:?} {text:?}"
    );

    // A broken configuration file is an error naming it, not a silent guess.
    std::fs::write(alone.path().join(CONFIG), "{\"model_cfg\": 3}").unwrap();
    let err = Clip::load(alone.path().join(WEIGHTS), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains(CONFIG), "{err}");
}

/// Serves `files` (URL path → bytes) on 127.0.0.1 until the process ends; 404 otherwise.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap_or(0);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match files.get(path) {
                Some(body) => ("200 OK", body.as_slice()),
                None => ("404 Not Found", &b"not found"[..]),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    base
}

#[test]
fn hf_hub_downloads_the_configuration_with_the_weights() {
    let dir = fixture("models/open-clip-gelu-96");
    let repo = "/laion/tiny-gelu/resolve/main";
    let files = HashMap::from([
        (
            format!("{repo}/{WEIGHTS}"),
            std::fs::read(dir.join(WEIGHTS)).unwrap(),
        ),
        (
            format!("{repo}/{CONFIG}"),
            std::fs::read(dir.join(CONFIG)).unwrap(),
        ),
    ]);
    let base = serve(files);
    let cache = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary that reads or writes the environment.
    unsafe {
        std::env::set_var("HF_ENDPOINT", &base);
        std::env::set_var("CLIP_CACHE_DIR", cache.path());
    }
    let model =
        Clip::load("hf-hub:laion/tiny-gelu", &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.config.activation, Activation::Gelu);
    assert_eq!(model.config.vision_head_width, 96);
    assert_matches("hf-hub:laion/tiny-gelu", &model, &dir);
}
