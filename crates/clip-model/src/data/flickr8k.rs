//! Flickr8k as distributed: `Flickr8k_Dataset/Flickr8k_Dataset/*.jpg`,
//! `Flickr8k_text/Flickr8k.token.txt` (`image.jpg#k<TAB>caption`, five per image) and
//! `Flickr8k_text/Flickr8k.{train,dev,test}Images.txt` (one file name per line).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::error::read_lines;
use super::{DataError, ImageCaptions};

/// One of the three published splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `Flickr8k.trainImages.txt` (6000 images).
    Train,
    /// `Flickr8k.devImages.txt` (1000).
    Dev,
    /// `Flickr8k.testImages.txt` (1000).
    Test,
}

impl Split {
    fn file_name(self) -> &'static str {
        match self {
            Split::Train => "Flickr8k.trainImages.txt",
            Split::Dev => "Flickr8k.devImages.txt",
            Split::Test => "Flickr8k.testImages.txt",
        }
    }
}

/// The images of `split` under `dir` with all their captions, in the split file's order.
///
/// Errors name the file and line: a token line without `#k<TAB>`, a split entry with no
/// caption, an image listed but absent, text that is not UTF-8.
pub fn read_flickr8k(dir: &Path, split: Split) -> Result<ImageCaptions, DataError> {
    let text = dir.join("Flickr8k_text");
    let images = dir.join("Flickr8k_Dataset").join("Flickr8k_Dataset");
    let token_file = text.join("Flickr8k.token.txt");
    let mut captions: HashMap<String, Vec<String>> = HashMap::new();
    for (i, line) in read_lines(&token_file)?.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| DataError::line(&token_file, i + 1, m);
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
        captions
            .entry(name.to_string())
            .or_default()
            .push(caption.to_string());
    }

    let split_file = text.join(split.file_name());
    let mut out = ImageCaptions::default();
    let mut seen = HashSet::new();
    for (i, line) in read_lines(&split_file)?.iter().enumerate() {
        let name = line.trim();
        if name.is_empty() || !seen.insert(name.to_string()) {
            continue;
        }
        let found = captions.remove(name).ok_or_else(|| {
            DataError::line(
                &split_file,
                i + 1,
                format!("'{name}' has no caption in {}", token_file.display()),
            )
        })?;
        let path = images.join(name);
        if !path.is_file() {
            return Err(DataError::line(
                &split_file,
                i + 1,
                format!("image {} does not exist", path.display()),
            ));
        }
        out.images.push(path);
        out.captions.push(found);
    }
    if out.is_empty() {
        return Err(DataError::Empty(split_file));
    }
    Ok(out)
}
