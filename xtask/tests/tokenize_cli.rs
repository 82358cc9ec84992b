//! `cargo xtask tokenize` against `clip.tokenize` (fixtures written by
//! `tests/reference/tokenizer_fixtures.py`), and its handling of bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tokenizer")
        .join(name)
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

#[test]
fn writes_the_reference_ids() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ids.npy");
    let input = fixture("lines.txt");
    let run = xtask(&[
        "tokenize",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--truncate",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Array2<i64> = ndarray_npy::read_npy(&out).unwrap();
    let want: Array2<i64> = ndarray_npy::read_npy(fixture("lines_ids.npy")).unwrap();
    assert_eq!(got.shape(), want.shape());
    let differing: Vec<usize> = (0..want.nrows())
        .filter(|&i| got.row(i) != want.row(i))
        .collect();
    assert!(
        differing.is_empty(),
        "rows {differing:?} differ from clip.tokenize"
    );
}

fn fails_cleanly(args: &[&str], message: &str) {
    let run = xtask(args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "should fail: {args:?}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(message),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one error line: {stderr}"
    );
}

#[test]
fn bad_input_gives_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ids.npy");
    let out = out.to_str().unwrap();

    fails_cleanly(
        &[
            "tokenize",
            "--input",
            "/nonexistent/lines.txt",
            "--output",
            out,
        ],
        "cannot read",
    );

    let bad_utf8 = dir.path().join("bad.txt");
    std::fs::write(&bad_utf8, b"fine\nalso fine\nbroken \xff here\n").unwrap();
    fails_cleanly(
        &[
            "tokenize",
            "--input",
            bad_utf8.to_str().unwrap(),
            "--output",
            out,
        ],
        "line 3 is not valid UTF-8",
    );

    let long = dir.path().join("long.txt");
    std::fs::write(&long, format!("short\n{}\n", "word ".repeat(100))).unwrap();
    fails_cleanly(
        &[
            "tokenize",
            "--input",
            long.to_str().unwrap(),
            "--output",
            out,
        ],
        "line 2 has 102 tokens",
    );
    assert!(!Path::new(out).exists(), "no output after a failure");
}

#[test]
fn context_length_and_empty_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello world\n\na photo of a cat\n").unwrap();
    let out = dir.path().join("ids.npy");
    let run = xtask(&[
        "tokenize",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--context-length",
        "5",
        "--truncate",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Array2<i64> = ndarray_npy::read_npy(&out).unwrap();
    // Row values as clip.tokenize(["hello world", "", "a photo of a cat"], 5, truncate=True).
    let want = ndarray::arr2(&[
        [49406, 3306, 1002, 49407, 0],
        [49406, 49407, 0, 0, 0],
        [49406, 320, 1125, 539, 49407],
    ]);
    assert_eq!(got, want);
}
