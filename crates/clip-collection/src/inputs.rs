//! What a user points `embed` at, as items with stable ids, produced as they are found: a
//! folder (walked recursively), a list file, webdataset shards, or image files.
//!
//! Ids are absolute paths (a shard member: `SHARD.tar#KEY`), so a collection can be resumed,
//! grown and searched from any working directory.

use std::path::{Path, PathBuf};

use clip_model::data::webdataset::{Member, expand_shards, read_member, scan_shard};

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
        /// The shard (shared by its members).
        shard: std::sync::Arc<Path>,
        /// Where in it.
        member: Member,
    },
}

impl Item {
    /// The item a collection calls `id` (as [`Item::id`] and [`Hit::path`] give it): a file,
    /// or a member of a shard, found by scanning the shard's headers.
    ///
    /// [`Hit::path`]: crate::Hit::path
    pub fn find(id: &str) -> Result<Item, CollectionError> {
        let Some((shard, key)) = id.rsplit_once('#').filter(|(s, _)| s.ends_with(".tar")) else {
            return Ok(file_item(PathBuf::from(id)));
        };
        members(Path::new(shard), 0)
            .filter_map(Result::ok)
            .find(|item| item.id.ends_with(&format!("#{key}")))
            .ok_or_else(|| input(Path::new(shard), &format!("no image with key {key:?}")))
    }

    /// Its image file's bytes.
    pub fn read(&self) -> Result<Vec<u8>, CollectionError> {
        match &self.source {
            Source::File(path) => std::fs::read(path).map_err(|e| CollectionError::io(path, e)),
            Source::Member { shard, member } => {
                read_member(shard, *member).map_err(|e| CollectionError::io(&**shard, e))
            }
        }
    }
}

/// What a user pointed at, checked and ready to be walked. Items are produced lazily, so a
/// collection of any size is listed in bounded memory (a folder is walked as it is read, a
/// shard's headers are scanned one shard at a time).
#[derive(Debug, Clone)]
pub struct Inputs {
    specs: Vec<Spec>,
}

#[derive(Debug, Clone)]
enum Spec {
    Folder(PathBuf),
    List(PathBuf),
    Shards(Vec<PathBuf>),
    File(PathBuf),
}

impl Inputs {
    /// Checks what `specs` name (each must exist; shard patterns are expanded):
    /// - a folder: every image file under it (extensions [`IMAGE_EXTENSIONS`]), following
    ///   symbolic links (a link back into its own ancestry is skipped, not followed forever),
    ///   skipping hidden files and folders, in name order; a folder without images but with
    ///   `*.tar` files is read as webdataset shards;
    /// - a `.txt` / `.lst` file: one image path per line, relative to the list's folder
    ///   (blank lines and `#` comments skipped);
    /// - `.tar` files, brace patterns (`shards/{00000..00009}.tar`) and `::`-joined lists:
    ///   webdataset shards (each sample's image);
    /// - anything else: one image file.
    pub fn open(specs: &[PathBuf]) -> Result<Self, CollectionError> {
        let mut out = Vec::new();
        for spec in specs {
            let text = spec.to_string_lossy();
            out.push(if spec.is_dir() {
                std::fs::read_dir(spec).map_err(|e| CollectionError::io(spec, e))?;
                if !has_images(spec) && has_tars(spec) {
                    Spec::Shards(absolute_all(expand_shards(&text)?)?)
                } else {
                    Spec::Folder(absolute(spec)?)
                }
            } else if text.contains('{') || text.contains("::") || has_extension(spec, &["tar"]) {
                Spec::Shards(absolute_all(expand_shards(&text)?)?)
            } else if has_extension(spec, &["txt", "lst"]) && spec.is_file() {
                Spec::List(absolute(spec)?)
            } else if spec.is_file() {
                Spec::File(absolute(spec)?)
            } else {
                return Err(input(spec, "no such file or folder"));
            });
        }
        Ok(Inputs { specs: out })
    }

    /// The items, in order, each once (an image named twice comes the first time). A list
    /// file or shard that cannot be read is an error item; the walk goes on after it.
    pub fn iter(&self) -> impl Iterator<Item = Result<Item, CollectionError>> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.specs
            .iter()
            .flat_map(
                |spec| -> Box<dyn Iterator<Item = Result<Item, CollectionError>>> {
                    match spec {
                        Spec::Folder(root) => Box::new(walk(root).map(Ok)),
                        Spec::List(path) => list(path),
                        Spec::Shards(shards) => Box::new(
                            shards
                                .iter()
                                .enumerate()
                                .flat_map(|(i, shard)| members(shard, i)),
                        ),
                        Spec::File(path) => Box::new(std::iter::once(Ok(file_item(path.clone())))),
                    }
                },
            )
            .filter(move |item| match item {
                Ok(item) => seen.insert(id_hash(&item.id)),
                Err(_) => true,
            })
    }
}

/// 128 bits of an id's SHA-256: what the sets of ids seen and done hold, 16 bytes an image.
pub(crate) fn id_hash(id: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
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

fn absolute_all(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, CollectionError> {
    paths.iter().map(|p| absolute(p)).collect()
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

/// The image files under `root`, lazily. Unreadable entries and symlink loops are left out.
fn walk(root: &Path) -> impl Iterator<Item = Item> + use<> {
    walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e))
        .flatten()
        .filter(|e| e.file_type().is_file() && has_extension(e.path(), &IMAGE_EXTENSIONS))
        .map(|e| file_item(e.into_path()))
}

fn has_images(dir: &Path) -> bool {
    walk(dir).next().is_some()
}

fn has_tars(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| has_extension(&e.path(), &["tar"]))
    })
}

fn list(path: &Path) -> Box<dyn Iterator<Item = Result<Item, CollectionError>>> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return Box::new(std::iter::once(Err(CollectionError::io(path, e)))),
    };
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let path = path.to_path_buf();
    Box::new(
        std::io::BufReader::new(file)
            .lines()
            .enumerate()
            .filter_map(move |(i, line)| match line {
                Err(e) => Some(Err(input(&path, &format!("line {}: {e}", i + 1)))),
                Ok(line) => {
                    let line = line.trim();
                    (!line.is_empty() && !line.starts_with('#'))
                        .then(|| Ok(file_item(base.join(line))))
                }
            }),
    )
}

fn members(shard: &Path, i: usize) -> Box<dyn Iterator<Item = Result<Item, CollectionError>>> {
    let scan = match scan_shard(shard, i) {
        Ok(scan) => scan,
        Err(e) => return Box::new(std::iter::once(Err(e.into()))),
    };
    let shard: std::sync::Arc<Path> = shard.into();
    Box::new(scan.samples.into_iter().map(move |sample| {
        Ok(Item {
            id: format!("{}#{}", shard.display(), sample.key),
            source: Source::Member {
                shard: shard.clone(),
                member: sample.image,
            },
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    fn expand(specs: &[PathBuf]) -> Result<Vec<Item>, CollectionError> {
        Inputs::open(specs)?.iter().collect()
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
