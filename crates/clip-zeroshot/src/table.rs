//! A labelled image list: a table of image path and label (separator sniffed from the first
//! line as for training tables: a tab, else `|` without a comma, else `,`),
//! optional header, paths relative to the table's directory.

use std::path::{Path, PathBuf};

use clip_model::data::{DataError, read_two_columns};

use crate::ZeroShotError;

/// `(image, label)` rows of the table, labels as written (a class name or an index).
pub fn read_labelled_table(path: &Path) -> Result<Vec<(PathBuf, String)>, ZeroShotError> {
    let header = |image: &str, label: &str| {
        ["image", "path", "filepath", "file", "filename"].contains(&image)
            && ["label", "class", "target", "classname"].contains(&label)
    };
    let rows = read_two_columns(path, "image,label", header).map_err(|e| match e {
        DataError::Line {
            path,
            line,
            message,
        } => ZeroShotError::Table {
            path,
            line,
            message,
        },
        DataError::Io { path, error } => ZeroShotError::Io { path, error },
        other => ZeroShotError::Table {
            path: path.to_path_buf(),
            line: 0,
            message: other.to_string(),
        },
    })?;
    if rows.is_empty() {
        return Err(ZeroShotError::Table {
            path: path.to_path_buf(),
            line: 0,
            message: "no rows".into(),
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(rows
        .into_iter()
        .map(|(_, image, label)| (base.join(image), label))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("labels.csv");
        std::fs::write(&table, "path,label\nimgs/a.png,cat\n\"b, c.png\",3\n").unwrap();
        let rows = read_labelled_table(&table).unwrap();
        assert_eq!(rows[0], (dir.path().join("imgs/a.png"), "cat".to_string()));
        assert_eq!(rows[1].0, dir.path().join("b, c.png"));
        std::fs::write(&table, "a.png,cat\nb.png\n").unwrap();
        let err = read_labelled_table(&table).unwrap_err().to_string();
        assert!(err.contains("labels.csv:2"), "{err}");
        let tsv = dir.path().join("labels.tsv");
        std::fs::write(&tsv, "a.png\tdog\n").unwrap();
        assert_eq!(read_labelled_table(&tsv).unwrap()[0].1, "dog");
    }
}
