//! The searchable form of a collection: every readable row's features, L2-normalised, in one
//! `.npy` that a search maps into memory, with the rows' paths beside it. Search is exact
//! (every row scored, in parallel): a million 512-wide rows are 2 GiB and one scan.
//!
//! ```text
//! OUT_DIR/index/index.json     kind, rows, width, the model's fingerprint and weights
//! OUT_DIR/index/exact.npy      f32 [rows, width], unit rows
//! OUT_DIR/index/paths.jsonl    one JSON string per row
//! ```

use std::cmp::Ordering;
use std::io::Write;
use std::path::{Path, PathBuf};

use clip_model::fs::{FileError, write_atomic, write_bytes_atomic};
use clip_model::npy::NpyHeader;
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layout::{read_embeddings, read_rows};
use crate::{Collection, CollectionError};

/// The index directory inside a collection.
pub const INDEX_DIR: &str = "index";

/// What an index holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// `"exact"`.
    pub kind: String,
    /// Rows indexed (images that could be read).
    pub rows: usize,
    /// Feature width.
    pub width: usize,
    /// The weights the collection was embedded with, as given.
    pub weights: String,
    /// Their fingerprint (see [`fingerprint`](crate::fingerprint)).
    pub fingerprint: String,
    /// Rows left out because their image could not be read.
    pub skipped: usize,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The image (an absolute path, or `SHARD.tar#KEY`).
    pub path: String,
    /// Cosine similarity with the query.
    pub score: f32,
}

/// Builds the exact index of `collection` from every part's complete shards, streaming one
/// shard at a time. Parts must come from the same weights.
pub fn build_index(collection: &Collection) -> Result<IndexInfo, CollectionError> {
    let root = collection.root();
    let manifests = collection.manifests()?;
    let Some(first) = manifests.first() else {
        return Err(CollectionError::collection(
            root,
            "no manifest.json: not a collection written by `embed --output DIR`",
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
    let skipped = keep.iter().flatten().filter(|k| !**k).count();
    let width = first.embed_dim;
    let dir = root.join(INDEX_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| CollectionError::io(&dir, e))?;

    let matrix = dir.join("exact.npy");
    write_atomic(&matrix, |tmp| -> Result<(), CollectionError> {
        let fail = |error| FileError {
            path: matrix.clone(),
            action: "write it",
            error,
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(tmp).map_err(fail)?);
        NpyHeader::f32(&[paths.len(), width])
            .write(&mut out)
            .map_err(fail)?;
        for (files, keep) in shards.iter().zip(&keep) {
            let (rows, w, values) = read_embeddings(&files.embeddings)?;
            if rows != keep.len() || w != width {
                return Err(CollectionError::collection(
                    &files.embeddings,
                    format!(
                        "[{rows}, {w}] features for {} metadata rows of width {width}",
                        keep.len()
                    ),
                ));
            }
            for (row, _) in values.chunks_exact(width).zip(keep).filter(|(_, k)| **k) {
                let norm = row
                    .iter()
                    .map(|v| v * v)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                for v in row {
                    out.write_all(&(v / norm).to_le_bytes()).map_err(fail)?;
                }
            }
        }
        out.flush().map_err(fail)?;
        Ok(())
    })?;
    let mut text = String::new();
    for path in &paths {
        text.push_str(&serde_json::to_string(path).expect("a string serialises"));
        text.push('\n');
    }
    write_bytes_atomic(&dir.join("paths.jsonl"), text.as_bytes())?;
    let info = IndexInfo {
        kind: "exact".into(),
        rows: paths.len(),
        width,
        weights: first.weights.clone(),
        fingerprint: first.fingerprint.clone(),
        skipped,
    };
    let json = serde_json::to_string_pretty(&info).expect("info serialises") + "\n";
    write_bytes_atomic(&dir.join("index.json"), json.as_bytes())?;
    Ok(info)
}

/// An index opened for search: the matrix memory-mapped, the paths in memory.
pub struct Index {
    info: IndexInfo,
    paths: Vec<String>,
    map: Mmap,
    start: usize,
}

impl Index {
    /// Opens the index of the collection at `root` (built by [`build_index`]).
    pub fn open(root: impl AsRef<Path>) -> Result<Self, CollectionError> {
        let dir = root.as_ref().join(INDEX_DIR);
        let info_path = dir.join("index.json");
        let text = std::fs::read_to_string(&info_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CollectionError::collection(
                root.as_ref(),
                "no index: run `cargo xtask index --embeddings DIR` first",
            ),
            _ => CollectionError::io(&info_path, e),
        })?;
        let info: IndexInfo = serde_json::from_str(&text)
            .map_err(|e| CollectionError::collection(&info_path, e.to_string()))?;
        let paths_file = dir.join("paths.jsonl");
        let paths = std::fs::read_to_string(&paths_file)
            .map_err(|e| CollectionError::io(&paths_file, e))?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| CollectionError::collection(&paths_file, e.to_string()))?;
        let matrix: PathBuf = dir.join("exact.npy");
        let file = std::fs::File::open(&matrix).map_err(|e| CollectionError::io(&matrix, e))?;
        // SAFETY: the index is written once, atomically (a rebuild replaces the file by
        // rename, leaving this mapping's inode intact); nothing writes into it in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| CollectionError::io(&matrix, e))?;
        let (header, start) =
            NpyHeader::parse(&map).map_err(|m| CollectionError::collection(&matrix, m))?;
        if header.shape() != [paths.len(), info.width] || header.element_size() != 4 {
            return Err(CollectionError::collection(
                &matrix,
                format!(
                    "shape {:?} does not match {} paths of width {}",
                    header.shape(),
                    paths.len(),
                    info.width
                ),
            ));
        }
        Ok(Index {
            info,
            paths,
            map,
            start,
        })
    }

    /// What the index holds.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// The unit rows, `[rows · width]`.
    fn matrix(&self) -> &[f32] {
        let bytes = &self.map[self.start..self.start + self.paths.len() * self.info.width * 4];
        // SAFETY: any 4 bytes are a valid f32; the data starts 64-byte aligned in a
        // page-aligned mapping, which the empty prefix confirms.
        let (prefix, values, _) = unsafe { bytes.align_to::<f32>() };
        assert!(prefix.is_empty() && cfg!(target_endian = "little"));
        values
    }

    /// The `k` rows most similar to `query` (any length-`width` vector; normalised here),
    /// best first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        assert_eq!(query.len(), self.info.width, "query width");
        let norm = query
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        let query: Vec<f32> = query.iter().map(|v| v / norm).collect();
        let width = self.info.width;
        let best = self
            .matrix()
            .par_chunks(width * 1024)
            .enumerate()
            .map(|(block, rows)| {
                let mut top = TopK::new(k);
                for (i, row) in rows.chunks_exact(width).enumerate() {
                    let score = row.iter().zip(&query).map(|(a, b)| a * b).sum();
                    top.push(block * 1024 + i, score);
                }
                top
            })
            .reduce(
                || TopK::new(k),
                |mut a, b| {
                    for (i, s) in b.items {
                        a.push(i, s);
                    }
                    a
                },
            );
        best.sorted()
            .into_iter()
            .map(|(i, score)| Hit {
                path: self.paths[i].clone(),
                score,
            })
            .collect()
    }
}

/// The `k` best `(row, score)` seen; ties keep the earlier row.
struct TopK {
    k: usize,
    items: Vec<(usize, f32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn better(a: &(usize, f32), b: &(usize, f32)) -> Ordering {
        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
    }

    fn push(&mut self, row: usize, score: f32) {
        if self.k == 0 {
            return;
        }
        if self.items.len() == self.k {
            let worst = self.items.last().expect("k > 0");
            if Self::better(&(row, score), worst) != Ordering::Less {
                return;
            }
            self.items.pop();
        }
        let at = self
            .items
            .partition_point(|x| Self::better(x, &(row, score)) == Ordering::Less);
        self.items.insert(at, (row, score));
    }

    fn sorted(self) -> Vec<(usize, f32)> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_in_order_with_ties_to_the_earlier_row() {
        let mut top = TopK::new(3);
        for (i, s) in [0.1, 0.9, 0.5, 0.9, -1.0, 0.7].into_iter().enumerate() {
            top.push(i, s);
        }
        assert_eq!(top.sorted(), [(1, 0.9), (3, 0.9), (5, 0.7)]);
        let mut none = TopK::new(0);
        none.push(0, 1.0);
        assert!(none.sorted().is_empty());
    }
}
