//! The searchable form of a collection: every readable row's features, L2-normalised, with
//! the rows' paths beside them, in one of two kinds:
//!
//! - [`IndexKind::Exact`]: the rows in one `.npy` that a search maps into memory and scores
//!   entirely, in parallel — exact, and quick enough up to a few hundred thousand rows;
//! - [`IndexKind::Hnsw`]: a usearch HNSW graph (inner product on unit rows) that a search
//!   views memory-mapped — approximate (measured recall@10 ≥ 0.999), a fraction of a
//!   millisecond a query (docs/search.md).
//!
//! ```text
//! OUT_DIR/index/index.json     kind, rows, width, the model's fingerprint and weights
//! OUT_DIR/index/exact.npy      f32 [rows, width], unit rows (exact)
//! OUT_DIR/index/hnsw.usearch   usearch's file, row numbers as keys (hnsw)
//! OUT_DIR/index/paths.jsonl    one JSON string per row
//! ```

mod build;
mod top_k;

use std::path::Path;

use clip_model::npy::NpyHeader;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};

pub use build::build_index;

use crate::CollectionError;

/// The index directory inside a collection.
pub const INDEX_DIR: &str = "index";

/// How an index finds the nearest rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Every row scored.
    #[default]
    Exact,
    /// A hierarchical navigable small-world graph (usearch): approximate, sublinear.
    Hnsw,
}

impl IndexKind {
    fn file(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact.npy",
            IndexKind::Hnsw => "hnsw.usearch",
        }
    }
}

/// What an index holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Its kind.
    pub kind: IndexKind,
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
    /// Its row in the index (see [`Index::path`]).
    pub row: usize,
    /// The image (an absolute path, or `SHARD.tar#KEY`).
    pub path: String,
    /// Cosine similarity with the query.
    pub score: f32,
}

/// usearch's settings for unit rows of `width`: inner product (distance 1 − cosine), f32,
/// its own defaults for connectivity and expansion (measured in docs/search.md).
fn hnsw_options(width: usize) -> usearch::IndexOptions {
    usearch::IndexOptions {
        dimensions: width,
        metric: usearch::MetricKind::IP,
        quantization: usearch::ScalarKind::F32,
        ..Default::default()
    }
}

/// `row` divided by its L2 norm (a zero row stays zero): what both kinds store and compare.
fn unit(row: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let norm = row
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    row.iter().map(move |v| v / norm)
}

/// usearch's errors (C++ exceptions) as one about `file`.
fn usearch_error<E: std::fmt::Display>(file: &Path) -> impl Fn(E) -> CollectionError + Copy + '_ {
    move |e| CollectionError::collection(file, e.to_string())
}

/// usearch takes paths as UTF-8 strings.
fn utf8(path: &Path) -> Result<&str, CollectionError> {
    path.to_str()
        .ok_or_else(|| CollectionError::collection(path, "the index needs a UTF-8 path"))
}

/// An index opened for search: its file memory-mapped, the paths in memory.
pub struct Index {
    info: IndexInfo,
    paths: Vec<String>,
    rows: Rows,
}

/// Where the rows are.
enum Rows {
    /// The `.npy` mapping and where its data starts.
    Exact { map: Mmap, start: usize },
    /// usearch's graph, viewing its file.
    Hnsw(usearch::Index),
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
        let file = dir.join(info.kind.file());
        let rows = match info.kind {
            IndexKind::Exact => open_exact(&file, paths.len(), info.width)?,
            IndexKind::Hnsw => {
                let fail = usearch_error(&file);
                let graph = usearch::Index::new(&hnsw_options(info.width)).map_err(fail)?;
                graph.view(utf8(&file)?).map_err(fail)?;
                if graph.size() != paths.len() || graph.dimensions() != info.width {
                    return Err(CollectionError::collection(
                        &file,
                        format!(
                            "{} rows of width {}, for {} paths of width {}",
                            graph.size(),
                            graph.dimensions(),
                            paths.len(),
                            info.width
                        ),
                    ));
                }
                Rows::Hnsw(graph)
            }
        };
        Ok(Index { info, paths, rows })
    }

    /// What the index holds.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// The image of `row` (an absolute path, or `SHARD.tar#KEY`), if there is such a row.
    pub fn path(&self, row: usize) -> Option<&str> {
        self.paths.get(row).map(String::as_str)
    }

    /// The `k` rows most similar to `query` (any length-`width` vector; normalised here),
    /// best first.
    ///
    /// # Panics
    /// If `query` is not `width` long.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, CollectionError> {
        let width = self.info.width;
        assert_eq!(query.len(), width, "query width");
        let query: Vec<f32> = unit(query).collect();
        let found = match &self.rows {
            Rows::Exact { map, start } => {
                let bytes = &map[*start..*start + self.paths.len() * width * 4];
                // SAFETY: any 4 bytes are a valid f32; the data starts 64-byte aligned in a
                // page-aligned mapping, which the empty prefix confirms.
                let (prefix, matrix, _) = unsafe { bytes.align_to::<f32>() };
                assert!(prefix.is_empty() && cfg!(target_endian = "little"));
                top_k::exact_top_k(matrix, width, &query, k)
            }
            Rows::Hnsw(graph) => {
                let found = graph
                    .search(&query, k)
                    .map_err(|e| CollectionError::collection(INDEX_DIR, format!("search: {e}")))?;
                let scores = found.distances.iter().map(|d| 1.0 - d);
                found
                    .keys
                    .iter()
                    .map(|&key| key as usize)
                    .zip(scores)
                    .collect()
            }
        };
        Ok(found
            .into_iter()
            .map(|(i, score)| Hit {
                row: i,
                path: self.paths[i].clone(),
                score,
            })
            .collect())
    }
}

/// An exact index's matrix, mapped and checked against the paths.
fn open_exact(file: &Path, rows: usize, width: usize) -> Result<Rows, CollectionError> {
    let handle = std::fs::File::open(file).map_err(|e| CollectionError::io(file, e))?;
    // SAFETY: the index is written once, atomically (a rebuild replaces the file by rename,
    // leaving this mapping's inode intact); nothing writes into it in place.
    let map = unsafe { Mmap::map(&handle) }.map_err(|e| CollectionError::io(file, e))?;
    let (header, start) =
        NpyHeader::parse(&map).map_err(|m| CollectionError::collection(file, m))?;
    if header.shape() != [rows, width] || header.element_size() != 4 {
        return Err(CollectionError::collection(
            file,
            format!(
                "shape {:?} does not match {rows} paths of width {width}",
                header.shape()
            ),
        ));
    }
    Ok(Rows::Exact { map, start })
}
