//! The examples run as a user runs them (`cargo test` builds them beside this test), on the
//! model this project ships, and print what the README says they print.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `target/<profile>/examples/<name>` with `args`.
fn example(name: &str, args: &[&str]) -> Output {
    // This test is target/<profile>/deps/examples-HASH; the examples sit in ../examples.
    let exe = std::env::current_exe().unwrap();
    let path: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test -p clip` (which builds the examples)",
        path.display()
    );
    Command::new(&path).args(args).output().unwrap()
}

fn stdout_lines(run: &Output) -> Vec<String> {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn zero_shot_names_the_held_out_orange_ring() {
    let lines = stdout_lines(&example("zero_shot", &[]));
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].starts_with("orange ring: "), "{lines:?}");
    let total: f32 = lines
        .iter()
        .map(|l| l.rsplit_once(": ").unwrap().1.parse::<f32>().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 0.01, "{lines:?}");
}

#[test]
fn embed_folder_finds_the_shape_it_is_asked_for() {
    for (query, first) in [
        ("a photo of a red circle.", "red-circle.jpg"),
        ("a photo of a blue triangle.", "blue-triangle.jpg"),
    ] {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights/examples");
        let lines = stdout_lines(&example("embed_folder", &[folder, query]));
        assert_eq!(lines[0], query);
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(lines[1].ends_with(first), "{query}: {lines:?}");
    }
}

#[test]
fn finetune_csv_trains_and_saves_a_model_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let weights = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../weights/tiny-shapes.safetensors"
    );
    // The default table: the four example images.
    let table = dir.path().join("pairs.csv");
    let images = concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights/examples");
    let mut csv = String::from("image,caption\n");
    for name in [
        "blue-triangle",
        "orange-ring",
        "pink-triangle",
        "red-circle",
    ] {
        csv.push_str(&format!(
            "{images}/{name}.jpg,a photo of a {}.\n",
            name.replace('-', " ")
        ));
    }
    std::fs::write(&table, csv).unwrap();
    let lines = stdout_lines(&example(
        "finetune_csv",
        &[table.to_str().unwrap(), weights, out.to_str().unwrap()],
    ));
    // One batch of four per epoch, three epochs.
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (i, line) in lines[..3].iter().enumerate() {
        let loss: f64 = line
            .strip_prefix(&format!("step {}: loss ", i + 1))
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{line}");
    }
    let model = out.join("model.safetensors");
    assert_eq!(lines[3], format!("finetuned 3 steps: {}", model.display()));
    let device = clip::device::Backend::Flex.device().unwrap();
    let tuned = clip::ClipPipeline::load(&model, &device).unwrap();
    let ranked = tuned
        .classify(
            format!("{images}/red-circle.jpg"),
            &["red circle", "blue triangle"],
            "a photo of a {}.",
        )
        .unwrap();
    assert_eq!(ranked[0].0, "red circle");
}

#[test]
fn a_missing_file_is_one_error_line() {
    let run = example("zero_shot", &["no/such/image.jpg"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no/such/image.jpg"), "{stderr}");
}
