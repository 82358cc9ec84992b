//! Deferred transformations of checkpoint tensors: nothing is read until the bytes are drawn.

use burn_store::burn_pack::{Bytes, DType, Error as PackError, Tensor as PackTensor};

/// The element size of `dtype` in bytes.
pub(super) fn element_size(dtype: DType) -> usize {
    dtype.size()
}

/// `tensor` under a new name.
pub(super) fn renamed(mut tensor: PackTensor, name: &str) -> PackTensor {
    tensor.name = name.to_string();
    tensor
}

/// A 2-D tensor transposed (`[r, c]` → `[c, r]`).
pub(super) fn transposed(tensor: PackTensor, name: &str) -> PackTensor {
    let dims = tensor.shape.to_vec();
    let (rows, cols) = match dims.as_slice() {
        [r, c] => (*r, *c),
        _ => return renamed(tensor, name),
    };
    let dtype = tensor.dtype;
    let size = element_size(dtype);
    PackTensor::deferred(
        name.to_string(),
        dtype,
        vec![cols, rows],
        None,
        rows * cols * size,
        move || {
            let src = tensor.to_bytes()?;
            let mut out = vec![0u8; src.len()];
            for r in 0..rows {
                for c in 0..cols {
                    let from = (r * cols + c) * size;
                    let to = (c * rows + r) * size;
                    out[to..to + size].copy_from_slice(&src[from..from + size]);
                }
            }
            Ok(Bytes::from_bytes_vec(out))
        },
    )
}

/// Tensors of one dtype and equal trailing dimensions stacked along the first axis.
pub(super) fn concat_rows(parts: Vec<PackTensor>, name: &str) -> Result<PackTensor, String> {
    let first = parts
        .first()
        .ok_or_else(|| format!("{name}: nothing to concatenate"))?;
    let dtype = first.dtype;
    let tail = first.shape.to_vec()[1..].to_vec();
    let mut rows = 0;
    for p in &parts {
        let dims = p.shape.to_vec();
        if p.dtype != dtype || dims.is_empty() || dims[1..] != tail[..] {
            return Err(format!(
                "{name}: parts disagree ({:?} {:?} vs {:?} {:?})",
                p.dtype, dims, dtype, first.shape
            ));
        }
        rows += dims[0];
    }
    let mut shape = vec![rows];
    shape.extend_from_slice(&tail);
    let len = shape.iter().product::<usize>() * element_size(dtype);
    Ok(PackTensor::deferred(
        name.to_string(),
        dtype,
        shape,
        None,
        len,
        move || {
            let mut out = Vec::with_capacity(len);
            for p in &parts {
                out.extend_from_slice(&p.to_bytes()?);
            }
            Ok(Bytes::from_bytes_vec(out))
        },
    ))
}

/// The same bytes under another shape with as many elements.
pub(super) fn reshaped(tensor: PackTensor, shape: Vec<usize>) -> PackTensor {
    let dtype = tensor.dtype;
    let name = tensor.name.clone();
    let len = tensor.byte_len();
    PackTensor::deferred(name, dtype, shape, None, len, move || tensor.to_bytes())
}

/// A tensor whose bytes are produced by `read` (an error becomes the tensor's error).
pub(super) fn from_reader(
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    read: impl Fn() -> Result<Vec<u8>, String> + Send + Sync + 'static,
) -> PackTensor {
    let len = shape.iter().product::<usize>() * element_size(dtype);
    let context = name.clone();
    PackTensor::deferred(name, dtype, shape, None, len, move || {
        read()
            .map(Bytes::from_bytes_vec)
            .map_err(|e| PackError::ValidationError(format!("tensor '{context}': {e}")))
    })
}
