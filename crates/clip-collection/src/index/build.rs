//! Building an index from a collection's shards, one shard in memory at a time.

use std::io::Write;

use clip_model::fs::{FileError, write_atomic, write_bytes_atomic};
use clip_model::npy::NpyHeader;
use rayon::prelude::*;

use super::{INDEX_DIR, IndexInfo, IndexKind, hnsw_options, unit, usearch_error, utf8};
use crate::layout::{ShardFiles, read_embeddings, read_rows};
use crate::{Collection, CollectionError};

/// Builds an index of `kind` over every part's complete shards of `collection`, leaving out
/// rows whose image could not be read. Parts must come from the same weights.
pub fn build_index(collection: &Collection, kind: IndexKind) -> Result<IndexInfo, CollectionError> {
    let root = collection.root();
    let manifests = collection.manifests()?;
    let Some(first) = manifests.first() else {
        return Err(CollectionError::collection(
            root,
            "no manifest.json: not a collection written by `embed --output DIR/`",
        ));
    };
    if let Some(other) = manifests
        .iter()
        .find(|m| m.fingerprint != first.fingerprint)
    {
        return Err(CollectionError::collection(
            root,
            format!(
                "parts {} and {} were embedded with different weights ({} and {})",
                first.part, other.part, first.weights, other.weights
            ),
        ));
    }
    let shards = collection.all_shards()?;
    let mut paths = Vec::new();
    let mut keep = Vec::new();
    for files in &shards {
        let rows = read_rows(&files.metadata)?;
        keep.push(rows.iter().map(|r| r.error.is_none()).collect::<Vec<_>>());
        paths.extend(
            rows.into_iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.path),
        );
    }
    let width = first.embed_dim;
    let dir = root.join(INDEX_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| CollectionError::io(&dir, e))?;
    let unit_rows = |(files, keep): (&ShardFiles, &Vec<bool>)| unit_rows(files, keep, width);
    let file = dir.join(kind.file());
    match kind {
        IndexKind::Exact => write_atomic(&file, |tmp| -> Result<(), CollectionError> {
            let fail = |error| FileError {
                path: file.clone(),
                action: "write it",
                error,
            };
            let mut out = std::io::BufWriter::new(std::fs::File::create(tmp).map_err(fail)?);
            NpyHeader::f32(&[paths.len(), width])
                .write(&mut out)
                .map_err(fail)?;
            for shard in shards.iter().zip(&keep) {
                for v in unit_rows(shard)? {
                    out.write_all(&v.to_le_bytes()).map_err(fail)?;
                }
            }
            out.flush().map_err(fail)?;
            Ok(())
        })?,
        IndexKind::Hnsw => {
            let fail = usearch_error(&file);
            let graph = usearch::Index::new(&hnsw_options(width)).map_err(fail)?;
            graph
                .reserve_capacity_and_threads(paths.len(), rayon::current_num_threads())
                .map_err(fail)?;
            let mut key = 0u64;
            for shard in shards.iter().zip(&keep) {
                let rows = unit_rows(shard)?;
                rows.par_chunks(width)
                    .enumerate()
                    .try_for_each(|(i, row)| graph.add(key + i as u64, row))
                    .map_err(fail)?;
                key += (rows.len() / width) as u64;
            }
            write_atomic(&file, |tmp| -> Result<(), CollectionError> {
                graph.save(utf8(tmp)?).map_err(fail)
            })?;
        }
    }
    let mut text = String::new();
    for path in &paths {
        text.push_str(&serde_json::to_string(path).expect("a string serialises"));
        text.push('\n');
    }
    write_bytes_atomic(&dir.join("paths.jsonl"), text.as_bytes())?;
    let info = IndexInfo {
        kind,
        rows: paths.len(),
        width,
        weights: first.weights.clone(),
        fingerprint: first.fingerprint.clone(),
        skipped: keep.iter().flatten().filter(|k| !**k).count(),
    };
    let json = serde_json::to_string_pretty(&info).expect("info serialises") + "\n";
    write_bytes_atomic(&dir.join("index.json"), json.as_bytes())?;
    Ok(info)
}

/// A shard's readable rows, L2-normalised, end to end.
fn unit_rows(files: &ShardFiles, keep: &[bool], width: usize) -> Result<Vec<f32>, CollectionError> {
    let (rows, w, values) = read_embeddings(&files.embeddings)?;
    if rows != keep.len() || w != width || width == 0 {
        return Err(CollectionError::collection(
            &files.embeddings,
            format!(
                "[{rows}, {w}] features for {} metadata rows of width {width}",
                keep.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for (row, _) in values.chunks_exact(width).zip(keep).filter(|(_, k)| **k) {
        out.extend(unit(row));
    }
    Ok(out)
}
