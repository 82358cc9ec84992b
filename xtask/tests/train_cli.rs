//! `cargo xtask train`: a tiny model on a tiny synthetic set — runs, writes its files,
//! resumes a stopped or killed run to exactly the weights of an uninterrupted one, and
//! rejects bad data with one error line naming the file and line.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clip_model::data::synthetic::{SyntheticOptions, generate};
use common::{TINY_CONFIG as CONFIG, assert_one_line_error, stderr, tensors, xtask};

fn dataset(dir: &Path) {
    let options = SyntheticOptions {
        train: 24,
        dev: 6,
        test: 3,
        size: 32,
        seed: 5,
    };
    generate(dir, &options).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
}

fn train_args<'a>(data: &'a str, config: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--dataset",
        "flickr8k",
        "--data-dir",
        data,
        "--config",
        config,
        "--output",
        out,
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
        "1",
    ]
}

fn metrics_without_time(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

#[test]
fn trains_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let (d, c) = (data.to_str().unwrap(), data.join("config.json"));
    let c = c.to_str().unwrap();

    let full = tmp.path().join("full");
    let run = xtask(&train_args(d, c, full.to_str().unwrap()));
    assert!(run.status.success(), "{}", stderr(&run));
    for file in [
        "model.safetensors",
        "metrics.csv",
        "steps.csv",
        "loss.png",
        "checkpoint/state.json",
    ] {
        assert!(full.join(file).is_file(), "{file} missing");
    }
    let metrics = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    let steps = std::fs::read_to_string(full.join("steps.csv")).unwrap();
    assert_eq!(
        steps.lines().count(),
        1 + 6,
        "24 images / 8 per batch × 2 epochs"
    );

    // Stopped after 4 steps, then resumed.
    let split = tmp.path().join("split");
    let s = split.to_str().unwrap();
    let mut first = train_args(d, c, s);
    first.extend(["--stop-after", "4"]);
    let run = xtask(&first);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!split.join("model.safetensors").exists());
    let again = xtask(&train_args(d, c, s));
    assert_one_line_error(&again, "--resume", "a second run into the same directory");
    let mut resumed = train_args(d, c, s);
    resumed.push("--resume");
    let run = xtask(&resumed);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        tensors(&split.join("model.safetensors")),
        tensors(&full.join("model.safetensors"))
    );
    assert_eq!(metrics_without_time(&split), metrics_without_time(&full));
    assert_eq!(
        std::fs::read_to_string(split.join("steps.csv")).unwrap(),
        steps,
        "per-step losses of the resumed run"
    );

    // Killed (SIGKILL) once a checkpoint exists, then resumed.
    let killed = tmp.path().join("killed");
    let k = killed.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(train_args(d, c, k))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !killed.join("checkpoint/state.json").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut resumed = train_args(d, c, k);
    resumed.push("--resume");
    if killed.join("model.safetensors").exists() {
        // The run finished before the kill landed; resuming a finished run is a no-op.
        eprintln!("the run finished before it was killed");
    }
    let run = xtask(&resumed);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        tensors(&killed.join("model.safetensors")),
        tensors(&full.join("model.safetensors"))
    );
}

#[test]
fn bad_data_gives_one_error_line_naming_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let c = data.join("config.json");
    let c = c.to_str().unwrap();
    let tokens = data.join("Flickr8k_text/Flickr8k.token.txt");
    let original = std::fs::read(&tokens).unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let d = data.to_str().unwrap();

    let mut bad = original.clone();
    bad.extend_from_slice(b"no tab on this line\n");
    std::fs::write(&tokens, &bad).unwrap();
    let lines = original.iter().filter(|&&b| b == b'\n').count();
    assert_one_line_error(
        &xtask(&train_args(d, c, o)),
        &format!("Flickr8k.token.txt:{}:", lines + 1),
        "malformed token line",
    );

    let mut bad = original.clone();
    bad.extend_from_slice(b"00001.jpg#5\tcaf\xe9 latin-1\n");
    std::fs::write(&tokens, &bad).unwrap();
    assert_one_line_error(&xtask(&train_args(d, c, o)), "not UTF-8", "bad encoding");
    std::fs::write(&tokens, &original).unwrap();

    std::fs::remove_file(data.join("Flickr8k_Dataset/Flickr8k_Dataset/00003.jpg")).unwrap();
    assert_one_line_error(
        &xtask(&train_args(d, c, o)),
        "00003.jpg does not exist",
        "image listed but absent",
    );

    std::fs::remove_file(&tokens).unwrap();
    assert_one_line_error(
        &xtask(&train_args(d, c, o)),
        "Flickr8k.token.txt",
        "missing token file",
    );

    std::fs::write(data.join("bad.json"), "{\"embed_dim\": 3}").unwrap();
    let bad_config = data.join("bad.json");
    assert_one_line_error(
        &xtask(&train_args(d, bad_config.to_str().unwrap(), o)),
        "bad.json",
        "malformed config",
    );
    assert!(!out.join("model.safetensors").exists());
}

#[test]
fn trains_from_a_csv_table_with_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let captions = std::fs::read_to_string(data.join("Flickr8k_text/Flickr8k.token.txt")).unwrap();
    let mut train = String::from("filepath,caption\n");
    let mut val = String::from("filepath,caption\n");
    for line in captions.lines() {
        let (key, caption) = line.split_once('\t').unwrap();
        let name = key.split('#').next().unwrap();
        let n: usize = name[..5].parse().unwrap();
        let row = format!("Flickr8k_Dataset/Flickr8k_Dataset/{name},\"{caption}\"\n");
        if n < 24 {
            train.push_str(&row)
        } else if n < 30 {
            val.push_str(&row)
        }
    }
    std::fs::write(data.join("train.csv"), train).unwrap();
    std::fs::write(data.join("val.csv"), val).unwrap();
    let out = tmp.path().join("run");
    let run = xtask(&[
        "train",
        "--dataset",
        "csv",
        "--data-dir",
        data.join("train.csv").to_str().unwrap(),
        "--val-file",
        data.join("val.csv").to_str().unwrap(),
        "--config",
        data.join("config.json").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--warmup-steps",
        "1",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let row: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    // Validation recall columns are filled (6 images, 5 captions each).
    let r10: f64 = row[8].parse().unwrap();
    assert!((0.0..=1.0).contains(&r10), "{metrics}");
    assert!(out.join("model.safetensors").is_file());
}

#[test]
fn gradient_checkpointing_trains_the_same_weights() {
    // Recomputing activations in the backward pass changes memory, not results; and the
    // steps after the first (new parameters, the clamped logit scale) keep the strategy.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let (d, c) = (data.to_str().unwrap(), data.join("config.json"));
    let c = c.to_str().unwrap();
    let plain = tmp.path().join("plain");
    let run = xtask(&train_args(d, c, plain.to_str().unwrap()));
    assert!(run.status.success(), "{}", stderr(&run));
    let recomputed = tmp.path().join("recomputed");
    let mut args = train_args(d, c, recomputed.to_str().unwrap());
    args.push("--grad-checkpointing");
    let run = xtask(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        tensors(&recomputed.join("model.safetensors")),
        tensors(&plain.join("model.safetensors"))
    );
}

#[test]
fn sigmoid_loss_trains_a_logit_bias_and_classifies_by_sigmoid() {
    // `--loss sigmoid` (open_clip's `--siglip`): the model gets a logit bias from −10 (scale
    // ln 10), trains it, saves it, and the saved model is then sigmoid-trained by default.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let (d, c) = (data.to_str().unwrap(), data.join("config.json"));
    let c = c.to_str().unwrap();
    let out = tmp.path().join("run");
    let mut args = train_args(d, c, out.to_str().unwrap());
    args.extend(["--loss", "sigmoid"]);
    let run = xtask(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let weights = out.join("model.safetensors");
    let saved = tensors(&weights);
    let value = |key: &str| {
        let (_, bytes) = saved.iter().find(|(k, _)| k == key).expect(key);
        f32::from_le_bytes(bytes[..4].try_into().unwrap())
    };
    let bias = value("logit_bias");
    assert!(
        bias != -10.0 && (bias + 10.0).abs() < 0.1,
        "logit_bias {bias}"
    );
    let scale = value("logit_scale");
    assert!((scale - 10f32.ln()).abs() < 0.1, "logit_scale {scale}");
    let config = clip_model::Checkpoint::open(&weights)
        .unwrap()
        .config()
        .unwrap();
    assert!(config.logit_bias);

    let image = data.join("Flickr8k_Dataset/Flickr8k_Dataset");
    let image = std::fs::read_dir(&image)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let predict = xtask(&[
        "predict",
        "--weights",
        weights.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--labels",
        "red circle,blue square,green triangle",
    ]);
    assert!(predict.status.success(), "{}", stderr(&predict));
    let total: f32 = String::from_utf8_lossy(&predict.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(": ")?.1.parse::<f32>().ok())
        .sum();
    // Sigmoids of logits near −10 + 10·cos: far below a softmax's total of 1.
    assert!(total < 0.5, "sigmoid probabilities sum to {total}");
}
