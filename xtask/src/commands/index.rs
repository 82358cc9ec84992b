//! `cargo xtask index`: a collection's features made searchable (see docs/search.md).

use std::path::PathBuf;

use anyhow::Result;
use clip_collection::{Collection, IndexKind, build_index};

#[derive(clap::Args)]
pub struct Args {
    /// The collection directory `embed --output DIR/` wrote (every part in it is indexed).
    #[arg(long)]
    embeddings: PathBuf,
    /// Index kind: `exact` scores every row at search time; `hnsw` builds usearch's graph
    /// (approximate, for large collections; see docs/search.md).
    #[arg(long, value_enum, default_value_t = Kind::Exact)]
    kind: Kind,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Exact,
    Hnsw,
}

pub fn run(args: Args) -> Result<()> {
    let kind = match args.kind {
        Kind::Exact => IndexKind::Exact,
        Kind::Hnsw => IndexKind::Hnsw,
    };
    let info = build_index(&Collection::at(&args.embeddings), kind)?;
    eprintln!(
        "indexed {} images ({} unreadable left out) of width {} in {}",
        info.rows,
        info.skipped,
        info.width,
        args.embeddings.join(clip_collection::INDEX_DIR).display()
    );
    println!("{}", serde_json::to_string(&info)?);
    Ok(())
}
