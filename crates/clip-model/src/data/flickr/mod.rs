//! Flickr8k and Flickr30k as people have them on disk, found without being told the layout:
//!
//! - Flickr8k's release, its two zips unpacked into `DIR` or each into a folder of its own:
//!   `Flicker8k_Dataset/` (sic) or `Flickr8k_Dataset/Flicker8k_Dataset/`, `Flickr8k.token.txt`
//!   and `Flickr_8k.{train,dev,test}Images.txt` in `DIR` or `DIR/Flickr8k_text/`;
//! - the layout the MindFormers docs draw: `Flickr8k_Dataset/Flickr8k_Dataset/`,
//!   `Flickr8k_text/Flickr8k.{token,trainImages,devImages,testImages}.txt`;
//! - Kaggle's Flickr8k: `Images/` + `captions.txt` (CSV, no split files);
//! - Flickr30k: `flickr30k-images/` + `results_20130124.token`, or Kaggle's
//!   `flickr30k_images/{flickr30k_images/, results.csv}`;
//! - Karpathy's `dataset_flickr8k.json` / `dataset_flickr30k.json` beside any of them give
//!   the splits (and captions, when no other caption file is there).
//!
//! Without split files or Karpathy's, the split is [`seeded_split`]'s 90/5/5.

mod captions;
mod split;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use captions::Captions;
pub use split::{HELD_OUT_SHARE, seeded_split};

use super::error::read_lines;
use super::{DataError, ImageCaptions};

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training images (Flickr8k's `trainImages`: 6000).
    Train,
    /// Validation images (`devImages`: 1000).
    Dev,
    /// Test images (`testImages`: 1000).
    Test,
}

impl Split {
    const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    /// `train`, `dev`, `test`: the middle of Flickr8k's split file names.
    fn word(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }

    /// Karpathy's split names that belong to this split (`restval` is trained on, as in
    /// the papers that use his splits).
    fn karpathy(self) -> &'static [&'static str] {
        match self {
            Split::Train => &["train", "restval"],
            Split::Dev => &["val"],
            Split::Test => &["test"],
        }
    }
}

/// Folders (under the data directory) that may hold the caption and split files.
const TEXT_DIRS: [&str; 5] = [
    "",
    "Flickr8k_text",
    "flickr30k_images",
    "flickr30k",
    "Flickr30k",
];

/// Caption files, in the order they are preferred.
const CAPTION_FILES: [(&str, Format); 6] = [
    ("Flickr8k.token.txt", Format::Token),
    ("results_20130124.token", Format::Token),
    ("captions.txt", Format::Csv),
    ("results.csv", Format::Results),
    ("dataset_flickr8k.json", Format::Karpathy),
    ("dataset_flickr30k.json", Format::Karpathy),
];

/// Folders that may hold the images, in the order they are tried.
const IMAGE_DIRS: [&str; 10] = [
    "Flicker8k_Dataset",
    "Flickr8k_Dataset/Flicker8k_Dataset",
    "Flickr8k_Dataset/Flickr8k_Dataset",
    "Flickr8k_Dataset",
    "Images",
    "images",
    "flickr30k-images",
    "flickr30k_images/flickr30k_images",
    "flickr30k_images",
    "flickr30k/flickr30k-images",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Token,
    Csv,
    Results,
    Karpathy,
}

/// A Flickr set found on disk: its splits and a description of what was found.
#[derive(Debug)]
pub struct FlickrSet {
    /// The training split.
    pub train: ImageCaptions,
    /// The validation split (absent when a published split lists no file for it).
    pub val: Option<ImageCaptions>,
    /// The test split.
    pub test: Option<ImageCaptions>,
    /// What was found, e.g. "captions.txt, images in Images/, 90/5/5 split from seed 0".
    pub layout: String,
}

impl FlickrSet {
    /// The given split.
    pub fn split(&self, split: Split) -> Option<&ImageCaptions> {
        match split {
            Split::Train => Some(&self.train),
            Split::Dev => self.val.as_ref(),
            Split::Test => self.test.as_ref(),
        }
    }
}

/// Finds the Flickr8k or Flickr30k set under `dir` in any of the layouts above; `seed`
/// draws the split where the copy publishes none. One error lists what was looked for
/// where when nothing matches.
pub fn find_flickr(dir: &Path, seed: u64) -> Result<FlickrSet, DataError> {
    if !dir.is_dir() {
        return Err(DataError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let text_dirs: Vec<PathBuf> = TEXT_DIRS
        .iter()
        .map(|d| dir.join(d))
        .filter(|d| d.is_dir())
        .collect();
    let Some((file, format)) = CAPTION_FILES.iter().find_map(|(name, format)| {
        text_dirs
            .iter()
            .map(|d| d.join(name))
            .find(|f| f.is_file())
            .map(|f| (f, *format))
    }) else {
        return Err(not_found(dir, "no caption file"));
    };
    let captions = match format {
        Format::Token => captions::read_token_file(&file)?,
        Format::Csv => captions::read_caption_csv(&file)?,
        Format::Results => captions::read_results_csv(&file)?,
        Format::Karpathy => captions::read_karpathy_json(&file)?,
    };
    if captions.names.is_empty() {
        return Err(DataError::Empty(file));
    }
    let Some(images) = image_dir(dir, &captions) else {
        return Err(not_found(
            dir,
            &format!(
                "no folder holding the images {} names",
                file.file_name().unwrap_or_default().to_string_lossy()
            ),
        ));
    };
    let mut layout = format!(
        "captions {}, images in {}",
        relative(dir, &file),
        relative(dir, &images)
    );

    let text_dir = file.parent().unwrap_or(dir).to_path_buf();
    let split_files = Split::ALL.map(|s| split_file(&text_dir, s));
    let karpathy = if captions.splits.is_empty() {
        ["dataset_flickr8k.json", "dataset_flickr30k.json"]
            .iter()
            .flat_map(|name| text_dirs.iter().map(move |d| d.join(name)))
            .find(|f| f.is_file())
            .map(|f| captions::read_karpathy_json(&f))
            .transpose()?
    } else {
        None
    };
    let lists: [Option<Vec<String>>; 3] = if let Some(train_file) = &split_files[0] {
        let _ = write!(layout, ", splits {}", relative(dir, train_file));
        let [a, b, c] = split_files.map(|f| f.map(|f| from_split_file(&f, &captions, &images)));
        return finish(file, a.transpose()?, b.transpose()?, c.transpose()?, layout);
    } else if let Some(splits) = karpathy
        .as_ref()
        .map(|k| &k.splits)
        .or((!captions.splits.is_empty()).then_some(&captions.splits))
    {
        let _ = write!(layout, ", Karpathy's splits");
        Split::ALL.map(|s| {
            Some(
                captions
                    .names
                    .iter()
                    .filter(|n| {
                        splits
                            .get(*n)
                            .is_some_and(|k| s.karpathy().contains(&k.as_str()))
                    })
                    .cloned()
                    .collect(),
            )
        })
    } else {
        let share = (HELD_OUT_SHARE * 100.0).round();
        let _ = write!(
            layout,
            ", no split files: {}/{share}/{share} split drawn from seed {seed}",
            100.0 - 2.0 * share
        );
        seeded_split(&captions.names, seed).map(Some)
    };
    let [a, b, c] = lists.map(|names| names.map(|n| from_names(&n, &captions, &images)));
    finish(file, a.transpose()?, b.transpose()?, c.transpose()?, layout)
}

/// The set, with empty validation or test splits dropped and an empty training split an
/// error naming the caption file.
fn finish(
    file: PathBuf,
    train: Option<ImageCaptions>,
    val: Option<ImageCaptions>,
    test: Option<ImageCaptions>,
    layout: String,
) -> Result<FlickrSet, DataError> {
    let train = train
        .filter(|t| !t.is_empty())
        .ok_or(DataError::Empty(file))?;
    Ok(FlickrSet {
        train,
        val: val.filter(|v| !v.is_empty()),
        test: test.filter(|t| !t.is_empty()),
        layout,
    })
}

/// The images of `split` under `dir` with all their captions, in the split's order
/// (any layout [`find_flickr`] reads; its seeded split uses seed 0).
pub fn read_flickr8k(dir: &Path, split: Split) -> Result<ImageCaptions, DataError> {
    let set = find_flickr(dir, 0)?;
    set.split(split).cloned().ok_or_else(|| DataError::Layout {
        dir: dir.to_path_buf(),
        message: format!("{}: no {} split", set.layout, split.word()),
    })
}

/// `Flickr_8k.{split}Images.txt` (the release's name) or `Flickr8k.{split}Images.txt`.
fn split_file(dir: &Path, split: Split) -> Option<PathBuf> {
    ["Flickr_8k", "Flickr8k"]
        .iter()
        .map(|stem| dir.join(format!("{stem}.{}Images.txt", split.word())))
        .find(|f| f.is_file())
}

/// The first image folder that holds one of the first images the captions name (a few
/// are tried, so one missing file does not hide the folder).
fn image_dir(dir: &Path, captions: &Captions) -> Option<PathBuf> {
    IMAGE_DIRS.iter().map(|d| dir.join(d)).find(|d| {
        captions
            .names
            .iter()
            .take(16)
            .any(|name| d.join(name).is_file())
    })
}

/// The images a split file lists, in its order; each must have captions and exist.
fn from_split_file(
    file: &Path,
    captions: &Captions,
    images: &Path,
) -> Result<ImageCaptions, DataError> {
    let mut out = ImageCaptions::default();
    let mut seen = HashSet::new();
    for (i, line) in read_lines(file)?.iter().enumerate() {
        let name = line.trim();
        if name.is_empty() || !seen.insert(name.to_string()) {
            continue;
        }
        let Some((_, found)) = captions.by_name.get(name) else {
            return Err(DataError::line(
                file,
                i + 1,
                format!("'{name}' has no caption in {}", captions.file.display()),
            ));
        };
        let path = images.join(name);
        if !path.is_file() {
            return Err(DataError::line(
                file,
                i + 1,
                format!("image {} does not exist", path.display()),
            ));
        }
        out.images.push(path);
        out.captions.push(found.clone());
    }
    Ok(out)
}

/// The named images with their captions; each must exist (the error names the caption
/// file's line).
fn from_names(
    names: &[String],
    captions: &Captions,
    images: &Path,
) -> Result<ImageCaptions, DataError> {
    let mut out = ImageCaptions::default();
    for name in names {
        let (line, found) = &captions.by_name[name];
        let path = images.join(name);
        if !path.is_file() {
            return Err(DataError::line(
                &captions.file,
                *line,
                format!("image {} does not exist", path.display()),
            ));
        }
        out.images.push(path);
        out.captions.push(found.clone());
    }
    Ok(out)
}

fn relative(dir: &Path, path: &Path) -> String {
    let shown = path.strip_prefix(dir).unwrap_or(path).display().to_string();
    if path.is_dir() {
        format!("{shown}/")
    } else {
        shown
    }
}

/// The one-line error for a directory in no known layout: what was looked for, where.
fn not_found(dir: &Path, what: &str) -> DataError {
    let files: Vec<&str> = CAPTION_FILES.iter().map(|(name, _)| *name).collect();
    let text: Vec<String> = TEXT_DIRS
        .iter()
        .map(|d| {
            if d.is_empty() {
                ".".to_string()
            } else {
                format!("{d}/")
            }
        })
        .collect();
    DataError::Layout {
        dir: dir.to_path_buf(),
        message: format!(
            "{what}: looked for {} in {}, and for images in {}",
            files.join(", "),
            text.join(", "),
            IMAGE_DIRS
                .iter()
                .map(|d| format!("{d}/"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
