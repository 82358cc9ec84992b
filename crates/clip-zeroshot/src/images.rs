//! Labelled images to evaluate on, in the layouts people have: an ImageFolder tree (one
//! directory per class, as ImageNet's validation set is usually arranged; ImageNetV2's
//! integer-named classes are labels), a labelled table, or CIFAR's pickles.

use std::path::{Path, PathBuf};

use clip_vision::preprocess::{ImageError, Mode, PilImage, Preprocessor};
use rayon::prelude::*;

use crate::{CifarSet, Prompts, ZeroShotError, read_labelled_table};

/// File extensions taken as images in a tree.
pub const IMAGE_EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "ppm",
];

/// CIFAR images preprocessed per parallel chunk.
const CIFAR_CHUNK: usize = 256;

/// Images with labels `0..classes`.
pub enum LabelledImages {
    /// Image files, with the class names in label order.
    Files {
        /// `(image, label)`, sorted by path.
        samples: Vec<(PathBuf, usize)>,
        /// The class names.
        classes: Vec<String>,
    },
    /// CIFAR's images, in memory.
    Cifar(CifarSet),
}

impl LabelledImages {
    /// An ImageFolder tree: one directory per class, images found recursively under each.
    /// Integer directory names are the labels (`0/ … 999/`, as ImageNetV2); otherwise the
    /// sorted names are.
    pub fn image_folder(root: &Path) -> Result<Self, ZeroShotError> {
        let io = |error| ZeroShotError::Io {
            path: root.to_path_buf(),
            error,
        };
        let mut dirs: Vec<String> = std::fs::read_dir(root)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if dirs.is_empty() {
            return Err(dataset(
                root,
                "no class directories (expected one directory per class)",
            ));
        }
        let numeric: Option<Vec<usize>> = dirs.iter().map(|d| d.parse().ok()).collect();
        let classes: Vec<String> = match &numeric {
            Some(labels) => {
                let n = labels.iter().max().map_or(0, |m| m + 1);
                (0..n).map(|i| i.to_string()).collect()
            }
            None => {
                dirs.sort();
                dirs.clone()
            }
        };
        let mut samples = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let label = numeric.as_ref().map_or(i, |l| l[i]);
            let mut files = Vec::new();
            image_files(&root.join(dir), &mut files)?;
            samples.extend(files.into_iter().map(|f| (f, label)));
        }
        samples.sort();
        if samples.is_empty() {
            return Err(dataset(root, "the dataset holds no images"));
        }
        Ok(LabelledImages::Files { samples, classes })
    }

    /// A labelled table (see [`read_labelled_table`]) with its class names: `classes` when
    /// given (labels are names from it or indices into it), else the labels' distinct
    /// values, sorted.
    pub fn table(table: &Path, classes: Option<Vec<String>>) -> Result<Self, ZeroShotError> {
        let rows = read_labelled_table(table)?;
        let given = classes.is_some();
        let classes = classes.unwrap_or_else(|| {
            let mut names: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
            names.sort();
            names.dedup();
            names
        });
        let samples = rows
            .into_iter()
            .map(|(path, label)| {
                let index = classes
                    .iter()
                    .position(|n| *n == label)
                    .or_else(|| given.then(|| label.parse::<usize>().ok()).flatten());
                match index {
                    Some(i) if i < classes.len() => Ok((path, i)),
                    _ => Err(dataset(
                        table,
                        format!(
                            "label '{label}' of {} is not one of the {} classes",
                            path.display(),
                            classes.len()
                        ),
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(LabelledImages::Files { samples, classes })
    }

    /// Images.
    pub fn len(&self) -> usize {
        match self {
            LabelledImages::Files { samples, .. } => samples.len(),
            LabelledImages::Cifar(set) => set.images.len(),
        }
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of each image.
    pub fn labels(&self) -> Vec<usize> {
        match self {
            LabelledImages::Files { samples, .. } => samples.iter().map(|(_, l)| *l).collect(),
            LabelledImages::Cifar(set) => set.labels.clone(),
        }
    }

    /// How to name image `i` in a message.
    pub fn name(&self, i: usize) -> String {
        match self {
            LabelledImages::Files { samples, .. } => samples[i].0.display().to_string(),
            LabelledImages::Cifar(_) => format!("CIFAR test image {i}"),
        }
    }

    /// The prompts OpenAI evaluates such a set with: CIFAR's for CIFAR, else those of
    /// [`Prompts::for_folder`].
    pub fn default_prompts(&self) -> Result<Prompts, ZeroShotError> {
        match self {
            LabelledImages::Cifar(set) if set.classes.len() == 10 => Ok(Prompts::cifar10()),
            LabelledImages::Cifar(_) => Ok(Prompts::cifar100()),
            LabelledImages::Files { classes, .. } => Prompts::for_folder(classes),
        }
    }

    /// An error naming the first image whose label has no class among `classes` names.
    pub fn check_labels(&self, classes: usize) -> Result<(), ZeroShotError> {
        let labels = self.labels();
        match labels.iter().position(|&l| l >= classes) {
            Some(i) => Err(ZeroShotError::Dataset {
                path: self.name(i).into(),
                message: format!(
                    "label {} but only {classes} class names were given",
                    labels[i]
                ),
            }),
            None => Ok(()),
        }
    }

    /// Preprocesses every image in order, a chunk at a time in parallel, handing each
    /// chunk's `[3, R, R]` rows to `sink`; the first unreadable image is the error.
    pub fn for_each_chunk<E: From<ImageError>>(
        &self,
        preprocessor: Preprocessor,
        mut sink: impl FnMut(&[Vec<f32>]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            LabelledImages::Files { samples, .. } => {
                let paths: Vec<&Path> = samples.iter().map(|(p, _)| p.as_path()).collect();
                preprocessor.load_chunks(&paths, false, || {}, sink)?;
            }
            LabelledImages::Cifar(set) => {
                for chunk in set.images.chunks(CIFAR_CHUNK) {
                    let rows: Vec<Vec<f32>> = chunk
                        .par_iter()
                        .map(|hwc| {
                            preprocessor.pixels(&PilImage::from_u8(Mode::Rgb, 32, 32, hwc.clone()))
                        })
                        .collect();
                    sink(&rows)?;
                }
            }
        }
        Ok(())
    }
}

fn dataset(path: &Path, message: impl Into<String>) -> ZeroShotError {
    ZeroShotError::Dataset {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Image files under `dir`, recursively, sorted, appended to `out`.
pub fn image_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ZeroShotError> {
    let io = |error| ZeroShotError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            image_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}
