//! The caption files of Flickr8k and Flickr30k as their copies ship them:
//! `name.jpg#k<TAB>caption` token files (the releases), Kaggle's `captions.txt`
//! (CSV `image,caption`) and Flickr30k's `results.csv` (`image_name| comment_number| comment`),
//! and Karpathy's `dataset_flickr{8k,30k}.json` (captions and splits together).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::super::DataError;
use super::super::error::read_lines;
use super::super::table::records;

/// Captions by image file name, in the order the file first names each image.
#[derive(Debug, Default)]
pub struct Captions {
    /// The file they were read from.
    pub file: PathBuf,
    /// Image names in first-seen order.
    pub names: Vec<String>,
    /// Each image's captions and the line that first named it.
    pub by_name: HashMap<String, (usize, Vec<String>)>,
    /// Karpathy's split of each image (`train`, `val`, `test`, `restval`), when given.
    pub splits: HashMap<String, String>,
}

impl Captions {
    fn new(file: &Path) -> Self {
        Captions {
            file: file.to_path_buf(),
            ..Captions::default()
        }
    }

    fn push(&mut self, line: usize, name: &str, caption: &str) {
        let entry = self.by_name.entry(name.to_string()).or_insert_with(|| {
            self.names.push(name.to_string());
            (line, Vec::new())
        });
        entry.1.push(caption.to_string());
    }
}

/// A token file: `image.jpg#k<TAB>caption` per line (Flickr8k.token.txt,
/// results_20130124.token).
pub fn read_token_file(path: &Path) -> Result<Captions, DataError> {
    let mut out = Captions::new(path);
    for (i, line) in read_lines(path)?.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| DataError::line(path, i + 1, m);
        let (key, caption) = line
            .split_once('\t')
            .ok_or_else(|| bad("expected 'image.jpg#k<TAB>caption'"))?;
        let (name, k) = key
            .rsplit_once('#')
            .ok_or_else(|| bad("expected 'image.jpg#k' before the tab"))?;
        if name.is_empty() || k.parse::<u32>().is_err() {
            return Err(bad("expected 'image.jpg#k' before the tab"));
        }
        let caption = caption.trim();
        if caption.is_empty() {
            return Err(bad("empty caption"));
        }
        out.push(i + 1, name, caption);
    }
    Ok(out)
}

/// Kaggle's Flickr8k `captions.txt`: a CSV with the header `image,caption`.
pub fn read_caption_csv(path: &Path) -> Result<Captions, DataError> {
    let mut out = Captions::new(path);
    for (k, (line, fields)) in records(path, Some(b','))?.into_iter().enumerate() {
        if k == 0
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("image"))
        {
            continue;
        }
        match fields.as_slice() {
            [name, caption, ..] if !name.is_empty() && !caption.is_empty() => {
                out.push(line, name, caption)
            }
            _ => return Err(DataError::line(path, line, "expected 'image,caption'")),
        }
    }
    Ok(out)
}

/// Kaggle's Flickr30k `results.csv`: `image_name| comment_number| comment`. One row of the
/// published file lost its second separator (`2199200615.jpg| 4 A dog runs across the
/// grass .`); such a row's caption is what follows the number.
pub fn read_results_csv(path: &Path) -> Result<Captions, DataError> {
    let mut out = Captions::new(path);
    for (k, (line, fields)) in records(path, Some(b'|'))?.into_iter().enumerate() {
        if k == 0
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("image_name"))
        {
            continue;
        }
        let caption = match fields.as_slice() {
            [_, _, caption, ..] => Some(caption.as_str()),
            [_, number_and_caption] => number_and_caption
                .split_once(' ')
                .filter(|(n, _)| n.parse::<u32>().is_ok())
                .map(|(_, caption)| caption.trim()),
            _ => None,
        };
        match (fields.first(), caption) {
            (Some(name), Some(caption)) if !name.is_empty() && !caption.is_empty() => {
                out.push(line, name, caption)
            }
            _ => {
                return Err(DataError::line(
                    path,
                    line,
                    "expected 'image_name| comment_number| comment'",
                ));
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Karpathy {
    images: Vec<KarpathyImage>,
}

#[derive(Deserialize)]
struct KarpathyImage {
    filename: String,
    split: String,
    sentences: Vec<KarpathySentence>,
}

#[derive(Deserialize)]
struct KarpathySentence {
    raw: String,
}

/// Karpathy's `dataset_flickr8k.json` / `dataset_flickr30k.json`: every image's file name,
/// split and sentences (the `raw` text is the caption).
pub fn read_karpathy_json(path: &Path) -> Result<Captions, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let parsed: Karpathy = serde_json::from_slice(&bytes)
        .map_err(|e| DataError::line(path, e.line(), format!("not Karpathy's split file ({e})")))?;
    let mut out = Captions::new(path);
    for (i, image) in parsed.images.into_iter().enumerate() {
        for sentence in &image.sentences {
            let caption = sentence.raw.trim();
            if !caption.is_empty() {
                out.push(i + 1, &image.filename, caption);
            }
        }
        out.splits.insert(image.filename, image.split);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_format_with_its_quirks() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("Flickr8k.token.txt");
        std::fs::write(
            &token,
            "a.jpg#0\tA dog .\r\na.jpg#1\tA brown dog .\r\n2258277193_586949ec62.jpg.1#0\tx\r\n",
        )
        .unwrap();
        let c = read_token_file(&token).unwrap();
        assert_eq!(c.names, ["a.jpg", "2258277193_586949ec62.jpg.1"]);
        assert_eq!(
            c.by_name["a.jpg"],
            (1, vec!["A dog .".into(), "A brown dog .".into()])
        );

        let results = dir.path().join("results.csv");
        std::fs::write(
            &results,
            "image_name| comment_number| comment\n1.jpg| 0| Two men , one dog .\n\
             2199200615.jpg| 4 A dog runs across the grass .\n",
        )
        .unwrap();
        let c = read_results_csv(&results).unwrap();
        assert_eq!(c.by_name["1.jpg"].1, ["Two men , one dog ."]);
        assert_eq!(
            c.by_name["2199200615.jpg"],
            (3, vec!["A dog runs across the grass .".into()])
        );

        let json = dir.path().join("dataset_flickr8k.json");
        std::fs::write(
            &json,
            r#"{"images": [{"filename": "a.jpg", "split": "test", "sentids": [0],
                "sentences": [{"raw": "A dog .", "tokens": ["a", "dog"]}]}],
                "dataset": "flickr8k"}"#,
        )
        .unwrap();
        let c = read_karpathy_json(&json).unwrap();
        assert_eq!(c.by_name["a.jpg"].1, ["A dog ."]);
        assert_eq!(c.splits["a.jpg"], "test");

        let csv = dir.path().join("captions.txt");
        std::fs::write(&csv, "image,caption\na.jpg,\"A dog , running\"\nb.jpg\n").unwrap();
        let err = read_caption_csv(&csv).unwrap_err().to_string();
        assert!(
            err.ends_with("captions.txt:3: expected 'image,caption'"),
            "{err}"
        );
    }
}
