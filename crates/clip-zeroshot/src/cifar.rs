//! CIFAR-10 and CIFAR-100 in their original python format (`cifar-10-batches-py/`,
//! `cifar-100-python/`): pickles of dicts holding a numpy `uint8` array `[N, 3072]` (red,
//! green, blue planes of 32 × 32) and label lists. Read with the restricted unpickler, which
//! never executes anything a pickle names.

use std::path::{Path, PathBuf};

use clip_model::checkpoint::pickle::{Value, parse};

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes: `data_batch_1..5`, `test_batch`, `batches.meta`.
    Ten,
    /// 100 classes: `train`, `test`, `meta` (fine labels).
    Hundred,
}

/// Images and labels of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct CifarSet {
    /// `[N]` images, each 32 × 32 RGB interleaved (`[H, W, 3]`, what `Image.fromarray` sees).
    pub images: Vec<Vec<u8>>,
    /// Label of each image.
    pub labels: Vec<usize>,
    /// Class names from the meta file, in label order.
    pub classes: Vec<String>,
}

/// Why a CIFAR file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CifarError {
    /// A file that cannot be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (shown in the message, so not a chained source).
        error: std::io::Error,
    },
    /// A file that is not what CIFAR's python version holds.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the `train` (`test == false`) or `test` split from `dir` — the extracted folder
/// (`cifar-10-batches-py`, `cifar-100-python`) or the directory holding it.
pub fn read_cifar(dir: &Path, kind: Cifar, test: bool) -> Result<CifarSet, CifarError> {
    let folder = match kind {
        Cifar::Ten => "cifar-10-batches-py",
        Cifar::Hundred => "cifar-100-python",
    };
    let root = if dir.join(folder).is_dir() {
        dir.join(folder)
    } else {
        dir.to_path_buf()
    };
    let (files, meta, names_key, labels_key): (Vec<String>, _, _, _) = match kind {
        Cifar::Ten => (
            if test {
                vec!["test_batch".into()]
            } else {
                (1..=5).map(|i| format!("data_batch_{i}")).collect()
            },
            "batches.meta",
            "label_names",
            "labels",
        ),
        Cifar::Hundred => (
            vec![if test { "test" } else { "train" }.into()],
            "meta",
            "fine_label_names",
            "fine_labels",
        ),
    };
    let meta_path = root.join(meta);
    let meta = load(&meta_path)?;
    let classes: Vec<String> = list(&meta_path, field(&meta_path, &meta, names_key)?)?
        .iter()
        .map(|v| {
            text(v).ok_or_else(|| {
                format_error(&meta_path, format!("'{names_key}' holds a non-string"))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut set = CifarSet {
        images: Vec::new(),
        labels: Vec::new(),
        classes,
    };
    for file in files {
        let path = root.join(file);
        let batch = load(&path)?;
        let pixels = uint8_matrix(&path, field(&path, &batch, "data")?)?;
        let labels: Vec<usize> = list(&path, field(&path, &batch, labels_key)?)?
            .iter()
            .map(|v| match v {
                Value::Int(i) => usize::try_from(*i).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| format_error(&path, format!("'{labels_key}' holds a non-label")))?;
        if labels.len() != pixels.len() {
            return Err(format_error(
                &path,
                format!("{} images but {} labels", pixels.len(), labels.len()),
            ));
        }
        if let Some(bad) = labels.iter().find(|&&l| l >= set.classes.len()) {
            return Err(format_error(
                &path,
                format!("label {bad} but {} classes", set.classes.len()),
            ));
        }
        set.images.extend(pixels);
        set.labels.extend(labels);
    }
    Ok(set)
}

fn format_error(path: &Path, message: impl Into<String>) -> CifarError {
    CifarError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn load(path: &Path) -> Result<Value, CifarError> {
    let bytes = std::fs::read(path).map_err(|error| CifarError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&bytes).map_err(|m| format_error(path, format!("not a readable pickle ({m})")))
}

/// A string key or value: python 2 pickles hold bytes, python 3 ones str.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

fn field<'a>(path: &Path, dict: &'a Value, key: &str) -> Result<&'a Value, CifarError> {
    let Value::Dict(entries) = dict else {
        return Err(format_error(path, "the pickle does not hold a dict"));
    };
    entries
        .iter()
        .find(|(k, _)| text(k).as_deref() == Some(key))
        .map(|(_, v)| v)
        .ok_or_else(|| format_error(path, format!("no '{key}' entry")))
}

fn list<'a>(path: &Path, v: &'a Value) -> Result<&'a [Value], CifarError> {
    match v {
        Value::List(items) | Value::Tuple(items) => Ok(items),
        _ => Err(format_error(path, "expected a list")),
    }
}

/// A numpy `uint8` array `[N, 3072]` (as `_reconstruct` + `BUILD` pickle it) → N images in
/// `[32, 32, 3]` order.
fn uint8_matrix(path: &Path, v: &Value) -> Result<Vec<Vec<u8>>, CifarError> {
    let bad = |m: &str| format_error(path, format!("'data' is not a uint8 array [N, 3072]: {m}"));
    let Value::Object {
        class,
        state: Some(state),
        ..
    } = v
    else {
        return Err(bad("not a numpy array"));
    };
    if !class.ends_with("multiarray._reconstruct") {
        return Err(bad("not a numpy array"));
    }
    // state = (version, shape, dtype, is_fortran, raw bytes)
    let Value::Tuple(parts) = state.as_ref() else {
        return Err(bad("unexpected array state"));
    };
    let shape: Vec<usize> = match parts.get(1) {
        Some(Value::Tuple(dims)) => dims
            .iter()
            .map(|d| match d {
                Value::Int(i) => usize::try_from(*i).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| bad("bad shape"))?,
        _ => return Err(bad("bad shape")),
    };
    if let Some(Value::Object { args, .. }) = parts.get(2)
        && let Some(code) = args.first().and_then(text)
        && code != "u1"
    {
        return Err(bad(&format!("element type '{code}'")));
    }
    if matches!(parts.get(3), Some(Value::Bool(true))) {
        return Err(bad("Fortran order"));
    }
    let raw = match parts.get(4) {
        Some(Value::Bytes(b)) => b.as_slice(),
        Some(Value::Str(s)) => s.as_bytes(),
        _ => return Err(bad("no data")),
    };
    let [n, 3072] = shape[..] else {
        return Err(bad(&format!("shape {shape:?}")));
    };
    if raw.len() != n * 3072 {
        return Err(bad(&format!("{} bytes for {n} images", raw.len())));
    }
    Ok(raw
        .chunks_exact(3072)
        .map(|planes| {
            let mut hwc = vec![0u8; 3072];
            for p in 0..1024 {
                for c in 0..3 {
                    hwc[p * 3 + c] = planes[c * 1024 + p];
                }
            }
            hwc
        })
        .collect())
}
