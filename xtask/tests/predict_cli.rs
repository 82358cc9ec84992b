//! `cargo xtask predict` against OpenAI's README example on the tiny full-vocabulary model
//! (fixture from `tests/reference/zeroshot_fixtures.py`), and its handling of bad input.

mod common;
use common::{assert_one_line_error, fixtures, stderr, xtask};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

fn predict(extra: &[&str]) -> std::process::Output {
    let weights = fixtures("models/tiny-vocab/state_dict.pt");
    let mut args = vec!["predict", "--weights", weights.to_str().unwrap()];
    args.extend(extra);
    xtask(&args)
}

/// Runs the README example on `backend` in `dtype`; `None` when the backend has no device
/// here (then the error must be one line naming the backend), else the printed
/// `(label, probability)` lines.
fn readme_example(backend: &str, dtype: &str) -> Option<Vec<(String, f64)>> {
    let image = fixtures("images/photo.png");
    let run = predict(&[
        "--image",
        image.to_str().unwrap(),
        "--labels",
        "a diagram, a dog,a cat",
        "--top-k",
        "2",
        "--backend",
        backend,
        "--dtype",
        dtype,
    ]);
    if !run.status.success() && backend == "cuda" {
        assert_one_line_error(&run, "the cuda backend", "cuda");
        return None;
    }
    assert!(run.status.success(), "{backend}: {}", stderr(&run));
    let stdout = String::from_utf8(run.stdout).unwrap();
    Some(
        stdout
            .lines()
            .map(|l| {
                let (label, p) = l.rsplit_once(": ").unwrap();
                (label.to_owned(), p.parse().unwrap())
            })
            .collect(),
    )
}

/// The reference's two most probable labels, best first.
fn expected_top2() -> Vec<(&'static str, f32)> {
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(fixtures("zeroshot/reference.npz")).unwrap())
            .unwrap();
    let probs = ArrayD::<f32>::read_npy(zip.by_name("probs:{}.npy").unwrap()).unwrap();
    let labels = ["a diagram", "a dog", "a cat"];
    let mut expected: Vec<(&str, f32)> = labels
        .iter()
        .enumerate()
        .map(|(j, l)| (*l, probs[[0, j]]))
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    expected.truncate(2);
    expected
}

fn assert_close(lines: &[(String, f64)], tolerance: f64, what: &str) {
    let expected = expected_top2();
    assert_eq!(lines.len(), 2, "{what}: {lines:?}");
    for ((label, p), (want_label, want)) in lines.iter().zip(&expected) {
        assert_eq!(label, want_label, "{what}");
        assert!(
            (p - f64::from(*want)).abs() <= tolerance,
            "{what} {label}: {p} vs {want}"
        );
    }
}

#[test]
fn prints_the_reference_probabilities_best_first() {
    let lines = readme_example("flex", "f32").unwrap();
    assert_close(&lines, 2e-6, "flex");
}

/// Every compiled backend gives the reference's answer; CUDA, where no GPU is present,
/// says so in one line.
#[test]
fn every_backend_gives_the_reference_probabilities() {
    for backend in ["ndarray", "wgpu", "cuda"] {
        if let Some(lines) = readme_example(backend, "f32") {
            assert_close(&lines, 1e-5, backend);
        }
    }
}

/// Half precision costs accuracy but not the answer.
#[test]
fn half_precision_is_close() {
    let lines = readme_example("flex", "f16").unwrap();
    assert_close(&lines, 1e-2, "flex f16");
}

/// 8-bit linear layers cost accuracy but not the answer, and do run: the probabilities
/// move. Only `flex` computes in int8; another backend says so in one line.
#[test]
fn int8_is_close_and_flex_only() {
    let int8 = readme_example("flex", "int8").unwrap();
    assert_close(&int8, 1e-2, "flex int8");
    let f32 = readme_example("flex", "f32").unwrap();
    assert!(
        int8.iter().zip(&f32).any(|(a, b)| (a.1 - b.1).abs() > 1e-6),
        "int8 gave f32's probabilities: {int8:?}"
    );
    let image = fixtures("images/photo.png");
    let run = predict(&[
        "--image",
        image.to_str().unwrap(),
        "--labels",
        "a,b",
        "--backend",
        "cuda",
        "--dtype",
        "int8",
    ]);
    assert_one_line_error(&run, "does not compute in int8", "cuda int8");
}

#[test]
fn bad_input_fails_with_one_line() {
    let image = fixtures("images/photo.png");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"nope").unwrap();
    for (args, needle) in [
        (
            vec!["--image", image.to_str().unwrap(), "--labels", " , "],
            "--labels is empty",
        ),
        (
            vec![
                "--image",
                image.to_str().unwrap(),
                "--labels",
                "a,b",
                "--template",
                "a photo",
            ],
            "exactly one {}",
        ),
        (
            vec!["--image", broken.to_str().unwrap(), "--labels", "a,b"],
            "broken.png",
        ),
    ] {
        let run = predict(&args);
        assert_one_line_error(&run, needle, &format!("{args:?}"));
    }
}
