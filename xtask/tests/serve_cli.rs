//! `cargo xtask serve` as an operator runs it: its embeddings are `embed`'s, it says where it
//! listens, and SIGTERM stops it cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{Value, json};

fn repo(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn post(addr: &str, body: &Value) -> Value {
    let mut response = ureq::post(&format!("http://{addr}/v1/embeddings"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn rows(body: &Value) -> Vec<Vec<f32>> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
        .collect()
}

/// Each served row within 1e-6 of `embed`'s.
fn assert_close(got: &[Vec<f32>], want: &ndarray::Array2<f32>, what: &str) {
    assert_eq!(got.len(), want.nrows(), "{what}s");
    for (i, row) in got.iter().enumerate() {
        let diff = row
            .iter()
            .zip(want.row(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff <= 1e-6, "{what} {i}: {diff}");
    }
}

#[test]
fn serve_answers_what_embed_writes_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let weights = repo("weights/tiny-shapes.safetensors");
    let images = [
        repo("weights/examples/red-circle.jpg"),
        repo("weights/examples/pink-triangle.jpg"),
    ];
    let texts = ["a photo of a red circle.", "a pink triangle", "cyan bar"];
    let texts_file = dir.path().join("texts.txt");
    std::fs::write(&texts_file, texts.join("\n")).unwrap();
    let npz = dir.path().join("features.npz");
    let run = xtask(&[
        "embed",
        "--weights",
        weights.to_str().unwrap(),
        "--images",
        images[0].to_str().unwrap(),
        images[1].to_str().unwrap(),
        "--texts",
        texts_file.to_str().unwrap(),
        "--output",
        npz.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let want_images = npz_f32(&npz, "image_features")
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let want_texts = npz_f32(&npz, "text_features")
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "serve",
            "--weights",
            weights.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    log.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();

    let got = rows(&post(&addr, &json!({"input": texts})));
    assert_close(&got, &want_texts, "text");
    let input: Vec<Value> = images
        .iter()
        .map(|p| {
            let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
            json!({"type": "image", "image": format!("data:image/jpeg;base64,{data}")})
        })
        .collect();
    let got = rows(&post(&addr, &json!({"input": input})));
    assert_close(&got, &want_images, "image");

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("shutting down"), "{rest}");
}

#[test]
fn serve_without_a_model_or_with_a_bad_address_is_one_line_error() {
    assert_one_line_error(&xtask(&["serve"]), "--weights", "no weights");
    let weights = repo("weights/tiny-shapes.safetensors");
    let w = weights.to_str().unwrap();
    let run = xtask(&["serve", "--weights", w, "--addr", "127.0.0.1:99999"]);
    assert_one_line_error(&run, "cannot listen on 127.0.0.1:99999", "bad port");
    let dir = tempfile::tempdir().unwrap();
    let run = xtask(&["serve", "--index", dir.path().to_str().unwrap()]);
    assert_one_line_error(&run, "no index", "no index");
}
