//! A photo collection end to end with the shipped tiny model: `embed --output DIR/` (rows
//! equal to the `.npz` path's, unreadable files recorded, resumed after a kill, grown with
//! `--incremental`, split with `--shard I/N`, webdataset shards), `index`, and `search` by
//! text and by image.

mod common;
use common::{assert_one_line_error, npz_f32, stderr, xtask};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn weights() -> String {
    repo("weights/tiny-shapes.safetensors")
        .display()
        .to_string()
}

const SHAPES: [&str; 4] = [
    "blue-triangle.jpg",
    "orange-ring.jpg",
    "pink-triangle.jpg",
    "red-circle.jpg",
];

/// A folder as a user has one: the four example photos (two in a subfolder), a hidden copy,
/// a text file, and a file that is not an image.
fn photos(root: &Path) -> PathBuf {
    let dir = root.join("photos");
    std::fs::create_dir_all(dir.join("2024")).unwrap();
    for (i, name) in SHAPES.iter().enumerate() {
        let to = if i < 2 {
            dir.join(name)
        } else {
            dir.join("2024").join(name)
        };
        std::fs::copy(repo("weights/examples").join(name), to).unwrap();
    }
    std::fs::copy(
        repo("weights/examples/red-circle.jpg"),
        dir.join(".thumb.jpg"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a photo").unwrap();
    std::fs::write(dir.join("2024/broken.jpg"), b"\xff\xd8 cut short").unwrap();
    dir
}

fn run_ok(args: &[&str]) -> String {
    let run = xtask(args);
    assert!(run.status.success(), "{args:?}: {}", stderr(&run));
    String::from_utf8(run.stdout).unwrap()
}

/// `embed --images IMAGES --output OUT/` with the tiny model.
fn embed_run(images: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (w, out) = (weights(), format!("{}/", out.display()));
    let images = images.display().to_string();
    let mut args = vec![
        "embed",
        "--weights",
        &w,
        "--output",
        &out,
        "--images",
        &images,
    ];
    args.extend(extra);
    xtask(&args)
}

/// [`embed_run`], which must succeed: its summary line.
fn embed(images: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let run = embed_run(images, out, extra);
    assert!(run.status.success(), "{}", stderr(&run));
    serde_json::from_str(String::from_utf8(run.stdout).unwrap().trim()).unwrap()
}

/// Every complete shard's rows: `(path, error, features)`, in file order.
fn rows(out: &Path) -> Vec<(String, Option<String>, Vec<f32>)> {
    let mut metas: Vec<PathBuf> = std::fs::read_dir(out.join("metadata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    metas.sort();
    let mut all = Vec::new();
    for meta in metas {
        let npy = out
            .join("img_emb")
            .join(meta.file_stem().unwrap())
            .with_extension("npy");
        let features: ndarray::Array2<f32> = ndarray_npy::read_npy(&npy).unwrap();
        let text = std::fs::read_to_string(&meta).unwrap();
        assert_eq!(text.lines().count(), features.nrows(), "{}", meta.display());
        for (line, row) in text.lines().zip(features.rows()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            all.push((
                v["path"].as_str().unwrap().to_owned(),
                v["error"].as_str().map(str::to_owned),
                row.to_vec(),
            ));
        }
    }
    all
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn a_folder_becomes_shards_equal_to_the_npz_features() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = photos(tmp.path());
    let out = tmp.path().join("photos.clip");
    let summary = embed(&dir, &out, &["--shard-size", "2", "--batch-size", "3"]);
    assert_eq!(summary["images"], 5, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");

    let rows = rows(&out);
    let names: Vec<&str> = rows.iter().map(|r| file_name(&r.0)).collect();
    // Sorted walk: 2024/ before the top-level files; hidden and non-image files left out.
    assert_eq!(
        names,
        [
            "broken.jpg",
            "pink-triangle.jpg",
            "red-circle.jpg",
            "blue-triangle.jpg",
            "orange-ring.jpg"
        ]
    );
    assert!(rows.iter().all(|r| Path::new(&r.0).is_absolute()));
    assert!(rows[0].1.is_some() && rows[0].2.iter().all(|v| *v == 0.0));
    assert!(rows[1..].iter().all(|r| r.1.is_none()));
    assert_eq!(std::fs::read_dir(out.join("img_emb")).unwrap().count(), 3);

    // The same images through the .npz path.
    let npz = tmp.path().join("f.npz");
    let files: Vec<String> = rows[1..].iter().map(|r| r.0.clone()).collect();
    let w = weights();
    let mut args = vec![
        "embed",
        "--weights",
        &w,
        "--output",
        npz.to_str().unwrap(),
        "--images",
    ];
    args.extend(files.iter().map(String::as_str));
    run_ok(&args);
    let expected = npz_f32(&npz, "image_features");
    for (row, want) in rows[1..].iter().zip(expected.outer_iter()) {
        for (a, b) in row.2.iter().zip(want.iter()) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{}: {a} vs {b}",
                row.0
            );
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["rows"], 5);
    assert_eq!(manifest["errors"], 1);
}

#[test]
fn a_killed_run_resumes_and_a_grown_folder_adds_only_new_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = photos(tmp.path());
    let out = tmp.path().join("c");
    embed(&dir, &out, &["--shard-size", "2"]);
    let before = rows(&out);

    let shard_bytes = |dir: &Path| -> Vec<Vec<u8>> {
        [
            "img_emb/00001.npy",
            "img_emb/00002.npy",
            "metadata/00002.jsonl",
        ]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
    };
    let original = shard_bytes(&out);

    // As if killed while writing shard 1: its features and the last shard gone, its
    // metadata never landed, the run unfinished.
    for f in [
        "metadata/00001.jsonl",
        "metadata/00002.jsonl",
        "img_emb/00002.npy",
    ] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let manifest = out.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"complete\": true", "\"complete\": false"),
    )
    .unwrap();
    let resumed = embed(&dir, &out, &["--shard-size", "2"]);
    assert_eq!(
        (resumed["images"].as_u64(), resumed["already"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(shard_bytes(&out), original, "resumed shards differ");
    let resumed_manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(
        (
            &resumed_manifest["rows"],
            &resumed_manifest["errors"],
            &resumed_manifest["complete"]
        ),
        (
            &serde_json::json!(5),
            &serde_json::json!(1),
            &serde_json::json!(true)
        )
    );
    let after = rows(&out);
    assert_eq!(after.len(), before.len());
    assert_eq!(after.last().unwrap().0, before.last().unwrap().0);

    // Finished: running again is a mistake unless --incremental.
    let again = embed_run(&dir, &out, &[]);
    assert_one_line_error(&again, "--incremental", "a second run");

    std::fs::copy(
        repo("weights/examples/orange-ring.jpg"),
        dir.join("new-ring.jpg"),
    )
    .unwrap();
    let grown = embed(&dir, &out, &["--incremental"]);
    assert_eq!(
        (grown["images"].as_u64(), grown["already"].as_u64()),
        (Some(1), Some(5))
    );
    let grown_rows = rows(&out);
    assert_eq!(grown_rows.len(), 6);
    assert_eq!(file_name(&grown_rows[5].0), "new-ring.jpg");
    // The same pixels give the same features as the original copy.
    let ring = grown_rows
        .iter()
        .find(|r| file_name(&r.0) == "orange-ring.jpg")
        .unwrap();
    assert_eq!(ring.2, grown_rows[5].2);
}

#[test]
fn parts_split_the_collection_and_the_index_joins_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = photos(tmp.path());
    let out = tmp.path().join("parts");
    let a = embed(&dir, &out, &["--shard", "0/2"]);
    let b = embed(&dir, &out, &["--shard", "1/2"]);
    assert_eq!(
        a["images"].as_u64().unwrap() + b["images"].as_u64().unwrap(),
        5
    );
    assert!(out.join("manifest-00000-of-00002.json").is_file());
    assert!(out.join("manifest-00001-of-00002.json").is_file());
    let paths: Vec<String> = rows(&out).into_iter().map(|r| r.0).collect();
    let unique: BTreeSet<&String> = paths.iter().collect();
    assert_eq!((paths.len(), unique.len()), (5, 5));

    // The two parts hold exactly the unsharded run's rows.
    let whole = tmp.path().join("whole");
    embed(&dir, &whole, &[]);
    let sorted = |mut rows: Vec<(String, Option<String>, Vec<f32>)>| {
        rows.sort_by(|x, y| x.0.cmp(&y.0));
        rows
    };
    let (parts, unsharded) = (sorted(rows(&out)), sorted(rows(&whole)));
    assert_eq!(parts.len(), unsharded.len());
    for (p, u) in parts.iter().zip(&unsharded) {
        assert_eq!((&p.0, &p.1), (&u.0, &u.1));
        for (x, y) in p.2.iter().zip(&u.2) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{}: {x} vs {y}",
                p.0
            );
        }
    }

    let info: serde_json::Value =
        serde_json::from_str(run_ok(&["index", "--embeddings", out.to_str().unwrap()]).trim())
            .unwrap();
    assert_eq!(
        (info["rows"].as_u64(), info["skipped"].as_u64()),
        (Some(4), Some(1))
    );
}

/// `search --json --k 3` on the collection `out`, run in `cwd`: `(file name, score)`s.
fn search_in(cwd: &Path, out: &Path, query: &[&str]) -> Vec<(String, f64)> {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "search",
            "--index",
            out.to_str().unwrap(),
            "--json",
            "--k",
            "3",
        ])
        .args(query)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let path = v["path"].as_str().unwrap();
            (file_name(path).to_owned(), v["score"].as_f64().unwrap())
        })
        .collect()
}

fn search(out: &Path, query: &[&str]) -> Vec<(String, f64)> {
    search_in(Path::new("."), out, query)
}

#[test]
fn search_by_text_and_by_image_finds_the_right_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = photos(tmp.path());
    let out = tmp.path().join("idx");
    embed(&dir, &out, &[]);
    let missing = xtask(&["search", "--index", out.to_str().unwrap(), "--text", "ring"]);
    assert_one_line_error(&missing, "cargo xtask index", "search before index");
    run_ok(&["index", "--embeddings", out.to_str().unwrap()]);

    let by_text = search(
        &out,
        &["--text", "orange ring", "--template", "a photo of a {}."],
    );
    assert_eq!(by_text.len(), 3);
    assert_eq!(by_text[0].0, "orange-ring.jpg", "{by_text:?}");
    assert!(by_text.windows(2).all(|w| w[0].1 >= w[1].1));

    let circle = repo("weights/examples/red-circle.jpg");
    let by_image = search(&out, &["--image", circle.to_str().unwrap()]);
    assert_eq!(by_image[0].0, "red-circle.jpg", "{by_image:?}");
    assert!(by_image[0].1 > 0.9999, "{by_image:?}");

    let bad = xtask(&[
        "search",
        "--index",
        out.to_str().unwrap(),
        "--image",
        "/no/such.jpg",
    ]);
    assert_one_line_error(&bad, "/no/such.jpg", "a missing query image");

    // Weights of another model (another embedding size) cannot query this collection.
    let other = repo("tests/fixtures/models/tiny-vit/openai.pt");
    let run = xtask(&[
        "search",
        "--index",
        out.to_str().unwrap(),
        "--text",
        "ring",
        "--weights",
        other.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &run,
        "not the ones the collection was embedded with",
        "other weights",
    );

    // The approximate index answers the same on this small collection.
    run_ok(&[
        "index",
        "--embeddings",
        out.to_str().unwrap(),
        "--kind",
        "hnsw",
    ]);
    let text = ["--text", "orange ring", "--template", "a photo of a {}."];
    let graph = search(&out, &text);
    assert_eq!(graph.len(), 3);
    for (g, e) in graph.iter().zip(&by_text) {
        assert_eq!(g.0, e.0);
        assert!((g.1 - e.1).abs() < 1e-5, "{g:?} vs {e:?}");
    }

    // Half-precision storage: NumPy's float16, the same ranking, scores within 1e-3; the
    // model found from the manifest's absolute path whatever the working directory.
    let half = tmp.path().join("half");
    embed(&dir, &half, &["--feature-dtype", "f16"]);
    let npy = std::fs::read(half.join("img_emb/00000.npy")).unwrap();
    assert!(String::from_utf8_lossy(&npy[..64]).contains("'descr': '<f2'"));
    run_ok(&["index", "--embeddings", half.to_str().unwrap()]);
    let text = ["--text", "orange ring", "--template", "a photo of a {}."];
    let halves = search_in(tmp.path(), &half, &text);
    assert_eq!(halves.len(), by_text.len());
    for (h, f) in halves.iter().zip(&by_text) {
        assert_eq!(h.0, f.0);
        assert!((h.1 - f.1).abs() < 1e-3, "{h:?} vs {f:?}");
    }
}

#[test]
fn webdataset_shards_are_embedded_member_by_member() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = tmp.path().join("shards");
    run_ok(&[
        "make-shards",
        "--output",
        shards.to_str().unwrap(),
        "--pairs",
        "7",
        "--per-shard",
        "4",
        "--size",
        "32",
    ]);
    let out = tmp.path().join("wds");
    let spec = shards.join("{00000..00001}.tar");
    let summary = embed(&spec, &out, &[]);
    assert_eq!(
        (summary["images"].as_u64(), summary["skipped"].as_u64()),
        (Some(7), Some(0))
    );
    let rows = rows(&out);
    assert!(rows[0].0.contains("00000.tar#"), "{}", rows[0].0);
    assert!(rows.iter().all(|r| r.2.iter().any(|v| *v != 0.0)));
}

#[test]
fn bad_collection_arguments_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let run = embed_run(Path::new("/no/photos"), &out, &[]);
    assert_one_line_error(&run, "/no/photos", "a missing folder");
    let run = embed_run(&photos(tmp.path()), &out, &["--shard", "2/2"]);
    assert_one_line_error(&run, "2/2", "a part out of range");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    let run = embed_run(&empty, &out, &[]);
    assert_one_line_error(&run, "no images", "an empty folder");
    assert!(!out.exists(), "an empty folder left {}", out.display());
    let run = xtask(&["index", "--embeddings", tmp.path().to_str().unwrap()]);
    assert_one_line_error(&run, "manifest.json", "index of a plain folder");
}
