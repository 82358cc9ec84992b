//! A users' own pairs: a CSV (`,`) or TSV (`.tsv`/`.txt`: tab) of image path and caption,
//! with an optional header row. Relative paths are relative to the table's directory.

use std::collections::HashMap;
use std::path::Path;

use super::{DataError, ImageCaptions};

/// Reads the table; an image listed on several rows gets all their captions.
pub fn read_table(path: &Path) -> Result<ImageCaptions, DataError> {
    let header = |image: &str, caption: &str| {
        ["image", "filepath", "path", "file", "filename"].contains(&image)
            && ["caption", "text", "title", "captions"].contains(&caption)
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = ImageCaptions::default();
    let mut index = HashMap::new();
    for (line, image, caption) in read_two_columns(path, "image,caption", header)? {
        let file = base.join(&image);
        if !file.is_file() {
            return Err(DataError::line(
                path,
                line,
                format!("image {} does not exist", file.display()),
            ));
        }
        out.push(&mut index, file, caption);
    }
    if out.is_empty() {
        return Err(DataError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

/// The `(line, first, second)` fields of a two-column CSV (`,`, with quoting) or TSV
/// (`.tsv`/`.txt`: tab, no quoting), trimmed; blank lines skipped, and the first line when
/// `is_header` (given both fields lowercased) says it names the columns. `expected` names
/// the columns in the error for a short row.
pub fn read_two_columns(
    path: &Path,
    expected: &str,
    is_header: impl Fn(&str, &str) -> bool,
) -> Result<Vec<(usize, String, String)>, DataError> {
    let tab = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("txt"));
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tab { b'\t' } else { b',' })
        .has_headers(false)
        .flexible(true)
        .quoting(!tab)
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    for (i, record) in reader.byte_records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| DataError::line(path, line, e.to_string()))?;
        let field = |k: usize| -> Result<String, DataError> {
            let raw = record.get(k).unwrap_or_default();
            String::from_utf8(raw.to_vec())
                .map(|s| s.trim().to_string())
                .map_err(|_| DataError::line(path, line, "not UTF-8"))
        };
        if record.len() == 1 && field(0)?.is_empty() {
            continue;
        }
        if record.len() < 2 {
            return Err(DataError::line(
                path,
                line,
                format!("expected '{expected}'"),
            ));
        }
        let (first, second) = (field(0)?, field(1)?);
        if line == 1 && is_header(&first.to_lowercase(), &second.to_lowercase()) {
            continue;
        }
        if first.is_empty() || second.is_empty() {
            return Err(DataError::line(path, line, "an empty field"));
        }
        rows.push((line, first, second));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.jpg", "b.jpg"] {
            std::fs::write(dir.path().join(name), b"not decoded here").unwrap();
        }
        dir
    }

    #[test]
    fn reads_csv_with_header_quotes_and_repeated_images() {
        let dir = setup();
        let table = dir.path().join("pairs.csv");
        std::fs::write(
            &table,
            "filepath,caption\na.jpg,\"a dog, running\"\nb.jpg,a cat\na.jpg,another dog\n\n",
        )
        .unwrap();
        let data = read_table(&table).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.images[0], dir.path().join("a.jpg"));
        assert_eq!(data.captions[0], vec!["a dog, running", "another dog"]);
        assert_eq!(data.captions[1], vec!["a cat"]);
    }

    #[test]
    fn reads_tsv_without_header() {
        let dir = setup();
        let table = dir.path().join("pairs.tsv");
        std::fs::write(&table, "b.jpg\ta \"quoted\" cat\n").unwrap();
        let data = read_table(&table).unwrap();
        assert_eq!(data.captions, vec![vec!["a \"quoted\" cat".to_string()]]);
    }

    #[test]
    fn errors_name_the_line() {
        let dir = setup();
        let table = dir.path().join("pairs.csv");
        let cases: [(&[u8], &str); 4] = [
            (b"a.jpg,ok\nmissing.jpg,a caption\n", ":2: image"),
            (b"a.jpg,ok\nb.jpg\n", ":2: expected 'image,caption'"),
            (b"a.jpg,caf\xe9\n", ":1: not UTF-8"),
            (b"filepath,caption\n", "no image"),
        ];
        for (body, needle) in cases {
            std::fs::write(&table, body).unwrap();
            let err = read_table(&table).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }
}
