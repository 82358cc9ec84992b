//! `cargo xtask train --distributed mpi` under OpenMPI's `mpirun`, ranks on this host: they
//! train the steps one process takes on the global batch, a run resumes with another number
//! of ranks, and a killed or stalled rank ends the whole job within a bounded time, leaving a
//! checkpoint that `--resume` continues.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clip_model::data::synthetic::{SyntheticOptions, generate};
use common::{TINY_CONFIG, stderr, xtask};

/// 40 training pairs: batches of 8, 5 steps an epoch.
fn dataset(dir: &Path) {
    let options = SyntheticOptions {
        train: 40,
        dev: 6,
        test: 3,
        size: 32,
        seed: 9,
    };
    generate(dir, &options).unwrap();
    std::fs::write(dir.join("config.json"), TINY_CONFIG).unwrap();
}

fn train_args(data: &Path, out: &Path, epochs: usize) -> Vec<String> {
    let config = data.join("config.json");
    let mut args: Vec<String> = [
        "train",
        "--dataset",
        "flickr8k",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--batch-size",
        "8",
        "--warmup-steps",
        "3",
        "--lr",
        "1e-3",
        "--seed",
        "4",
        "--checkpoint-every",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--epochs".into(), epochs.to_string()]);
    args
}

/// `mpirun -np N xtask ARGS --distributed mpi`, ranks on this host (allowed to run as root
/// and to share cores, as in a CI container).
fn mpirun(ranks: usize, args: &[String]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(["-np", &ranks.to_string(), "--oversubscribe"])
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .args(["--distributed", "mpi"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Containers often forbid the cross-memory attach of OpenMPI's shared-memory transport.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    command
}

fn run(mut command: Command) -> Output {
    command.output().unwrap_or_else(|e| {
        panic!("mpirun: {e} (install OpenMPI: Debian's openmpi-bin; .ci/run does)")
    })
}

/// Every f32 tensor of a safetensors file, by name.
fn floats(path: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Largest `max|a − b| / max|b|` over the tensors of two models.
fn weights_distance(a: &Path, b: &Path) -> f32 {
    let (a, b) = (floats(a), floats(b));
    assert_eq!(a.len(), b.len(), "tensor count");
    a.iter()
        .zip(&b)
        .map(|((name, x), (other, y))| {
            assert_eq!(name, other);
            let scale = y.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
            x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs())) / scale
        })
        .fold(0.0, f32::max)
}

/// `(step, loss)` of every line of `steps.csv`.
fn step_losses(dir: &Path) -> Vec<(usize, f64)> {
    let text = std::fs::read_to_string(dir.join("steps.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].parse().unwrap(), fields[2].parse().unwrap())
        })
        .collect()
}

fn assert_same_run(label: &str, ours: &Path, one: &Path) {
    let (a, b) = (step_losses(ours), step_losses(one));
    assert_eq!(a.len(), b.len(), "{label}: steps");
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs(),
            "{label} step {step}: loss {x} vs {y}"
        );
    }
    let distance = weights_distance(
        &ours.join("model.safetensors"),
        &one.join("model.safetensors"),
    );
    eprintln!("{label}: final weights within {distance:.2e} of one process's");
    assert!(
        distance <= 1e-5,
        "{label}: final weights {distance:.2e} apart"
    );
}

/// One process on the whole batch, accumulated over `pieces` pieces: the ranks' split, so
/// gradients are summed in the same order (one backward pass over the whole batch rounds
/// differently, and AdamW turns the rounding noise of gradients that are mathematically zero
/// into whole steps: ~1e-4 apart after 20 steps; tests/train_parity.rs bounds that against
/// PyTorch).
fn one_process(data: &Path, out: &Path, pieces: usize, extra: &[&str]) {
    let mut args = train_args(data, out, 4);
    args.extend(["--grad-accum".to_string(), pieces.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = xtask(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.status.success(), "{}", stderr(&run));
}

#[test]
fn ranks_train_as_one_process_and_resume_with_another_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);

    let one = tmp.path().join("one");
    one_process(&data, &one, 2, &[]);
    assert_eq!(step_losses(&one).len(), 20);

    let two = tmp.path().join("two");
    let job = run(mpirun(2, &train_args(&data, &two, 4)));
    assert!(job.status.success(), "{}", stderr(&job));
    let log = stderr(&job);
    assert!(log.contains("distributed: 2 ranks"), "{log}");
    for file in [
        "model.safetensors",
        "metrics.csv",
        "steps.csv",
        "checkpoint/state.json",
    ] {
        assert!(two.join(file).is_file(), "{file} missing");
    }
    assert_same_run("2 ranks", &two, &one);

    // Stopped after 9 steps on three ranks, finished by one process.
    let one = tmp.path().join("one-of-3");
    one_process(&data, &one, 3, &[]);
    let split = tmp.path().join("split");
    let mut first = train_args(&data, &split, 4);
    first.extend(["--stop-after".into(), "9".into()]);
    let job = run(mpirun(3, &first));
    assert!(job.status.success(), "{}", stderr(&job));
    assert!(!split.join("model.safetensors").exists());
    one_process(&data, &split, 3, &["--resume"]);
    assert_same_run("3 ranks, then resumed by 1", &split, &one);
}

/// Rank `rank`'s process of the job writing `out` (found by OpenMPI's environment variable).
fn rank_pid(rank: usize, out: &Path) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_xtask")).ok()?;
    let out = out.to_str()?.as_bytes();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let path = entry.path();
            if std::fs::read_link(path.join("exe")).ok()? != exe {
                return None;
            }
            let cmdline = std::fs::read(path.join("cmdline")).ok()?;
            if !cmdline.split(|&b| b == 0).any(|arg| arg == out) {
                return None;
            }
            let environ = std::fs::read(path.join("environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .any(|var| var == want.as_bytes())
                .then_some(pid)
        })
}

/// Starts a long job and waits for its first checkpoint; gives the job and rank 1's pid.
fn start_long_job(data: &Path, out: &Path, extra: &[&str]) -> (Child, u32) {
    let mut args = train_args(data, out, 500);
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = mpirun(2, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun (install OpenMPI: Debian's openmpi-bin; .ci/run does)");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !out.join("checkpoint/state.json").exists() {
        assert!(Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rank_pid(1, out).expect("rank 1's process");
    (child, pid)
}

/// Waits at most `limit` for the job to end; its exit status and stderr, and how long.
fn wait_bounded(mut child: Child, limit: Duration) -> (bool, String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.success(), err, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the job still runs {limit:?} after its rank was lost");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
    assert!(status.unwrap().success(), "kill -{name} {pid}");
}

/// The step of the run's checkpoint.
fn checkpoint_step(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["step"].as_u64().unwrap()
}

fn resume_two_steps(data: &Path, out: &Path) {
    let before = checkpoint_step(out);
    let mut args = train_args(data, out, 500);
    args.extend(["--resume", "--stop-after", "2"].map(String::from));
    let resumed = xtask(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("resuming"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(checkpoint_step(out), before + 2);
}

#[test]
fn a_killed_rank_ends_the_job_and_resume_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let out = tmp.path().join("killed");
    let (job, rank_1) = start_long_job(&data, &out, &[]);
    signal(rank_1, "KILL");
    let (ok, err, took) = wait_bounded(job, Duration::from_secs(60));
    eprintln!("the job ended {took:?} after rank 1 was killed:\n{err}");
    assert!(!ok, "the job succeeded without rank 1");
    assert!(err.contains("rank 1") || err.contains("signal 9"), "{err}");
    resume_two_steps(&data, &out);
}

#[test]
fn a_stalled_rank_times_out_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let out = tmp.path().join("stalled");
    let (job, rank_1) = start_long_job(&data, &out, &["--collective-timeout", "5"]);
    // A host that stops answering: rank 1 frozen, not dead, so no launcher notices.
    signal(rank_1, "STOP");
    let (ok, err, took) = wait_bounded(job, Duration::from_secs(60));
    let _ = Command::new("kill")
        .args(["-KILL", &rank_1.to_string()])
        .status();
    eprintln!("the job ended {took:?} after rank 1 froze:\n{err}");
    assert!(!ok, "the job succeeded with a frozen rank");
    assert!(err.contains("did not take part"), "{err}");
    resume_two_steps(&data, &out);
}
