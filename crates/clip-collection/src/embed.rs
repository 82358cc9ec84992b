//! Embedding a collection: images decoded on worker threads a batch ahead of the model,
//! features written in shards as they fill, so memory stays flat whatever the collection's
//! size; a killed run continues from its last complete shard, and a grown folder gets only
//! its new images embedded.

use std::collections::HashSet;
use std::io::Write;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use clip_model::Clip;
use clip_model::data::webdataset::read_member;
use clip_model::fs::{FileError, write_atomic, write_bytes_atomic};
use clip_model::npy::NpyHeader;
use clip_vision::preprocess::{Preprocessor, decode};
use rayon::prelude::*;

use crate::inputs::id_hash;
use crate::layout::{Manifest, Row, ShardFiles, StoreDtype, read_rows};
use crate::{Collection, CollectionError, Inputs, Item, Part, Source, fingerprint};

/// How to embed.
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// The weights as the user named them (recorded in the manifest).
    pub weights: String,
    /// Which part of the inputs this process embeds.
    pub part: Part,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Rows per shard file: the work a killed run can lose.
    pub shard_rows: usize,
    /// How features are stored.
    pub dtype: StoreDtype,
    /// Add the new images of a collection whose last run finished (without it, a finished
    /// collection is an error, so a wrong `--output` never mixes two collections).
    pub incremental: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            weights: String::new(),
            part: Part::WHOLE,
            batch_size: 32,
            shard_rows: 10_000,
            dtype: StoreDtype::F32,
            incremental: false,
        }
    }
}

/// What [`embed_collection`] reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedEvent {
    /// Before the first image: this part's inputs, those already embedded, those to do.
    Plan {
        /// Inputs in this part.
        inputs: usize,
        /// Already in the collection.
        done: usize,
        /// To embed now.
        todo: usize,
    },
    /// A batch went through the model (its size).
    Embedded(usize),
    /// A shard was written.
    ShardWritten(ShardFiles),
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedSummary {
    /// Images embedded in this run (errors included).
    pub embedded: u64,
    /// Of those, images that could not be read.
    pub errors: u64,
    /// Images already in the collection, left alone.
    pub already: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

/// Embeds this part's share of `inputs` not yet in `collection` with `model`. The inputs
/// are listed twice (once to count them for [`EmbedEvent::Plan`], once to embed them), never
/// held: memory is bounded by a shard of features plus 16 bytes an image.
pub fn embed_collection(
    model: &Clip,
    inputs: &Inputs,
    collection: &Collection,
    options: &EmbedOptions,
    mut events: impl FnMut(EmbedEvent),
) -> Result<EmbedSummary, CollectionError> {
    let start = Instant::now();
    let part = options.part;
    let mut manifest = Manifest {
        version: 1,
        weights: options.weights.clone(),
        model: model.config.name().to_string(),
        fingerprint: fingerprint(model),
        embed_dim: model.config.embed_dim,
        dtype: options.dtype,
        part: part.to_string(),
        complete: false,
        rows: 0,
        errors: 0,
    };
    let shards = collection.complete_shards(part)?;
    if let Some(old) = collection.manifest(part)? {
        check_same_run(collection, &old, &manifest, options.incremental)?;
    }
    // The complete shards' rows, counted afresh (a manifest may lag a killed run).
    let mut done = HashSet::new();
    for (_, files) in &shards {
        for row in read_rows(&files.metadata)? {
            manifest.rows += 1;
            manifest.errors += u64::from(row.error.is_some());
            done.insert(id_hash(&row.path));
        }
    }
    let is_todo = |item: &Item| part.contains(&item.id) && !done.contains(&id_hash(&item.id));
    let (mut mine, mut todo) = (0usize, 0usize);
    for item in inputs.iter() {
        let item = item?;
        mine += usize::from(part.contains(&item.id));
        todo += usize::from(is_todo(&item));
    }
    let already = (mine - todo) as u64;
    events(EmbedEvent::Plan {
        inputs: mine,
        done: mine - todo,
        todo,
    });
    std::fs::create_dir_all(collection.root())
        .map_err(|e| CollectionError::io(collection.root(), e))?;
    for dir in [crate::layout::EMBEDDINGS_DIR, crate::layout::METADATA_DIR] {
        let dir = collection.root().join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| CollectionError::io(&dir, e))?;
    }
    write_manifest(collection, part, &manifest)?;

    let mut next_seq = shards.last().map_or(0, |(seq, _)| seq + 1);
    let preprocessor = model.preprocessor();
    let dim = model.config.embed_dim;
    let batch = options.batch_size.max(1);
    let shard_rows = options.shard_rows.max(1);
    let (mut embedded, mut errors) = (0u64, 0u64);
    let mut rows: Vec<Row> = Vec::new();
    let mut features: Vec<f32> = Vec::new();

    std::thread::scope(|scope| -> Result<(), CollectionError> {
        // Decoding runs one batch ahead of the model, on the same thread pool (measured: as
        // fast as `bench` at batch 32, docs/search.md).
        let (send, receive) = sync_channel::<Result<Vec<Decoded>, CollectionError>>(1);
        let is_todo = &is_todo;
        scope.spawn(move || {
            let mut items = inputs
                .iter()
                .filter(|item| item.as_ref().map_or(true, is_todo));
            // Batches never straddle a shard, so a shard recomputed after a kill is encoded
            // in the same batches and comes out byte for byte the same.
            let mut filled = 0;
            loop {
                let take = batch.min(shard_rows - filled);
                let chunk: Result<Vec<Item>, _> = items.by_ref().take(take).collect();
                let decoded = match chunk {
                    Ok(chunk) if chunk.is_empty() => return,
                    Ok(chunk) => Ok(chunk
                        .par_iter()
                        .map(|item| load(item, preprocessor))
                        .collect()),
                    Err(e) => Err(e),
                };
                filled = (filled + decoded.as_ref().map_or(0, Vec::len)) % shard_rows;
                let failed = decoded.is_err();
                if send.send(decoded).is_err() || failed {
                    return;
                }
            }
        });
        for decoded in receive {
            let decoded = decoded?;
            let good: Vec<f32> = decoded
                .iter()
                .filter_map(|d| d.pixels.as_deref())
                .flatten()
                .copied()
                .collect();
            let mut out = model.image_features(&good, batch, |_| {}).into_iter();
            for d in &decoded {
                match d.pixels {
                    Some(_) => features.extend(out.by_ref().take(dim)),
                    None => {
                        features.extend(std::iter::repeat_n(0.0, dim));
                        errors += 1;
                    }
                }
            }
            embedded += decoded.len() as u64;
            events(EmbedEvent::Embedded(decoded.len()));
            rows.extend(decoded.into_iter().map(|d| d.row));
            while rows.len() >= shard_rows {
                let rest_rows = rows.split_off(shard_rows);
                let rest = features.split_off(shard_rows * dim);
                let files = collection.shard_files(part, next_seq);
                write_shard(&files, &rows, &features, dim, options.dtype)?;
                manifest.rows += rows.len() as u64;
                manifest.errors += rows.iter().filter(|r| r.error.is_some()).count() as u64;
                write_manifest(collection, part, &manifest)?;
                events(EmbedEvent::ShardWritten(files));
                next_seq += 1;
                (rows, features) = (rest_rows, rest);
            }
        }
        Ok(())
    })?;
    if !rows.is_empty() {
        let files = collection.shard_files(part, next_seq);
        write_shard(&files, &rows, &features, dim, options.dtype)?;
        manifest.rows += rows.len() as u64;
        manifest.errors += rows.iter().filter(|r| r.error.is_some()).count() as u64;
        events(EmbedEvent::ShardWritten(files));
    }
    manifest.complete = true;
    write_manifest(collection, part, &manifest)?;
    Ok(EmbedSummary {
        embedded,
        errors,
        already,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The collection's earlier run must be this model and storage, and unfinished unless
/// `incremental`.
fn check_same_run(
    collection: &Collection,
    old: &Manifest,
    new: &Manifest,
    incremental: bool,
) -> Result<(), CollectionError> {
    let path = collection.root();
    if old.fingerprint != new.fingerprint || old.embed_dim != new.embed_dim {
        return Err(CollectionError::collection(
            path,
            format!(
                "holds features of other weights ({}, {}); embed into a new directory",
                old.weights, old.model
            ),
        ));
    }
    if old.dtype != new.dtype {
        return Err(CollectionError::collection(
            path,
            format!("stores {:?} features; pass the same dtype", old.dtype),
        ));
    }
    if old.complete && !incremental {
        return Err(CollectionError::collection(
            path,
            "already holds a finished collection: pass --incremental to add new images to it, \
             or choose a new directory",
        ));
    }
    Ok(())
}

fn write_manifest(
    collection: &Collection,
    part: Part,
    manifest: &Manifest,
) -> Result<(), CollectionError> {
    let text = serde_json::to_string_pretty(manifest).expect("a manifest serialises") + "\n";
    Ok(write_bytes_atomic(
        &collection.manifest_path(part),
        text.as_bytes(),
    )?)
}

/// An item read and preprocessed, or why not.
struct Decoded {
    row: Row,
    pixels: Option<Vec<f32>>,
}

fn load(item: &Item, preprocessor: Preprocessor) -> Decoded {
    let mut row = Row {
        path: item.id.clone(),
        bytes: None,
        width: None,
        height: None,
        error: None,
    };
    let bytes = match &item.source {
        Source::File(path) => std::fs::read(path),
        Source::Member { shard, member } => read_member(shard, *member),
    };
    let pixels = bytes
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            row.bytes = Some(bytes.len() as u64);
            decode(&bytes)
        })
        .map(|image| {
            let (w, h) = image.size();
            (row.width, row.height) = (Some(w as u32), Some(h as u32));
            preprocessor.pixels(&image)
        });
    match pixels {
        Ok(pixels) => Decoded {
            row,
            pixels: Some(pixels),
        },
        Err(error) => {
            row.error = Some(error);
            Decoded { row, pixels: None }
        }
    }
}

/// Features first, metadata last: the metadata file marks the shard complete.
fn write_shard(
    files: &ShardFiles,
    rows: &[Row],
    features: &[f32],
    dim: usize,
    dtype: StoreDtype,
) -> Result<(), CollectionError> {
    let path = &files.embeddings;
    write_atomic(path, |tmp| {
        let fail = |error| FileError {
            path: path.clone(),
            action: "write it",
            error,
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(tmp).map_err(fail)?);
        let shape = [rows.len(), dim];
        match dtype {
            StoreDtype::F32 => {
                NpyHeader::f32(&shape).write(&mut out).map_err(fail)?;
                for v in features {
                    out.write_all(&v.to_le_bytes()).map_err(fail)?;
                }
            }
            StoreDtype::F16 => {
                NpyHeader::f16(&shape).write(&mut out).map_err(fail)?;
                for v in features {
                    out.write_all(&half::f16::from_f32(*v).to_le_bytes())
                        .map_err(fail)?;
                }
            }
        }
        out.flush().map_err(fail)
    })?;
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(row).expect("a row serialises"));
        text.push('\n');
    }
    Ok(write_bytes_atomic(&files.metadata, text.as_bytes())?)
}
