//! NumPy's files, for features and pixels other programs read: an `.npz` of named arrays
//! (what `numpy.savez` writes), and the header of an `.npy` whose rows are streamed.

use std::io::Write;
use std::path::Path;

use clip_model::fs::{FileError, write_atomic};

/// Why an array file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// An array that could not be encoded.
    #[error("encoding {name}: {detail}")]
    Encode {
        /// The array's name.
        name: String,
        /// What went wrong.
        detail: String,
    },
    /// The archive could not be written.
    #[error("{}: {detail}", path.display())]
    Archive {
        /// The output file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The output file.
    #[error(transparent)]
    File(#[from] FileError),
}

/// An `.npz` (a zip of `.npy` members, stored uncompressed as `numpy.savez` does) built in
/// memory and written atomically.
#[derive(Default)]
pub struct NpzWriter {
    members: Vec<(String, Vec<u8>)>,
}

impl NpzWriter {
    /// Adds `array` as `name.npy`.
    pub fn add<A, S, D>(
        &mut self,
        name: &str,
        array: &ndarray::ArrayBase<S, D>,
    ) -> Result<(), NpyError>
    where
        A: ndarray_npy::WritableElement,
        S: ndarray::Data<Elem = A>,
        D: ndarray::Dimension,
    {
        use ndarray_npy::WriteNpyExt;
        let mut bytes = Vec::new();
        array.write_npy(&mut bytes).map_err(|e| NpyError::Encode {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        self.members.push((format!("{name}.npy"), bytes));
        Ok(())
    }

    /// Writes the archive to `path`, whole or not at all.
    pub fn write(self, path: &Path) -> Result<(), NpyError> {
        let archive = |detail: String| NpyError::Archive {
            path: path.to_owned(),
            detail,
        };
        write_atomic(path, |tmp| {
            let file = std::fs::File::create(tmp).map_err(|error| FileError {
                path: path.to_owned(),
                action: "create it",
                error,
            })?;
            let mut zip = zip::ZipWriter::new(file);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(true);
            for (name, bytes) in &self.members {
                zip.start_file(name.as_str(), options)
                    .map_err(|e| archive(e.to_string()))?;
                zip.write_all(bytes).map_err(|e| archive(e.to_string()))?;
            }
            zip.finish().map_err(|e| archive(e.to_string()))?;
            Ok(())
        })
    }
}

/// The header of a little-endian, C-order `.npy` (format 1.0), for writing rows as they
/// are produced instead of holding the whole array in memory.
pub struct NpyHeader {
    descr: &'static str,
    shape: Vec<usize>,
}

impl NpyHeader {
    /// An f32 array of `shape`.
    pub fn f32(shape: &[usize]) -> Self {
        NpyHeader {
            descr: "<f4",
            shape: shape.to_vec(),
        }
    }

    /// Writes magic, version and the header dict padded to a 64-byte boundary.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.descr
        );
        let unpadded = 10 + dict.len() + 1;
        dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        dict.push('\n');
        out.write_all(b"\x93NUMPY\x01\x00")?;
        out.write_all(&(dict.len() as u16).to_le_bytes())?;
        out.write_all(dict.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_rows_read_back_as_the_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.npy");
        let mut bytes = Vec::new();
        NpyHeader::f32(&[2, 3]).write(&mut bytes).unwrap();
        assert_eq!(bytes.len() % 64, 0);
        for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            bytes.extend(v.to_le_bytes());
        }
        std::fs::write(&path, bytes).unwrap();
        let array: ndarray::Array2<f32> = ndarray_npy::read_npy(&path).unwrap();
        assert_eq!(array, ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    }

    #[test]
    fn an_npz_holds_its_named_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npz");
        let mut npz = NpzWriter::default();
        npz.add("a", &ndarray::array![[1.0f32, 2.0]]).unwrap();
        npz.add("b", &ndarray::Array2::<f32>::zeros((0, 4)))
            .unwrap();
        npz.write(&path).unwrap();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut member = |name: &str| {
            use ndarray_npy::ReadNpyExt;
            ndarray::Array2::<f32>::read_npy(archive.by_name(name).unwrap()).unwrap()
        };
        let (a, b) = (member("a.npy"), member("b.npy"));
        assert_eq!(a, ndarray::array![[1.0, 2.0]]);
        assert_eq!(b.dim(), (0, 4));
    }
}
