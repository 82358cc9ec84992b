//! What a user points `embed` at, as a list of items with stable ids: a folder (walked
//! recursively), a list file, webdataset shards, or image files.
//!
//! Ids are absolute paths (a shard member: `SHARD.tar#KEY`), so a collection can be resumed,
//! grown and searched from any working directory.

use std::path::{Path, PathBuf};

use clip_model::data::webdataset::{Member, expand_shards, scan_shard};

use crate::CollectionError;

/// File extensions taken as images in a folder walk (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "jfif",
];

/// One image to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What the collection calls it (its absolute path, or `SHARD.tar#KEY`).
    pub id: String,
    /// Where its bytes are.
    pub source: Source,
}

/// Where an item's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file of its own.
    File(PathBuf),
    /// A member of a tar shard.
    Member {
        /// The shard.
        shard: PathBuf,
        /// Where in it.
        member: Member,
    },
}

/// The items `specs` name, in order (each folder sorted by name), without duplicates:
/// - a folder: every image file under it (extensions [`IMAGE_EXTENSIONS`]), following
///   symbolic links (a link back into its own ancestry is skipped, not followed forever),
///   skipping hidden files and folders; a folder without images but with `*.tar` files is
///   read as webdataset shards;
/// - a `.txt` / `.lst` file: one image path per line, relative to the list's folder (blank
///   lines and `#` comments skipped);
/// - `.tar` files, brace patterns (`shards/{00000..00009}.tar`) and `::`-joined lists:
///   webdataset shards (each sample's image);
/// - anything else: one image file.
pub fn expand(specs: &[PathBuf]) -> Result<Vec<Item>, CollectionError> {
    let mut items = Vec::new();
    for spec in specs {
        let text = spec.to_string_lossy();
        if spec.is_dir() {
            let before = items.len();
            walk(spec, &mut items)?;
            if items.len() == before && has_tars(spec) {
                shards(&text, &mut items)?;
            }
        } else if text.contains('{') || text.contains("::") || has_extension(spec, &["tar"]) {
            shards(&text, &mut items)?;
        } else if has_extension(spec, &["txt", "lst"]) {
            list(spec, &mut items)?;
        } else if spec.is_file() {
            items.push(file_item(absolute(spec)?));
        } else {
            return Err(input(spec, "no such file or folder"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.id.clone()));
    Ok(items)
}

fn input(path: &Path, message: &str) -> CollectionError {
    CollectionError::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn absolute(path: &Path) -> Result<PathBuf, CollectionError> {
    std::path::absolute(path).map_err(|e| CollectionError::io(path, e))
}

fn file_item(path: PathBuf) -> Item {
    Item {
        id: path.to_string_lossy().into_owned(),
        source: Source::File(path),
    }
}

fn is_hidden(entry: &walkdir::DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.')
}

fn walk(dir: &Path, items: &mut Vec<Item>) -> Result<(), CollectionError> {
    let root = absolute(dir)?;
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e));
    for entry in walker {
        // Unreadable entries and symlink loops are left out; the walk goes on.
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_file() && has_extension(entry.path(), &IMAGE_EXTENSIONS) {
            items.push(file_item(entry.into_path()));
        }
    }
    Ok(())
}

fn has_tars(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| has_extension(&e.path(), &["tar"]))
    })
}

fn list(path: &Path, items: &mut Vec<Item>) -> Result<(), CollectionError> {
    let lines = clip_model::fs::read_lines(path).map_err(|e| match e {
        clip_model::fs::LinesError::Read(e) => CollectionError::File(e),
        clip_model::fs::LinesError::NotUtf8 { line, .. } => {
            input(path, &format!("line {line} is not UTF-8"))
        }
    })?;
    let base = absolute(path)?;
    let base = base.parent().unwrap_or(Path::new("/"));
    for line in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        items.push(file_item(base.join(line)));
    }
    Ok(())
}

fn shards(spec: &str, items: &mut Vec<Item>) -> Result<(), CollectionError> {
    for (i, shard) in expand_shards(spec)?.into_iter().enumerate() {
        let shard = absolute(&shard)?;
        for sample in scan_shard(&shard, i)?.samples {
            items.push(Item {
                id: format!("{}#{}", shard.display(), sample.key),
                source: Source::Member {
                    shard: shard.clone(),
                    member: sample.image,
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    fn names(items: &[Item], root: &Path) -> Vec<String> {
        let root = std::path::absolute(root).unwrap();
        items
            .iter()
            .map(|i| {
                Path::new(&i.id)
                    .strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_folder_walk_takes_images_skips_hidden_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "b.JPG",
            "a.png",
            "sub/c.webp",
            "notes.txt",
            ".hidden.jpg",
            ".cache/d.jpg",
        ] {
            touch(&d.join(f));
        }
        let items = expand(&[d.to_path_buf()]).unwrap();
        assert_eq!(names(&items, d), ["a.png", "b.JPG", "sub/c.webp"]);
        assert!(
            items
                .iter()
                .all(|i| matches!(&i.source, Source::File(p) if p.is_absolute()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("photos/a.jpg"));
        touch(&d.join("elsewhere/b.jpg"));
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("photos/linked")).unwrap();
        std::os::unix::fs::symlink(d.join("photos"), d.join("photos/loop")).unwrap();
        let items = expand(&[d.join("photos")]).unwrap();
        assert_eq!(names(&items, &d.join("photos")), ["a.jpg", "linked/b.jpg"]);
    }

    #[test]
    fn a_list_file_is_relative_to_its_folder_and_duplicates_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("x/a.jpg"));
        std::fs::write(d.join("x/list.txt"), "a.jpg\n\n# a comment\nb.jpg\na.jpg\n").unwrap();
        let items = expand(&[d.join("x/list.txt")]).unwrap();
        assert_eq!(names(&items, &d.join("x")), ["a.jpg", "b.jpg"]);
    }

    #[test]
    fn a_missing_input_is_an_error_naming_it() {
        let err = expand(&[PathBuf::from("/no/such/photos")]).unwrap_err();
        assert!(err.to_string().contains("/no/such/photos"), "{err}");
    }
}
