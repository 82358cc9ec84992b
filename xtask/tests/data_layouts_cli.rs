//! `cargo xtask train` on data as people download it: every Flickr layout found by itself
//! (the release flat or in its zip folders, MindFormers', Kaggle's Flickr8k and Flickr30k,
//! Flickr30k's release, Karpathy's splits), tables with their own column names, and
//! webdataset shards streamed; each trains two steps. A directory in no known layout is one
//! error line saying what was looked for.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use clip_model::data::synthetic::{SyntheticOptions, generate, write_shards};
use common::{TINY_CONFIG as CONFIG, assert_one_line_error, stderr, tensors, xtask};

/// The synthetic set (20 train, 4 dev, 2 + 2 test images) as MindFormers draws Flickr8k.
fn mindformers(dir: &Path) {
    let options = SyntheticOptions {
        train: 20,
        dev: 4,
        test: 2,
        size: 24,
        seed: 9,
    };
    generate(dir, &options).unwrap();
}

fn images_of(dir: &Path) -> PathBuf {
    dir.join("Flickr8k_Dataset/Flickr8k_Dataset")
}

fn text_of(dir: &Path) -> PathBuf {
    dir.join("Flickr8k_text")
}

/// `(image name, caption)` rows of the generated token file.
fn rows(dir: &Path) -> Vec<(String, String)> {
    fs::read_to_string(text_of(dir).join("Flickr8k.token.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let (key, caption) = l.split_once('\t').unwrap();
            (
                key.split('#').next().unwrap().to_string(),
                caption.to_string(),
            )
        })
        .collect()
}

fn move_images(dir: &Path, to: &str) {
    let target = dir.join(to);
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    let from = images_of(dir);
    let staged = dir.join("staged-images");
    fs::rename(&from, &staged).unwrap();
    fs::rename(&staged, &target).unwrap();
    let _ = fs::remove_dir(dir.join("Flickr8k_Dataset"));
}

fn rename(dir: &Path, from: &str, to: &str) {
    let to = dir.join(to);
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::rename(dir.join(from), to).unwrap();
}

/// Trains two steps of the tiny model on `args`'s data; returns stderr.
fn train_two_steps(tmp: &Path, data_args: &[&str]) -> String {
    let config = tmp.join("config.json");
    fs::write(&config, CONFIG).unwrap();
    let out = tmp.join(format!("run-{}", fs::read_dir(tmp).unwrap().count()));
    let mut args = vec!["train"];
    args.extend_from_slice(data_args);
    let (c, o) = (config.to_str().unwrap(), out.to_str().unwrap());
    args.extend([
        "--config",
        c,
        "--output",
        o,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--warmup-steps",
        "1",
        "--stop-after",
        "2",
        "--seed",
        "4",
    ]);
    let run = xtask(&args);
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    let state = fs::read_to_string(out.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("\"step\": 2,"), "{state}");
    assert!(err.contains("2 steps, 16 pairs: "), "{err}");
    err
}

fn flickr(tmp: &Path, data: &Path) -> String {
    train_two_steps(
        tmp,
        &[
            "--dataset",
            "flickr8k",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
}

#[test]
fn flickr8k_release_flat_and_in_its_zip_folders() {
    let tmp = tempfile::tempdir().unwrap();
    // Both zips unpacked into one folder, with their debris and the token line of an image
    // that is in no split.
    let flat = tmp.path().join("flat");
    mindformers(&flat);
    move_images(&flat, "Flicker8k_Dataset");
    for (from, to) in [
        ("Flickr8k.token.txt", "Flickr8k.token.txt"),
        ("Flickr8k.trainImages.txt", "Flickr_8k.trainImages.txt"),
        ("Flickr8k.devImages.txt", "Flickr_8k.devImages.txt"),
        ("Flickr8k.testImages.txt", "Flickr_8k.testImages.txt"),
    ] {
        rename(&flat, &format!("Flickr8k_text/{from}"), to);
    }
    let mut token = fs::read_to_string(flat.join("Flickr8k.token.txt")).unwrap();
    fs::write(flat.join("Flickr8k.lemma.token.txt"), &token).unwrap();
    token.push_str("2258277193_586949ec62.jpg.1#0\tA dog in no split .\n");
    fs::write(flat.join("Flickr8k.token.txt"), token).unwrap();
    fs::create_dir_all(flat.join("__MACOSX/Flicker8k_Dataset")).unwrap();
    fs::write(
        flat.join("__MACOSX/Flicker8k_Dataset/._00000.jpg"),
        b"\0\x05\x16\x07",
    )
    .unwrap();
    let err = flickr(tmp.path(), &flat);
    assert!(
        err.contains("captions Flickr8k.token.txt, images in Flicker8k_Dataset/, splits Flickr_8k.trainImages.txt: 20 training images, 4 validation"),
        "{err}"
    );

    // Each zip unpacked into a folder of its own name.
    let zips = tmp.path().join("zips");
    mindformers(&zips);
    move_images(&zips, "Flickr8k_Dataset/Flicker8k_Dataset");
    for split in ["train", "dev", "test"] {
        rename(
            &zips,
            &format!("Flickr8k_text/Flickr8k.{split}Images.txt"),
            &format!("Flickr8k_text/Flickr_8k.{split}Images.txt"),
        );
    }
    let err = flickr(tmp.path(), &zips);
    assert!(
        err.contains("images in Flickr8k_Dataset/Flicker8k_Dataset/, splits Flickr8k_text/Flickr_8k.trainImages.txt"),
        "{err}"
    );

    // The layout the MindFormers docs draw (what the synthetic set writes).
    let drawn = tmp.path().join("drawn");
    mindformers(&drawn);
    let err = flickr(tmp.path(), &drawn);
    assert!(
        err.contains("images in Flickr8k_Dataset/Flickr8k_Dataset/"),
        "{err}"
    );
}

#[test]
fn kaggle_flickr8k_with_a_seeded_split_and_with_karpathys() {
    let tmp = tempfile::tempdir().unwrap();
    let kaggle = tmp.path().join("kaggle");
    mindformers(&kaggle);
    let mut csv = String::from("image,caption\n");
    for (name, caption) in rows(&kaggle) {
        // Kaggle quotes the captions that hold commas.
        csv.push_str(&format!("{name},\"{caption} , seen\"\n"));
    }
    move_images(&kaggle, "Images");
    fs::remove_dir_all(text_of(&kaggle)).unwrap();
    fs::write(kaggle.join("captions.txt"), &csv).unwrap();
    let err = flickr(tmp.path(), &kaggle);
    // 28 images, no split files: round(5% of 28) = 1 each for validation and test.
    assert!(
        err.contains("captions captions.txt, images in Images/, no split files: 90/5/5 split drawn from seed 4: 26 training images, 1 validation"),
        "{err}"
    );

    // The same table through --dataset csv: a comma-separated `.txt`, paths under Images/.
    let err = train_two_steps(
        tmp.path(),
        &[
            "--dataset",
            "csv",
            "--data-dir",
            kaggle.join("captions.txt").to_str().unwrap(),
            "--image-root",
            kaggle.join("Images").to_str().unwrap(),
        ],
    );
    assert!(!err.contains("error"), "{err}");

    // Karpathy's split file beside it decides the splits.
    let mut images = Vec::new();
    for (i, name) in (0..28).map(|i| format!("{i:05}.jpg")).enumerate() {
        let split = match i {
            0..=15 => "train",
            16..=19 => "restval",
            20..=23 => "val",
            _ => "test",
        };
        images.push(serde_json::json!({"filename": name, "split": split,
            "sentences": [{"raw": "a shape", "tokens": ["a", "shape"]}]}));
    }
    let json = serde_json::json!({"images": images, "dataset": "flickr8k"});
    fs::write(kaggle.join("dataset_flickr8k.json"), json.to_string()).unwrap();
    let err = flickr(tmp.path(), &kaggle);
    assert!(
        err.contains("captions captions.txt, images in Images/, Karpathy's splits: 20 training images, 4 validation"),
        "{err}"
    );
}

#[test]
fn flickr30k_release_and_kaggle_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let release = tmp.path().join("release");
    mindformers(&release);
    move_images(&release, "flickr30k-images");
    rename(
        &release,
        "Flickr8k_text/Flickr8k.token.txt",
        "results_20130124.token",
    );
    fs::remove_dir_all(text_of(&release)).unwrap();
    let err = train_two_steps(
        tmp.path(),
        &[
            "--dataset",
            "flickr30k",
            "--data-dir",
            release.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains(
            "captions results_20130124.token, images in flickr30k-images/, no split files"
        ),
        "{err}"
    );

    let kaggle = tmp.path().join("kaggle30k");
    mindformers(&kaggle);
    let mut csv = String::from("image_name| comment_number| comment\n");
    for (k, (name, caption)) in rows(&kaggle).into_iter().enumerate() {
        if k == 7 {
            // The published file's row that lost its second separator.
            csv.push_str(&format!("{name}| 4 {caption}\n"));
        } else {
            csv.push_str(&format!("{name}| {}| {caption} , too\n", k % 5));
        }
    }
    move_images(&kaggle, "flickr30k_images/flickr30k_images");
    fs::remove_dir_all(text_of(&kaggle)).unwrap();
    fs::write(kaggle.join("flickr30k_images/results.csv"), csv).unwrap();
    let err = flickr(tmp.path(), &kaggle);
    assert!(
        err.contains(
            "captions flickr30k_images/results.csv, images in flickr30k_images/flickr30k_images/"
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_layout_is_one_error_saying_what_was_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("photos");
    fs::create_dir_all(data.join("pictures")).unwrap();
    fs::write(data.join("notes.txt"), "nothing here").unwrap();
    let config = tmp.path().join("config.json");
    fs::write(&config, CONFIG).unwrap();
    let (d, c, o) = (
        data.to_str().unwrap(),
        config.to_str().unwrap(),
        tmp.path().join("o"),
    );
    let train = || {
        let args = [
            "train",
            "--dataset",
            "flickr8k",
            "--data-dir",
            d,
            "--config",
            c,
        ];
        xtask(&[&args[..], &["--output", o.to_str().unwrap()]].concat())
    };
    let run = train();
    assert_one_line_error(
        &run,
        "no caption file: looked for Flickr8k.token.txt, results_20130124.token, captions.txt, results.csv",
        "unknown layout",
    );
    // Captions found, images not.
    fs::write(data.join("captions.txt"), "image,caption\n1.jpg,a dog\n").unwrap();
    let run = train();
    assert_one_line_error(
        &run,
        "no folder holding the images captions.txt names: looked for",
        "images missing",
    );
}

#[test]
fn webdataset_shards_by_pattern_directory_and_list() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = tmp.path().join("shards");
    write_shards(&shards, 40, 16, 24, 2).unwrap();
    let pattern = format!("{}/{{00000..00002}}.tar", shards.display());
    let list = tmp.path().join("train.txt");
    fs::write(&list, "shards/00000.tar\nshards/00001.tar\n").unwrap();
    for spec in [
        pattern.as_str(),
        shards.to_str().unwrap(),
        list.to_str().unwrap(),
    ] {
        train_two_steps(
            tmp.path(),
            &[
                "--dataset",
                "webdataset",
                "--train-data",
                spec,
                "--shuffle-buffer",
                "10",
            ],
        );
    }
}

#[test]
fn a_streamed_run_resumed_mid_shard_equals_the_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = tmp.path().join("shards");
    write_shards(&shards, 44, 16, 24, 3).unwrap();
    let config = tmp.path().join("config.json");
    fs::write(&config, CONFIG).unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "--dataset",
            "webdataset",
            "--data-dir",
            shards.to_str().unwrap(),
            "--shuffle-buffer",
            "12",
            "--config",
            config.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--warmup-steps",
            "2",
            "--lr",
            "1e-3",
            "--seed",
            "3",
            "--checkpoint-every",
            "100",
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = xtask(&refs);
        assert!(run.status.success(), "{}", stderr(&run));
    };
    let full = tmp.path().join("full");
    run(args(&full));
    let steps = fs::read_to_string(full.join("steps.csv")).unwrap();
    assert_eq!(
        steps.lines().count(),
        1 + 10,
        "44 pairs / 8 per batch × 2 epochs"
    );

    // Stopped in the middle of the first epoch (inside the second shard), then resumed.
    let split = tmp.path().join("split");
    let mut first = args(&split);
    first.extend(["--stop-after".into(), "3".into()]);
    run(first);
    let state = fs::read_to_string(split.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("\"samples_in_epoch\": 24"), "{state}");
    let mut resumed = args(&split);
    resumed.push("--resume".into());
    run(resumed);
    assert_eq!(
        fs::read_to_string(split.join("steps.csv")).unwrap(),
        steps,
        "per-step losses of the resumed run"
    );
    assert_eq!(
        tensors(&split.join("model.safetensors")),
        tensors(&full.join("model.safetensors"))
    );
}

#[test]
fn an_open_clip_table_with_its_flags() {
    // open_clip's CsvDataset input: tab-separated despite the name, columns named by flags.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    mindformers(&data);
    let mut table = String::from("id\ttitle\tfilepath\n");
    for (k, (name, caption)) in rows(&data).into_iter().enumerate() {
        table.push_str(&format!(
            "{k}\t{caption}, \"quoted\"\tFlickr8k_Dataset/Flickr8k_Dataset/{name}\n"
        ));
    }
    let file = tmp.path().join("train.csv");
    fs::write(&file, table).unwrap();
    let f = file.to_str().unwrap();
    let flags = [
        "--dataset",
        "csv",
        "--train-data",
        f,
        "--image-root",
        data.to_str().unwrap(),
        "--csv-img-key",
        "filepath",
        "--csv-caption-key",
        "title",
    ];
    train_two_steps(
        tmp.path(),
        &[&flags[..], &["--csv-separator", "\\t"]].concat(),
    );
    train_two_steps(tmp.path(), &flags);

    let config = tmp.path().join("config.json");
    let (c, o) = (config.to_str().unwrap(), tmp.path().join("o"));
    let mut args = vec!["train"];
    args.extend(flags);
    args.extend([
        "--csv-separator",
        "tabs",
        "--config",
        c,
        "--output",
        o.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &xtask(&args),
        "--csv-separator must be one character",
        "bad separator",
    );
}
