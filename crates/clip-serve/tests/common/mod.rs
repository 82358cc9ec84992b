//! A server on 127.0.0.1 (a free port) over the shipped tiny model, with the four example
//! images embedded and indexed, and a small HTTP client.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use clip::ClipPipeline;
use clip_collection::{Collection, EmbedOptions, Index, IndexKind, Inputs};
use clip_serve::{BatchOptions, Limits, Running, Server};
use serde_json::Value;

pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

pub fn weights() -> PathBuf {
    repo("weights/tiny-shapes.safetensors")
}

pub fn example(name: &str) -> PathBuf {
    repo("weights/examples").join(name)
}

pub fn pipeline() -> ClipPipeline {
    let device = clip::device::Backend::Flex.device().unwrap();
    ClipPipeline::load(weights(), &device).unwrap()
}

/// The example images as a collection, indexed exactly, in `dir`.
pub fn collection(dir: &Path) -> Index {
    let pipeline = pipeline();
    let collection = Collection::at(dir.join("examples.clip"));
    let inputs = Inputs::open(&[repo("weights/examples")]).unwrap();
    let options = EmbedOptions {
        weights: weights().display().to_string(),
        ..EmbedOptions::default()
    };
    clip_collection::embed_collection(pipeline.model(), &inputs, &collection, &options, |_| {})
        .unwrap();
    clip_collection::build_index(&collection, IndexKind::Exact).unwrap();
    Index::open(collection.root()).unwrap()
}

/// A server as configured by `build`, with the examples' index (kept in `dir`).
pub fn start_with(
    dir: &Path,
    batch: BatchOptions,
    limits: Limits,
    build: impl FnOnce(Server) -> Server,
) -> Running {
    let server = Server::new(pipeline(), "tiny-shapes")
        .batching(batch)
        .limits(limits)
        .index(collection(dir))
        .unwrap();
    build(server).start("127.0.0.1:0").unwrap()
}

pub fn start(dir: &Path) -> Running {
    start_with(dir, BatchOptions::default(), Limits::default(), |s| s)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// POST `body` (sent as is) with `content_type`.
pub fn post_raw(server: &Running, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let url = format!("http://{}{path}", server.addr());
    answer(
        agent()
            .post(&url)
            .header("content-type", content_type)
            .send(&body[..]),
    )
}

pub fn post(server: &Running, path: &str, body: &Value) -> (u16, Value) {
    post_raw(
        server,
        path,
        "application/json",
        body.to_string().into_bytes(),
    )
}

pub fn get(server: &Running, path: &str) -> (u16, Value) {
    answer(
        agent()
            .get(&format!("http://{}{path}", server.addr()))
            .call(),
    )
}

/// GET `path`: status, content type and body bytes.
pub fn get_bytes(server: &Running, path: &str) -> (u16, String, Vec<u8>) {
    let mut response = agent()
        .get(&format!("http://{}{path}", server.addr()))
        .call()
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = response.status().as_u16();
    (
        status,
        content_type,
        response.body_mut().read_to_vec().unwrap(),
    )
}

/// A file as a data URL.
pub fn data_url(path: &Path) -> String {
    use base64::Engine;
    let bytes = std::fs::read(path).unwrap();
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A multipart/form-data body of `(name, filename, bytes)` parts, and its content type.
pub fn multipart(parts: &[(&str, Option<&str>, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "clip-serve-test-boundary";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
        );
        if let Some(file) = filename {
            body.extend(format!("; filename=\"{file}\"\r\nContent-Type: image/jpeg").bytes());
        }
        body.extend(b"\r\n\r\n");
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The `embedding` arrays of an embeddings answer.
pub fn vectors(body: &Value) -> Vec<Vec<f32>> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
