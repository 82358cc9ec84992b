//! NumPy's files, for features and pixels other programs read: an `.npz` of named arrays
//! (what `numpy.savez` writes), and the header of an `.npy` whose rows are streamed.

use std::io::Write;
use std::path::Path;

use crate::fs::{FileError, write_atomic};

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
/// are produced instead of holding the whole array in memory, and for reading such files
/// in place (memory-mapped).
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// An IEEE half-precision array of `shape` (NumPy's `float16`).
    pub fn f16(shape: &[usize]) -> Self {
        NpyHeader {
            descr: "<f2",
            shape: shape.to_vec(),
        }
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Bytes per element: 4 (f32) or 2 (f16).
    pub fn element_size(&self) -> usize {
        if self.descr == "<f2" { 2 } else { 4 }
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

    /// Reads the header at the start of an `.npy` file's bytes: the header and where the
    /// data starts. Only little-endian f32/f16 in C order (what this project writes, and
    /// NumPy's default) are accepted; the data must be all there.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), String> {
        let (len, start) = match bytes {
            [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
                (usize::from(u16::from_le_bytes([*a, *b])), 10)
            }
            [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
                (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12)
            }
            _ => return Err("not a .npy file".into()),
        };
        let dict = bytes
            .get(start..start + len)
            .and_then(|d| std::str::from_utf8(d).ok())
            .ok_or("truncated .npy header")?;
        let field = |key: &str| -> Result<&str, String> {
            let at = dict
                .find(&format!("'{key}':"))
                .ok_or_else(|| format!("no '{key}' in the .npy header"))?;
            Ok(dict[at + key.len() + 3..].trim_start())
        };
        let descr = match field("descr")? {
            d if d.starts_with("'<f4'") => "<f4",
            d if d.starts_with("'<f2'") => "<f2",
            d => {
                let d = d.split(',').next().unwrap_or(d);
                return Err(format!("element type {d} (only <f4 and <f2 are read)"));
            }
        };
        if !field("fortran_order")?.starts_with("False") {
            return Err("Fortran-order arrays are not read".into());
        }
        let shape_text = field("shape")?;
        let shape_text = shape_text
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("malformed shape in the .npy header")?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.parse::<usize>()
                    .map_err(|_| format!("bad dimension {d:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let header = NpyHeader { descr, shape };
        let data = start + len;
        let need = header
            .shape
            .iter()
            .try_fold(header.element_size(), |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_add(data))
            .ok_or("array too large")?;
        if bytes.len() < need {
            return Err(format!(
                "truncated: {} bytes, the header promises {need}",
                bytes.len()
            ));
        }
        Ok((header, data))
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
    fn headers_read_back_and_bad_files_are_errors() {
        for header in [
            NpyHeader::f32(&[2, 3]),
            NpyHeader::f16(&[7]),
            NpyHeader::f32(&[0, 4]),
        ] {
            let mut bytes = Vec::new();
            header.write(&mut bytes).unwrap();
            let data = bytes.len();
            let elements: usize = header.shape().iter().product();
            bytes.resize(data + elements * header.element_size(), 0);
            assert_eq!(NpyHeader::parse(&bytes).unwrap(), (header, data));
            if elements > 0 {
                assert!(NpyHeader::parse(&bytes[..bytes.len() - 1]).is_err());
            }
        }
        // What NumPy itself writes for np.zeros((2, 3), '<f4') and np.zeros(2, '>f8').
        let mut numpy =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                .to_vec();
        numpy.resize(128, b' ');
        numpy[127] = b'\n';
        numpy.resize(128 + 24, 0);
        assert_eq!(NpyHeader::parse(&numpy).unwrap().0, NpyHeader::f32(&[2, 3]));
        let f8 =
            b"\x93NUMPY\x01\x00\x20\x00{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }";
        assert!(NpyHeader::parse(f8).unwrap_err().contains(">f8"));
        assert!(NpyHeader::parse(b"PK\x03\x04").is_err());
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
