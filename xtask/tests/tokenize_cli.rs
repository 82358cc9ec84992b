//! `cargo xtask tokenize` against `clip.tokenize` (fixtures written by
//! `tests/reference/tokenizer_fixtures.py`), and its handling of bad input.

mod common;
use common::{assert_one_line_error, fixtures, stderr, xtask};

use std::path::{Path, PathBuf};

use ndarray::Array2;

fn fixture(name: &str) -> PathBuf {
    fixtures(&format!("tokenizer/{name}"))
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
    assert!(run.status.success(), "{}", stderr(&run));
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
    assert_one_line_error(&xtask(args), message, &format!("{args:?}"));
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
        "bad.txt:3: not UTF-8",
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
    assert!(run.status.success(), "{}", stderr(&run));
    let got: Array2<i64> = ndarray_npy::read_npy(&out).unwrap();
    // Row values as clip.tokenize(["hello world", "", "a photo of a cat"], 5, truncate=True).
    let want = ndarray::arr2(&[
        [49406, 3306, 1002, 49407, 0],
        [49406, 49407, 0, 0, 0],
        [49406, 320, 1125, 539, 49407],
    ]);
    assert_eq!(got, want);
}
