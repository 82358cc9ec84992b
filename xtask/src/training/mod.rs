//! `train` and `demo`'s side of [`clip_model::train::fit`]: the progress bar, the log lines,
//! the loss curve and Ctrl-C.

mod plot;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clip_model::train::{FitEvent, FitOutcome, FitSpec, fit};
use indicatif::ProgressBar;

/// Runs `spec` with a progress bar, one line per epoch, `loss.png` in the output directory,
/// and Ctrl-C stopping after the current step with a checkpoint. `found` (what was found on
/// disk) is logged once the run starts. In a job of several processes only rank 0 reports.
pub fn run(spec: FitSpec, found: Option<String>) -> Result<FitOutcome> {
    let output = spec.output.clone();
    if spec.group.as_ref().is_some_and(|g| g.rank() != 0) {
        let spec = FitSpec {
            stop: Some(interrupt_flag()),
            ..spec
        };
        return Ok(fit(spec, |_| {})?);
    }
    let spec = FitSpec {
        stop: Some(interrupt_flag()),
        ..spec
    };
    let mut found = found;
    let mut bar: Option<ProgressBar> = None;
    let outcome = fit(spec, |event| match event {
        FitEvent::Resumed { output, state } => eprintln!(
            "resuming {} at step {} (epoch {}, batch {})",
            output.display(),
            state.step,
            state.epoch + 1,
            state.batch_in_epoch
        ),
        FitEvent::Started { total, done } => {
            if let Some(found) = found.take() {
                eprintln!("{found}");
            }
            let b = crate::io::progress(total as u64, "steps");
            b.set_position(done as u64);
            bar = Some(b);
        }
        FitEvent::Step { stats, .. } => {
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("loss {:.4}", stats.loss));
            }
        }
        FitEvent::EpochEnd { history, data } => {
            if let Err(err) = plot::loss_curve(history, &output.join("loss.png")) {
                eprintln!("warning: no loss curve: {err:#}");
            }
            let mut line = history.last_epoch_line();
            if data.skipped() + data.truncated_shards > 0 {
                line.push_str(&format!("\n  data: {data}"));
            }
            match bar.as_ref().filter(|b| !b.is_hidden()) {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        FitEvent::Pace(pace) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("{pace}");
        }
        FitEvent::Stopped { step, checkpoint } => eprintln!(
            "stopped at step {step}; the checkpoint in {} continues it with --resume",
            checkpoint.display()
        ),
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(outcome?)
}

/// Set on Ctrl-C: the run checkpoints and stops after the current step.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    // A second handler cannot be installed (demo after train in one process): then Ctrl-C
    // simply ends the process, and the last periodic checkpoint is what remains.
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the current step and saving a checkpoint…");
    });
    flag
}
