//! `cargo xtask eval --dataset imagefolder` against OpenAI's notebook on the tiny
//! full-vocabulary model (fixture from `tests/reference/zeroshot_fixtures.py`).

mod common;
use common::assert_one_line_error;

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn eval(args: &[&str]) -> std::process::Output {
    let weights = repo("tests/fixtures/models/tiny-vocab/state_dict.pt");
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["eval", "--weights", weights.to_str().unwrap()])
        .args(args)
        .output()
        .expect("xtask runs")
}

#[test]
fn imagefolder_accuracy_matches_the_reference_logits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    // Sorted class directories = the first five CIFAR-10 classes, as in the fixture.
    for (class, image) in [
        ("airplane", "photo.png"),
        ("automobile", "rgba.png"),
        ("bird", "palette.png"),
    ] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        std::fs::copy(
            repo(&format!("tests/fixtures/images/{image}")),
            root.join(class).join(image),
        )
        .unwrap();
    }
    for class in ["cat", "deer"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    let report = dir.path().join("report.json");
    let templates = repo("crates/clip-zeroshot/data/cifar/templates.txt");
    let run = eval(&[
        "--dataset",
        "imagefolder",
        "--data-dir",
        root.to_str().unwrap(),
        "--templates",
        templates.to_str().unwrap(),
        "--batch-size",
        "2",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let mut zip = zip::ZipArchive::new(
        std::fs::File::open(repo("tests/fixtures/zeroshot/reference.npz")).unwrap(),
    )
    .unwrap();
    let logits = ArrayD::<f32>::read_npy(zip.by_name("logits.npy").unwrap()).unwrap();
    let correct = (0..3)
        .filter(|&i| {
            (0..5)
                .max_by(|&a, &b| logits[[i, a]].total_cmp(&logits[[i, b]]))
                .unwrap()
                == i
        })
        .count();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["images"], 3);
    assert_eq!(report["classes"], 5);
    assert_eq!(report["templates"], 18);
    assert!(
        (report["top1"].as_f64().unwrap() - correct as f64 / 3.0).abs() < 1e-9,
        "{report}"
    );
    assert_eq!(report["top5"], 1.0);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        stdout.contains("Top-1") && stdout.contains("Top-5"),
        "{stdout}"
    );
}

#[test]
fn bad_datasets_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("cat")).unwrap();
    let out = dir.path().join("r.json");
    for (args, needle) in [
        (
            vec![
                "--dataset",
                "imagefolder",
                "--data-dir",
                dir.path().join("missing").to_str().unwrap(),
            ],
            "missing",
        ),
        (
            vec![
                "--dataset",
                "imagefolder",
                "--data-dir",
                empty.to_str().unwrap(),
            ],
            "no images",
        ),
    ] {
        let mut args = args;
        args.extend(["--output", out.to_str().unwrap()]);
        let run = eval(&args);
        assert_one_line_error(&run, needle, &format!("{args:?}"));
        assert!(!out.exists());
    }
}
