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
        .env(
            "CLIP_CACHE_DIR",
            std::env::temp_dir().join(format!("clip-eval-cli-{}", std::process::id())),
        )
        .output()
        .expect("xtask runs")
}

/// How many of the three fixture images OpenAI's notebook classifies correctly among the
/// first five CIFAR-10 classes (tests/fixtures/zeroshot/reference.npz).
fn reference_correct() -> usize {
    let mut zip = zip::ZipArchive::new(
        std::fs::File::open(repo("tests/fixtures/zeroshot/reference.npz")).unwrap(),
    )
    .unwrap();
    let logits = ArrayD::<f32>::read_npy(zip.by_name("logits.npy").unwrap()).unwrap();
    (0..3)
        .filter(|&i| {
            (0..5)
                .max_by(|&a, &b| logits[[i, a]].total_cmp(&logits[[i, b]]))
                .unwrap()
                == i
        })
        .count()
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

    let correct = reference_correct();
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

    // The same weights, classes and templates again: the classifier comes from the cache.
    let again = eval(&[
        "--dataset",
        "imagefolder",
        "--data-dir",
        root.to_str().unwrap(),
        "--templates",
        templates.to_str().unwrap(),
        "--output",
        dir.path().join("again.json").to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("from the cache"));
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("again.json")).unwrap())
            .unwrap();
    assert_eq!(second["top1"], report["top1"]);
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

#[test]
fn cifar_accuracy_matches_the_reference() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/fixtures/cifar/zeroshot.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["cifar10", "cifar100"] {
        let report = dir.path().join(format!("{name}.json"));
        let run = eval(&[
            "--dataset",
            name,
            "--data-dir",
            repo("tests/fixtures/cifar").to_str().unwrap(),
            "--output",
            report.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let ours: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        for key in ["top1", "top5"] {
            let hits = reference[name][format!("{key}_hits")].as_array().unwrap();
            let want =
                hits.iter().filter(|h| h.as_bool().unwrap()).count() as f64 / hits.len() as f64;
            assert_eq!(ours[key].as_f64().unwrap(), want, "{name} {key}");
        }
        assert_eq!(ours["images"], 3);
    }
    let run = eval(&[
        "--dataset",
        "cifar10",
        "--data-dir",
        repo("tests/fixtures/cifar/bad").to_str().unwrap(),
    ]);
    assert_one_line_error(&run, "test_batch", "truncated CIFAR batch");
}

#[test]
fn linear_probe_runs_on_cifar_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("probe.json");
    for extra in [&["--c", "0.316"][..], &[][..]] {
        let mut args = vec![
            "--dataset",
            "cifar10",
            "--data-dir",
            "../tests/fixtures/cifar",
            "--linear-probe",
            "--output",
            report.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let fixtures = repo("tests/fixtures/cifar");
        args[3] = fixtures.to_str().unwrap();
        let run = eval(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let ours: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(ours["mode"], "linear_probe");
        assert_eq!(ours["train_images"], 10);
        assert_eq!(ours["images"], 3);
        let top1 = ours["top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1));
        let swept = ours["sweep"].as_array().unwrap();
        assert_eq!(swept.len(), if extra.is_empty() { 25 } else { 0 });
        assert!(swept.iter().all(|p| p["iterations"].is_u64()));
        // The final fit says how it ended: it converged, to its tolerance.
        let probe = &ours["probe"];
        assert!(probe["iterations"].as_u64().unwrap() > 0, "{probe}");
        assert_eq!(probe["converged"], true, "{probe}");
        assert_eq!(probe["stop"], "converged", "{probe}");
        let gradient = probe["gradient_norm"].as_f64().unwrap();
        assert!(
            gradient <= probe["gradient_tolerance"].as_f64().unwrap(),
            "{probe}"
        );
    }
    let tree = dir.path().join("tree/a");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::copy(
        repo("tests/fixtures/images/photo.png"),
        tree.join("photo.png"),
    )
    .unwrap();
    let run = eval(&[
        "--dataset",
        "imagefolder",
        "--data-dir",
        dir.path().join("tree").to_str().unwrap(),
        "--linear-probe",
    ]);
    assert_one_line_error(&run, "--train-dir", "probe without training images");
}

#[test]
fn csv_table_gives_the_imagefolder_result() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("labels.csv");
    let images = repo("tests/fixtures/images");
    std::fs::write(
        &table,
        format!(
            "path,label\n{0}/photo.png,airplane\n{0}/rgba.png,automobile\n{0}/palette.png,2\n",
            images.display()
        ),
    )
    .unwrap();
    let classes = dir.path().join("classes.txt");
    std::fs::write(&classes, "airplane\nautomobile\nbird\ncat\ndeer\n").unwrap();
    let templates = repo("crates/clip-zeroshot/data/cifar/templates.txt");
    let report = dir.path().join("report.json");
    let run = eval(&[
        "--dataset",
        "csv",
        "--data-dir",
        table.to_str().unwrap(),
        "--classes",
        classes.to_str().unwrap(),
        "--templates",
        templates.to_str().unwrap(),
        "--output",
        report.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let correct = reference_correct();
    let ours: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!((ours["top1"].as_f64().unwrap() - correct as f64 / 3.0).abs() < 1e-9);

    std::fs::write(&table, "a.png,zebra\n").unwrap();
    let run = eval(&[
        "--dataset",
        "csv",
        "--data-dir",
        table.to_str().unwrap(),
        "--classes",
        classes.to_str().unwrap(),
    ]);
    assert_one_line_error(&run, "zebra", "unknown label");
}
