//! What `default-features = false` leaves out: the dependency graph cargo resolves for
//! `clip` without its optional parts holds no HTTP client, image codec, CSV reader, progress
//! bar or optimiser, and the default graph holds each of them (so the check can fail).
//! `.ci/run` also compiles and lints the lean build.

use std::collections::BTreeSet;
use std::process::Command;

/// Crate names in `cargo tree -p clip -e normal` with these extra arguments.
fn dependencies(args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "clip",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Each optional part, by a crate only it brings in.
const OPTIONAL: [(&str, &str); 6] = [
    ("download", "ureq"),
    ("download", "indicatif"),
    ("image", "zune-jpeg"),
    ("image", "image"),
    ("data", "csv"),
    ("train", "burn-optim"),
];

#[test]
fn lean_build_leaves_out_every_optional_part() {
    let lean = dependencies(&["--no-default-features"]);
    assert!(lean.contains("clip-model") && lean.contains("burn-flex"));
    for (feature, krate) in OPTIONAL {
        assert!(
            !lean.contains(krate),
            "{krate} ({feature}) is in the lean build"
        );
    }
}

#[test]
fn each_feature_brings_its_own_part() {
    let full = dependencies(&[]);
    for (feature, krate) in OPTIONAL {
        assert!(
            full.contains(krate),
            "{krate} missing from the default build"
        );
        let alone = dependencies(&["--no-default-features", "--features", feature]);
        assert!(
            alone.contains(krate),
            "feature {feature} does not bring {krate}"
        );
    }
    let download = dependencies(&["--no-default-features", "--features", "download"]);
    assert!(!download.contains("image") && !download.contains("csv"));
}

#[test]
fn mpi_is_opt_in() {
    // Training across hosts needs the system's MPI library to build: never by default.
    assert!(
        !dependencies(&[]).contains("mpi"),
        "MPI in the default build"
    );
    assert!(dependencies(&["--features", "mpi"]).contains("mpi"));
}
