//! A collection directory, as `embed` writes it and `index` reads it:
//!
//! ```text
//! OUT_DIR/
//!   manifest.json              the model, the stored dtype, whether the run finished
//!   img_emb/00000.npy          features [rows, embed_dim], f32 or f16, not normalised
//!   metadata/00000.jsonl       one line per row: path, file size, image size, error
//!   index/                     written by `index`
//! ```
//!
//! A shard is complete once its metadata file exists (written after its features, each file
//! atomically), so a killed run leaves only complete shards and at most one orphaned `.npy`,
//! which the next run overwrites. With `--shard I/N` each part's files carry the prefix
//! `IIIII-of-NNNNN-` and its own manifest (`manifest-IIIII-of-NNNNN.json`), so N processes
//! can write into one shared directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CollectionError, Part};

/// Features directory.
pub const EMBEDDINGS_DIR: &str = "img_emb";
/// Metadata directory.
pub const METADATA_DIR: &str = "metadata";

/// How features are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreDtype {
    /// 4 bytes a value.
    #[default]
    F32,
    /// 2 bytes a value (NumPy's `float16`): half the disk, cosine scores within ~1e-3.
    F16,
}

/// What one part of a collection was embedded with, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version (1).
    pub version: u32,
    /// The weights as given to `embed` (a file or a model name).
    pub weights: String,
    /// The architecture's name (`ViT-B/32`, …).
    pub model: String,
    /// A digest of the weights' text projection, so parts and queries can be checked to
    /// come from the same model on any machine.
    pub fingerprint: String,
    /// Feature width.
    pub embed_dim: usize,
    /// Stored element type.
    pub dtype: StoreDtype,
    /// This part (`"0/1"` for a whole collection).
    pub part: String,
    /// Whether every input of the last run was embedded.
    pub complete: bool,
    /// Rows written so far (errors included).
    pub rows: u64,
    /// Rows whose image could not be read (their features are zero).
    pub errors: u64,
}

/// One metadata line: the row's image and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The image: an absolute path, or `SHARD.tar#KEY`.
    pub path: String,
    /// Its size in bytes.
    pub bytes: Option<u64>,
    /// Its width in pixels.
    pub width: Option<u32>,
    /// Its height in pixels.
    pub height: Option<u32>,
    /// Why it has no features (their row is zero), if it has none.
    pub error: Option<String>,
}

/// A complete shard's two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFiles {
    /// `img_emb/….npy`.
    pub embeddings: PathBuf,
    /// `metadata/….jsonl`.
    pub metadata: PathBuf,
}

/// A collection directory.
#[derive(Debug, Clone)]
pub struct Collection {
    root: PathBuf,
}

impl Collection {
    /// The collection at `root` (nothing is read or created yet).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Collection { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest file of `part`.
    pub fn manifest_path(&self, part: Part) -> PathBuf {
        let prefix = part.file_prefix();
        match prefix.strip_suffix('-') {
            Some(tag) => self.root.join(format!("manifest-{tag}.json")),
            None => self.root.join("manifest.json"),
        }
    }

    /// The files of shard number `seq` of `part`.
    pub fn shard_files(&self, part: Part, seq: usize) -> ShardFiles {
        let stem = format!("{}{seq:05}", part.file_prefix());
        ShardFiles {
            embeddings: self.root.join(EMBEDDINGS_DIR).join(format!("{stem}.npy")),
            metadata: self.root.join(METADATA_DIR).join(format!("{stem}.jsonl")),
        }
    }

    /// `part`'s manifest, if it has been written.
    pub fn manifest(&self, part: Part) -> Result<Option<Manifest>, CollectionError> {
        read_manifest(&self.manifest_path(part))
            .map(Some)
            .or_else(|e| match e {
                CollectionError::Io { error, .. }
                    if error.kind() == std::io::ErrorKind::NotFound =>
                {
                    Ok(None)
                }
                e => Err(e),
            })
    }

    /// Every part's manifest (`manifest*.json`), sorted by file name.
    pub fn manifests(&self) -> Result<Vec<Manifest>, CollectionError> {
        let mut files: Vec<PathBuf> = list_dir(&self.root)?
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with("manifest") && name.ends_with(".json")
            })
            .collect();
        files.sort();
        files.iter().map(|f| read_manifest(f)).collect()
    }

    /// `part`'s complete shards as `(seq, files)`, in order.
    pub fn complete_shards(&self, part: Part) -> Result<Vec<(usize, ShardFiles)>, CollectionError> {
        let prefix = part.file_prefix();
        let mut out = Vec::new();
        for meta in list_dir(&self.root.join(METADATA_DIR))? {
            let name = meta.file_name().unwrap_or_default().to_string_lossy();
            let Some(stem) = name.strip_suffix(".jsonl") else {
                continue;
            };
            let Some(seq) = stem.strip_prefix(&prefix) else {
                continue;
            };
            if seq.len() != 5 || !seq.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let seq: usize = seq.parse().expect("five digits");
            out.push((seq, self.shard_files(part, seq)));
        }
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out)
    }

    /// Every complete shard of every part named by a manifest, in file-name order.
    pub fn all_shards(&self) -> Result<Vec<ShardFiles>, CollectionError> {
        let mut out = Vec::new();
        for manifest in self.manifests()? {
            let part: Part = manifest.part.parse()?;
            out.extend(self.complete_shards(part)?.into_iter().map(|(_, f)| f));
        }
        Ok(out)
    }
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, CollectionError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().map(|e| e.path()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CollectionError::io(dir, e)),
    }
}

fn read_manifest(path: &Path) -> Result<Manifest, CollectionError> {
    let text = std::fs::read_to_string(path).map_err(|e| CollectionError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| CollectionError::collection(path, format!("not a collection manifest: {e}")))
}

/// A metadata file's rows.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, CollectionError> {
    let text = std::fs::read_to_string(path).map_err(|e| CollectionError::io(path, e))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| CollectionError::collection(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// A features file as f32 rows: `(rows, width, values)`.
pub fn read_embeddings(path: &Path) -> Result<(usize, usize, Vec<f32>), CollectionError> {
    let bytes = std::fs::read(path).map_err(|e| CollectionError::io(path, e))?;
    let (header, start) = clip_model::npy::NpyHeader::parse(&bytes)
        .map_err(|m| CollectionError::collection(path, m))?;
    let &[rows, width] = header.shape() else {
        return Err(CollectionError::collection(
            path,
            "features are not a matrix",
        ));
    };
    let data = &bytes[start..start + rows * width * header.element_size()];
    let values = match header.element_size() {
        2 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    };
    Ok((rows, width, values))
}
