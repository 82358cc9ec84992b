//! A users' own pairs: a delimited table of image path and caption, as open_clip's
//! `--train-data pairs.csv` reads it, with an optional header row naming the columns.
//!
//! The separator is sniffed from the first line (a tab, else `|` without a comma, else `,`)
//! rather than taken from the file name: Kaggle's Flickr8k `captions.txt` is a CSV, Flickr30k's
//! `results.csv` is `|`-separated, open_clip's tables are usually tab-separated `.csv` files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{DataError, ImageCaptions};

/// Header names that mark the image column (lowercased), in order of preference.
pub const IMAGE_COLUMNS: [&str; 10] = [
    "image",
    "filepath",
    "file_name",
    "filename",
    "path",
    "file",
    "image_name",
    "image_path",
    "img",
    "url",
];

/// Header names that mark the caption column (lowercased), in order of preference.
pub const CAPTION_COLUMNS: [&str; 7] = [
    "caption", "text", "title", "captions", "comment", "sentence", "txt",
];

/// How to read a table of pairs; the defaults read the common layouts unaided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Directory that relative image paths start from (default: the table's directory).
    pub image_root: Option<PathBuf>,
    /// Header name of the image column (open_clip's `--csv-img-key`; default: the first of
    /// [`IMAGE_COLUMNS`] in the header, or the first column when there is no header).
    pub image_key: Option<String>,
    /// Header name of the caption column (open_clip's `--csv-caption-key`; default: the
    /// first of [`CAPTION_COLUMNS`] in the header, or the second column).
    pub caption_key: Option<String>,
    /// Field separator (default: sniffed from the first line).
    pub separator: Option<u8>,
}

/// Reads the table with default options; an image on several rows gets all their captions.
pub fn read_table(path: &Path) -> Result<ImageCaptions, DataError> {
    read_table_with(path, &TableOptions::default())
}

/// Reads the table as `options` say; an image on several rows gets all their captions.
/// Every listed image must exist.
pub fn read_table_with(path: &Path, options: &TableOptions) -> Result<ImageCaptions, DataError> {
    let base = match &options.image_root {
        Some(root) => root.clone(),
        None => path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let rows = records(path, options.separator)?;
    let (image_col, caption_col, skip) = columns(path, &rows, options)?;
    let mut out = ImageCaptions::default();
    let mut index = HashMap::new();
    for (line, fields) in rows.iter().skip(skip) {
        let field = |k: usize| fields.get(k).map(String::as_str).unwrap_or_default();
        if fields.len() <= image_col.max(caption_col) {
            let expected = match skip {
                0 => "expected 'image,caption'".to_string(),
                _ => format!("expected the header's {} columns", rows[0].1.len()),
            };
            return Err(DataError::line(path, *line, expected));
        }
        let (image, caption) = (field(image_col), field(caption_col));
        if image.is_empty() || caption.is_empty() {
            return Err(DataError::line(path, *line, "an empty field"));
        }
        let file = base.join(image);
        if !file.is_file() {
            return Err(DataError::line(
                path,
                *line,
                format!("image {} does not exist", file.display()),
            ));
        }
        out.push(&mut index, file, caption.to_string());
    }
    if out.is_empty() {
        return Err(DataError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

/// The image and caption column indices and the number of header rows to skip.
fn columns(
    path: &Path,
    rows: &[(usize, Vec<String>)],
    options: &TableOptions,
) -> Result<(usize, usize, usize), DataError> {
    let header: Vec<String> = rows
        .first()
        .map(|(_, fields)| fields.iter().map(|f| f.to_lowercase()).collect())
        .unwrap_or_default();
    let find = |key: &Option<String>, names: &[&str]| -> Option<usize> {
        match key {
            Some(key) => header.iter().position(|h| *h == key.to_lowercase()),
            None => names
                .iter()
                .find_map(|name| header.iter().position(|h| h == name)),
        }
    };
    let image = find(&options.image_key, &IMAGE_COLUMNS);
    let caption = find(&options.caption_key, &CAPTION_COLUMNS);
    match (image, caption) {
        (Some(i), Some(c)) if i != c => Ok((i, c, 1)),
        _ if options.image_key.is_some() || options.caption_key.is_some() => {
            let line = rows.first().map_or(1, |(line, _)| *line);
            Err(DataError::line(
                path,
                line,
                format!(
                    "the header has no column '{}' and '{}' (columns: {})",
                    options.image_key.as_deref().unwrap_or("image"),
                    options.caption_key.as_deref().unwrap_or("caption"),
                    header.join(", ")
                ),
            ))
        }
        _ => Ok((0, 1, 0)),
    }
}

/// The `(line, first, second)` fields of a two-column table (separator sniffed as for
/// [`read_table`]), trimmed; blank lines skipped, and the first line when `is_header`
/// (given both fields lowercased) says it names the columns. `expected` names the columns
/// in the error for a short row.
pub fn read_two_columns(
    path: &Path,
    expected: &str,
    is_header: impl Fn(&str, &str) -> bool,
) -> Result<Vec<(usize, String, String)>, DataError> {
    let mut rows = Vec::new();
    for (k, (line, fields)) in records(path, None)?.into_iter().enumerate() {
        if fields.len() < 2 {
            return Err(DataError::line(
                path,
                line,
                format!("expected '{expected}'"),
            ));
        }
        let (first, second) = (fields[0].clone(), fields[1].clone());
        if k == 0 && is_header(&first.to_lowercase(), &second.to_lowercase()) {
            continue;
        }
        if first.is_empty() || second.is_empty() {
            return Err(DataError::line(path, line, "an empty field"));
        }
        rows.push((line, first, second));
    }
    Ok(rows)
}

/// The separator a table uses, judged from its first line: a tab, else `|` when the line
/// has no comma, else `,`.
pub fn sniff_separator(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    if first.contains(&b'\t') {
        b'\t'
    } else if first.contains(&b'|') && !first.contains(&b',') {
        b'|'
    } else {
        b','
    }
}

/// The non-blank records of a delimited file with their 1-based line numbers, fields
/// trimmed and checked to be UTF-8. Tab-separated files take quotes literally (as TSV
/// writers do not quote); `,` and `|` files follow CSV quoting.
pub(crate) fn records(
    path: &Path,
    separator: Option<u8>,
) -> Result<Vec<(usize, Vec<String>)>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let separator = separator.unwrap_or_else(|| sniff_separator(&bytes));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .quoting(separator != b'\t')
        .from_reader(bytes.as_slice());
    // The reader's positions point before the blank lines it skips and its line numbers do
    // not count them: count the newlines up to each record's first character instead.
    let (mut line, mut counted) = (1, 0);
    let mut line_at = |byte: u64| {
        let mut byte = (byte as usize).min(bytes.len());
        while bytes.get(byte).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            byte += 1;
        }
        line += bytes[counted..byte].iter().filter(|&&b| b == b'\n').count();
        counted = byte;
        line
    };
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(p.byte()));
            DataError::line(path, line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        let fields = record
            .iter()
            .map(|raw| {
                std::str::from_utf8(raw)
                    .map(|s| s.trim().to_string())
                    .map_err(|_| DataError::line(path, line, "not UTF-8"))
            })
            .collect::<Result<Vec<String>, DataError>>()?;
        if fields.iter().all(String::is_empty) {
            continue;
        }
        rows.push((line, fields));
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
    fn reads_kaggle_captions_txt_as_csv() {
        // Kaggle's Flickr8k: `captions.txt`, comma-separated despite its name.
        let dir = setup();
        std::fs::create_dir(dir.path().join("Images")).unwrap();
        std::fs::write(dir.path().join("Images/a.jpg"), b"x").unwrap();
        let table = dir.path().join("captions.txt");
        std::fs::write(
            &table,
            "image,caption\na.jpg,\"A dog , running .\"\na.jpg,A dog runs .\n",
        )
        .unwrap();
        let options = TableOptions {
            image_root: Some(dir.path().join("Images")),
            ..TableOptions::default()
        };
        let data = read_table_with(&table, &options).unwrap();
        assert_eq!(data.images, vec![dir.path().join("Images/a.jpg")]);
        assert_eq!(data.captions[0], vec!["A dog , running .", "A dog runs ."]);
    }

    #[test]
    fn finds_named_columns_anywhere_and_takes_open_clip_keys() {
        let dir = setup();
        let table = dir.path().join("pairs.csv");
        std::fs::write(
            &table,
            "id\tfilepath\ttitle\n1\ta.jpg\ta dog\n2\tb.jpg\ta cat\n",
        )
        .unwrap();
        let data = read_table(&table).unwrap();
        assert_eq!(data.captions, vec![vec!["a dog"], vec!["a cat"]]);

        std::fs::write(&table, "k,picture,words\n1,a.jpg,a dog\n").unwrap();
        let options = TableOptions {
            image_key: Some("picture".into()),
            caption_key: Some("Words".into()),
            ..TableOptions::default()
        };
        let data = read_table_with(&table, &options).unwrap();
        assert_eq!(data.captions, vec![vec!["a dog"]]);
        let options = TableOptions {
            image_key: Some("filepath".into()),
            ..TableOptions::default()
        };
        let err = read_table_with(&table, &options).unwrap_err().to_string();
        assert!(
            err.contains(":1: the header has no column 'filepath'"),
            "{err}"
        );
    }

    #[test]
    fn sniffs_the_separator_from_the_first_line() {
        assert_eq!(sniff_separator(b"image,caption\na\tb\n"), b',');
        assert_eq!(sniff_separator(b"a.jpg\ta, b\n"), b'\t');
        assert_eq!(
            sniff_separator(b"image_name| comment_number| comment\nx.jpg| 0| a, b\n"),
            b'|'
        );
        assert_eq!(sniff_separator(b""), b',');
    }

    #[test]
    fn errors_name_the_line() {
        let dir = setup();
        let table = dir.path().join("pairs.csv");
        let cases: [(&[u8], &str); 5] = [
            (b"a.jpg,ok\nmissing.jpg,a caption\n", ":2: image"),
            (b"a.jpg,ok\nb.jpg\n", ":2: expected 'image,caption'"),
            (b"a.jpg,ok\n\n\nb.jpg,\n", ":4: an empty field"),
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
