//! `cargo xtask convert-weights` and `cargo xtask embed` on the tiny reference checkpoints
//! (`tests/reference/model_fixtures.py`), and their handling of bad input.

mod common;
use common::{fixtures, npz_f32, stderr, xtask};

fn models(name: &str) -> PathBuf {
    fixtures("models").join(name)
}

use std::path::PathBuf;

use ndarray::{Array2, Array4};

fn assert_close(ours: &ndarray::ArrayD<f32>, reference: &ndarray::ArrayD<f32>, what: &str) {
    assert_eq!(ours.shape(), reference.shape(), "{what}");
    for (a, b) in ours.outer_iter().zip(reference.outer_iter()) {
        let dot: f32 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
        let cos = dot
            / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
                * b.iter().map(|x| x * x).sum::<f32>().sqrt());
        let scale = b.iter().fold(0f32, |m, y| m.max(y.abs()));
        let diff = a
            .iter()
            .zip(b.iter())
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            cos >= 0.99999 && diff / scale <= 1e-4,
            "{what}: cos {cos}, rel {}",
            diff / scale
        );
    }
}

#[test]
fn converts_every_format_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    for (file, format) in [
        ("openai.pt", "TorchScript"),
        ("state_dict.pt", "state dict"),
        ("open_clip_wrapped.pt", "state dict"),
        ("open_clip.safetensors", "open_clip"),
        ("hf.safetensors", "Hugging Face"),
    ] {
        let out = dir.path().join(format!("{file}.safetensors"));
        let input = models("tiny-vit").join(file);
        let run = xtask(&[
            "convert-weights",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{file}: {}", stderr(&run));
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(stdout.contains(format), "{file}: {stdout}");
        assert!(stdout.contains("ViT (custom)"), "{file}: {stdout}");
        assert!(out.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{file}: output mode {mode:o}");
        }
    }
}

#[test]
fn embed_matches_the_reference_features() {
    let dir = tempfile::tempdir().unwrap();
    let model = models("tiny-vocab");
    let reference = model.join("reference.npz");
    // The reference pixels as the .npy `--pixels` takes.
    let pixels = npz_f32(&reference, "pixels");
    let pixels: Array4<f32> = pixels.into_dimensionality().unwrap();
    let pixels_path = dir.path().join("pixels.npy");
    ndarray_npy::write_npy(&pixels_path, &pixels).unwrap();
    let out = dir.path().join("out.npz");
    let run = xtask(&[
        "embed",
        "--weights",
        model.join("state_dict.pt").to_str().unwrap(),
        "--pixels",
        pixels_path.to_str().unwrap(),
        "--texts",
        model.join("lines.txt").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--batch-size",
        "2",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_close(
        &npz_f32(&out, "image_features"),
        &npz_f32(&reference, "image_features"),
        "image_features",
    );
    let text: Array2<f32> = npz_f32(&out, "text_features")
        .into_dimensionality()
        .unwrap();
    let expected = npz_f32(&reference, "text_features");
    let lines = std::fs::read_to_string(model.join("lines.txt"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(text.nrows(), lines);
    assert_close(
        &text.into_dyn(),
        &expected
            .slice(ndarray::s![..lines, ..])
            .to_owned()
            .into_dyn(),
        "text_features",
    );
}

#[test]
fn bad_checkpoints_give_one_error_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "truncated.pt",
        "missing_key.pt",
        "wrong_shape.pt",
        "not_a_checkpoint.txt",
        "random.bin",
    ] {
        let out = dir.path().join("out.safetensors");
        let input = models("bad").join(file);
        let run = xtask(&[
            "convert-weights",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(!run.status.success(), "{file} converted");
        let err = stderr(&run);
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{file}: {err}"
        );
        assert!(err.contains(file), "{file}: {err}");
        assert!(!out.exists(), "{file}: output written");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{file}: temp file left"
        );
    }
    let run = xtask(&[
        "convert-weights",
        "--input",
        "/nonexistent.pt",
        "--output",
        "/tmp/x.safetensors",
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("/nonexistent.pt"));
}

#[test]
fn embed_rejects_bad_input() {
    let model = models("tiny-vocab").join("state_dict.pt");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.npy");
    ndarray_npy::write_npy(&wrong, &Array4::<f32>::zeros((1, 3, 8, 8))).unwrap();
    let out = dir.path().join("o.npz");
    let run = xtask(&[
        "embed",
        "--weights",
        model.to_str().unwrap(),
        "--pixels",
        wrong.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("the model needs [N, 3, 32, 32]"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
    let run = xtask(&[
        "embed",
        "--weights",
        model.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("nothing to embed"));
}

#[test]
fn list_models_names_openai_and_open_clip_tags() {
    let run = xtask(&["list-models"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(
        out.lines().any(|l| l == "ViT-B/32\tOpenAI's release"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l
            == "ViT-bigG-14/laion2b_s39b_b160k\thf-hub:laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"),
        "{out}"
    );
    // SigLIP as open_clip builds it is offered; architectures not built here (CoCa, other
    // timm towers) are not.
    assert!(
        out.lines()
            .any(|l| l == "ViT-SO400M-14-SigLIP/webli\thf-hub:timm/ViT-SO400M-14-SigLIP"),
        "{out}"
    );
    assert!(!out.contains("coca") && !out.contains("convnext"), "{out}");
    let run = xtask(&["list-models", "bigg"]);
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(
        out.lines().count() >= 2 && out.lines().all(|l| l.contains("bigG")),
        "{out}"
    );
}
