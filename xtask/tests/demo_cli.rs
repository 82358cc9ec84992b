//! `cargo xtask demo`: the JSON line contract and the weights it saves (a short run; the
//! accuracy of the full demo is measured by hand, see docs/training.md).

mod common;

use common::{assert_one_line_error, stderr, xtask};

#[test]
fn prints_one_json_line_last_and_saves_usable_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let weights = tmp.path().join("tiny.safetensors");
    let args = [
        "demo",
        "--output",
        out.to_str().unwrap(),
        "--train-images",
        "60",
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--save-weights",
        weights.to_str().unwrap(),
    ];
    let run = xtask(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let stdout = String::from_utf8(run.stdout).unwrap();
    let last = stdout.trim_end().lines().last().expect("a line");
    let report: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    for key in ["heldout_top1", "seen_top1", "seconds"] {
        let v = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {last}"));
        assert!(v >= 0.0 && (key == "seconds" || v <= 1.0), "{key} = {v}");
    }
    assert_eq!(
        report["steps"].as_u64(),
        Some(3),
        "60 images / 20 per batch, one epoch"
    );
    assert!(out.join("run/metrics.csv").is_file());

    // The saved model classifies through `predict`.
    let image = out.join("data/Flickr8k_Dataset/Flickr8k_Dataset/00000.jpg");
    let run = xtask(&[
        "predict",
        "--weights",
        weights.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--labels",
        "red circle,blue square",
        "--template",
        "a {}",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let lines: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");

    // Running again replaces the earlier demo; a directory that is not a demo's is refused.
    let other = tmp.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "keep me").unwrap();
    let run = xtask(&[
        "demo",
        "--output",
        other.to_str().unwrap(),
        "--train-images",
        "20",
    ]);
    assert_one_line_error(&run, "not an earlier demo", "foreign directory");
    assert!(other.join("notes.txt").exists());
}
