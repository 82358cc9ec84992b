//! Workspace integration and parity tests. The tests are the `[[test]]`
//! targets beside this file; `fixtures/` holds what the reference scripts in
//! `reference/` wrote.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// Path of a file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// The arrays of an `.npz` written by `numpy.savez`, as f64 (ints and floats alike;
/// f32, f64, i64, u8 and u16 arrays).
pub fn read_npz(path: &Path) -> HashMap<String, ArrayD<f64>> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut zip = zip::ZipArchive::new(file).expect("npz is a zip");
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).unwrap();
        let name = member
            .name()
            .expect("utf-8 member name")
            .trim_end_matches(".npy")
            .to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).unwrap();
        let array = ArrayD::<f32>::read_npy(&bytes[..])
            .map(|a| a.mapv(f64::from))
            .or_else(|_| ArrayD::<f64>::read_npy(&bytes[..]))
            .or_else(|_| ArrayD::<i64>::read_npy(&bytes[..]).map(|a| a.mapv(|v| v as f64)))
            .or_else(|_| ArrayD::<u8>::read_npy(&bytes[..]).map(|a| a.mapv(f64::from)))
            .or_else(|_| ArrayD::<u16>::read_npy(&bytes[..]).map(|a| a.mapv(f64::from)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(name, array);
    }
    out
}

/// Row-wise agreement of two `[rows, dim]` matrices.
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    /// Smallest cosine similarity over rows.
    pub min_cosine: f64,
    /// Largest `max|a − b| / max|b|` over rows.
    pub max_relative: f64,
}

/// Compares `ours` to `reference` row by row.
pub fn agreement(ours: &[f32], reference: &ArrayD<f64>) -> Agreement {
    let shape = reference.shape();
    assert_eq!(shape.len(), 2, "reference is not a matrix");
    assert_eq!(ours.len(), shape[0] * shape[1], "element count differs");
    let reference: Vec<f64> = reference.iter().copied().collect();
    let mut min_cosine = f64::INFINITY;
    let mut max_relative: f64 = 0.0;
    for (a, b) in ours.chunks(shape[1]).zip(reference.chunks(shape[1])) {
        let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * y).sum();
        let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
        min_cosine = min_cosine.min(dot / (na * nb));
        let scale = b.iter().fold(0.0f64, |m, y| m.max(y.abs()));
        let diff = a
            .iter()
            .zip(b)
            .fold(0.0f64, |m, (&x, y)| m.max((f64::from(x) - y).abs()));
        max_relative = max_relative.max(diff / scale);
    }
    Agreement {
        min_cosine,
        max_relative,
    }
}

/// A backend the parity tests run on.
pub struct TestDevice {
    /// Backend name for messages.
    pub name: &'static str,
    pub device: burn::tensor::Device,
}

/// The devices the parity tests cover: flex (the default CPU backend) always, and with the
/// `wgpu` feature (on by default) wgpu's default adapter too — in CI, software Vulkan
/// (Debian's `mesa-vulkan-drivers`). A machine without any Vulkan driver fails here with a
/// message saying what to install, rather than silently testing less.
pub fn test_devices() -> Vec<TestDevice> {
    #[allow(unused_mut)]
    let mut devices = vec![TestDevice {
        name: "flex",
        device: burn::tensor::Device::flex(),
    }];
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::{Device, DeviceKind, Tensor};
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        let probe = std::panic::catch_unwind(|| {
            Tensor::<1>::from_floats([2.0], &device)
                .sum()
                .into_scalar::<f32>()
        });
        assert!(
            matches!(probe, Ok(v) if v == 2.0),
            "the wgpu backend has no adapter: install a Vulkan driver (Debian: \
             mesa-vulkan-drivers) or run the tests with --no-default-features"
        );
        devices.push(TestDevice {
            name: "wgpu",
            device,
        });
    }
    devices
}

/// Serves `files` (URL path → bytes) on 127.0.0.1 until the process ends; 404 otherwise.
pub fn serve(files: HashMap<String, Vec<u8>>) -> String {
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

/// Runs `f` with `HF_ENDPOINT` at `base` and the download cache in `cache`; one test at a time
/// (the environment is the process's).
pub fn with_endpoint<T>(base: &str, cache: &Path, f: impl FnOnce() -> T) -> T {
    static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_us = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: every test of this binary that touches the environment holds the lock.
    unsafe {
        std::env::set_var("HF_ENDPOINT", base);
        std::env::set_var("CLIP_CACHE_DIR", cache);
    }
    f()
}

/// A fixture's `pixels` and `tokens` arrays as the model's inputs on `device`.
pub fn model_inputs(
    reference: &HashMap<String, ArrayD<f64>>,
    device: &burn::tensor::Device,
) -> (burn::tensor::Tensor<4>, clip_tokenizer::TokenBatch) {
    use burn::tensor::{Tensor, TensorData};
    let pixels = &reference["pixels"];
    let data: Vec<f32> = pixels.iter().map(|&v| v as f32).collect();
    let pixels = Tensor::<4>::from_data(TensorData::new(data, pixels.shape().to_vec()), device);
    let tokens = &reference["tokens"];
    let ids: Vec<u32> = tokens.iter().map(|&v| v as u32).collect();
    let tokens = clip_tokenizer::TokenBatch::from_ids(ids, tokens.shape()[1]).expect("whole rows");
    (pixels, tokens)
}
