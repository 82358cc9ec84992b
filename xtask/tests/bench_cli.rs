//! `cargo xtask bench`: the one-line JSON contract, and bad arguments.

mod common;
use common::assert_one_line_error;

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bench")
        .args(args)
        .output()
        .expect("xtask runs")
}

#[test]
fn prints_one_json_line_with_the_contract_fields() {
    let run = bench(&["--arch", "ViT-B/32", "--batch", "1", "--seconds", "0.01"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["arch"], "ViT-B/32");
    assert_eq!(line["batch"], 1);
    assert_eq!(line["backend"], "flex");
    for key in ["images_per_s", "texts_per_s"] {
        let v = line[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {line}"));
        assert!(v > 0.0 && v.is_finite(), "{key}: {v}");
    }
    // Which machine a figure came from: the thread pool's size and the CPU's name.
    assert!(line["threads"].as_u64().is_some_and(|t| t >= 1), "{line}");
    assert!(
        line["cpu"].as_str().is_some_and(|c| !c.is_empty()),
        "{line}"
    );
}

#[test]
fn bad_arguments_fail_with_one_line() {
    for (args, needle) in [
        (vec!["--arch", "ViT-Z/99"], "ViT-Z/99"),
        (vec!["--arch", "RN50", "--batch", "0"], "--batch"),
        (vec!["--arch", "RN50", "--seconds", "0"], "--seconds"),
        (vec!["--arch", "RN50", "--backend", "cuda"], "cuda"),
    ] {
        let run = bench(&args);
        assert_one_line_error(&run, needle, &format!("{args:?}"));
    }
}
