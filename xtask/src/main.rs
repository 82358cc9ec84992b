//! `cargo xtask`: the project's command line.
//!
//! Every command reports a failure as one `error: …` line on stderr and a
//! non-zero exit status, never a panic.

mod commands;
mod images;
mod io;
mod training;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    version,
    about = "CLIP on Burn: embed, classify, train, tokenize"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encoding throughput of an architecture with random weights (or of a checkpoint), as one JSON line.
    Bench(commands::bench::Args),
    /// Convert any supported CLIP checkpoint to safetensors that loads directly.
    ConvertWeights(commands::convert_weights::Args),
    /// Generate synthetic data, train a tiny CLIP on the CPU, classify unseen combinations.
    Demo(commands::demo::Args),
    /// Zero-shot top-1/top-5 accuracy on a labelled image set, with a JSON report.
    Eval(commands::eval::Args),
    /// Image and text features (unnormalised) into an .npz, or a photo collection into shards.
    Embed(commands::embed::Args),
    /// Make an embedded collection searchable.
    Index(commands::index::Args),
    /// The models `--weights NAME` loads by name: OpenAI's and open_clip's pretrained tags.
    ListModels(commands::list_models::Args),
    /// The synthetic image–caption set as webdataset shards of any size.
    MakeShards(commands::make_shards::Args),
    /// Zero-shot: one image against candidate labels, probabilities best first.
    Predict(commands::predict::Args),
    /// OpenAI's image preprocessing into an f32 .npy [N, 3, R, R] (the input of `embed --pixels`).
    Preprocess(commands::preprocess::Args),
    /// The images of an indexed collection most like a text or an image.
    Search(commands::search::Args),
    /// Serve embeddings, classification and collection search over HTTP, with a search page.
    Serve(commands::serve::Args),
    /// Contrastive pretraining or finetuning on Flickr8k/30k, a table or webdataset shards.
    Train(Box<commands::train::Args>),
    /// Tokenize one text per line into an int64 .npy [lines, context_length].
    Tokenize(commands::tokenize::Args),
}

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { clip::device::quiet_headless_display() };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => commands::bench::run(args),
        Command::ConvertWeights(args) => commands::convert_weights::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Index(args) => commands::index::run(args),
        Command::ListModels(args) => commands::list_models::run(args),
        Command::MakeShards(args) => commands::make_shards::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Preprocess(args) => commands::preprocess::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Train(args) => commands::train::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
