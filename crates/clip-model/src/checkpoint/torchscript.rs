//! OpenAI's release files: TorchScript archives.
//!
//! A zip holding `<name>/data.pkl` (the module tree: `__torch__.*` objects whose state
//! holds sub-modules and tensors), `<name>/data/<key>` (raw storages) and `code/`,
//! `constants.pkl`. burn-store's reader refuses the `__torch__` classes, so this module
//! walks the tree with the restricted unpickler in [`super::pickle`], keeping only tensors,
//! and reads storages straight from the memory-mapped archive.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use burn_store::burn_pack::{DType, Tensor as PackTensor};

use super::pickle::{self, TensorRef, Value};
use super::tensors::from_reader;
use crate::LoadError;

const FORMAT: &str = "TorchScript archive";

fn open_zip(path: &Path) -> Result<zip::ZipArchive<File>, LoadError> {
    let file = File::open(path).map_err(|e| LoadError::io(path, e))?;
    zip::ZipArchive::new(file).map_err(|e| LoadError::corrupt(path, "zip", e))
}

/// Whether the zip at `path` is a TorchScript archive (not a `torch.save` file).
pub fn is_torchscript(path: &Path) -> Result<bool, LoadError> {
    let zip = open_zip(path)?;
    Ok(member_names(&zip)
        .iter()
        .any(|n| n.ends_with("/constants.pkl") || n.contains("/code/")))
}

/// The archive's member names (names that are not valid UTF-8 are skipped).
fn member_names(zip: &zip::ZipArchive<File>) -> Vec<String> {
    zip.file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect()
}

/// Where one storage's bytes are in the file.
struct Member {
    start: u64,
    len: u64,
}

/// Indexes every tensor of the archive by its module path (`visual.conv1.weight` …).
pub fn read(path: &Path) -> Result<BTreeMap<String, PackTensor>, LoadError> {
    let corrupt = |d: String| LoadError::corrupt(path, FORMAT, d);
    let mut zip = open_zip(path)?;
    let pkl_name = member_names(&zip)
        .into_iter()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .ok_or_else(|| corrupt("no <name>/data.pkl member".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();

    let pickle_bytes = {
        use std::io::Read;
        let mut member = zip
            .by_name(&pkl_name)
            .map_err(|e| corrupt(format!("{pkl_name}: {e}")))?;
        let mut buf = Vec::new();
        member
            .read_to_end(&mut buf)
            .map_err(|e| corrupt(format!("{pkl_name}: {e}")))?;
        buf
    };
    let root = pickle::parse(&pickle_bytes).map_err(|e| corrupt(format!("{pkl_name}: {e}")))?;

    let mut found = Vec::new();
    collect(&root, &mut String::new(), &mut found, 0);
    if found.is_empty() {
        return Err(corrupt("the archive holds no tensors".into()));
    }

    let mut members = HashMap::new();
    for i in 0..zip.len() {
        let file = zip.by_index_raw(i).map_err(|e| corrupt(e.to_string()))?;
        let name = file
            .name()
            .map_err(|e| corrupt(e.to_string()))?
            .into_owned();
        if let Some(key) = name
            .strip_prefix(&prefix)
            .and_then(|n| n.strip_prefix("data/"))
        {
            if file.compression() != zip::CompressionMethod::Stored {
                return Err(corrupt(format!("storage {key} is compressed")));
            }
            let start = file
                .data_start()
                .ok_or_else(|| corrupt(format!("storage {key} has no data offset")))?;
            members.insert(
                key.to_string(),
                Member {
                    start,
                    len: file.size(),
                },
            );
        }
    }
    drop(zip);

    // Positioned reads rather than a memory map: a map's pages stay resident as they are
    // touched, which would add the whole input to the peak memory of a conversion.
    let file = Arc::new(File::open(path).map_err(|e| LoadError::io(path, e))?);
    let file_len = file.metadata().map_err(|e| LoadError::io(path, e))?.len();

    let mut out = BTreeMap::new();
    for (name, tensor) in found {
        let dtype = storage_dtype(&tensor.storage_class).ok_or_else(|| {
            corrupt(format!(
                "{name}: unsupported storage {}",
                tensor.storage_class
            ))
        })?;
        let member = members
            .get(&tensor.key)
            .ok_or_else(|| corrupt(format!("{name}: storage data/{} is missing", tensor.key)))?;
        let (start, len) = (member.start, member.len);
        if start.saturating_add(len) > file_len {
            return Err(corrupt(format!(
                "{name}: storage data/{} runs past the end",
                tensor.key
            )));
        }
        let file = file.clone();
        let shape = tensor.shape.clone();
        out.insert(
            name.clone(),
            from_reader(name, dtype, shape, move || {
                let bytes = read_at(&file, start, len as usize).map_err(|e| e.to_string())?;
                gather(&bytes, &tensor, dtype.size())
            }),
        );
    }
    Ok(out)
}

/// `len` bytes of `file` from `start`, without moving a shared cursor.
fn read_at(file: &File, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, start)?;
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < len {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                start + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(buf)
}

/// Depth-first walk of module objects, recording every tensor attribute by its dotted path.
fn collect(value: &Value, path: &mut String, out: &mut Vec<(String, TensorRef)>, depth: usize) {
    if depth > 64 {
        return;
    }
    let entries = match value {
        Value::Object {
            state: Some(state), ..
        } => match state.as_ref() {
            Value::Dict(entries) => entries,
            _ => return,
        },
        Value::Dict(entries) => entries,
        _ => return,
    };
    for (key, value) in entries {
        let Value::Str(key) = key else { continue };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        match value {
            Value::Tensor(t) => out.push((path.clone(), t.clone())),
            Value::Object { .. } => collect(value, path, out, depth + 1),
            _ => {}
        }
        path.truncate(len);
    }
}

fn storage_dtype(class: &str) -> Option<DType> {
    Some(match class.rsplit('.').next()? {
        "HalfStorage" => DType::F16,
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        _ => return None,
    })
}

/// Copies a (possibly strided) view of `storage` out in row-major order.
fn gather(storage: &[u8], t: &TensorRef, size: usize) -> Result<Vec<u8>, String> {
    let numel: usize = t.shape.iter().product();
    if t.shape.len() != t.stride.len() {
        return Err("shape and stride disagree".into());
    }
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .map(|(&d, &s)| d.saturating_sub(1) * s)
        .sum::<usize>()
        + t.offset;
    if numel > 0 && (last + 1) * size > storage.len() {
        return Err(format!(
            "view needs {} bytes but the storage has {}",
            (last + 1) * size,
            storage.len()
        ));
    }
    if numel == 0 {
        return Ok(Vec::new());
    }
    let contiguous = {
        let mut expected = 1;
        let mut ok = true;
        for (&d, &s) in t.shape.iter().zip(&t.stride).rev() {
            if d > 1 && s != expected {
                ok = false;
            }
            expected *= d;
        }
        ok
    };
    if contiguous {
        let start = t.offset * size;
        return Ok(storage[start..start + numel * size].to_vec());
    }
    let mut out = Vec::with_capacity(numel * size);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(&storage[at * size..(at + 1) * size]);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_transposed_views() {
        // storage 0..6 as a 2×3 row-major matrix, viewed transposed (3×2, strides 1, 3).
        let storage: Vec<u8> = (0u8..6).collect();
        let t = TensorRef {
            storage_class: "torch.ByteStorage".into(),
            key: "0".into(),
            offset: 0,
            shape: vec![3, 2],
            stride: vec![1, 3],
        };
        assert_eq!(gather(&storage, &t, 1).unwrap(), vec![0, 3, 1, 4, 2, 5]);
        let out_of_bounds = TensorRef { offset: 1, ..t };
        assert!(gather(&storage, &out_of_bounds, 1).is_err());
    }
}
