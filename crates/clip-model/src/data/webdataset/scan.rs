//! One tar shard read as webdataset does: members grouped into samples by key (the path up
//! to the first `.` of the file name, consecutive members sharing it), an image
//! (`jpg|jpeg|png|webp|bmp`) and a caption (`txt`) per sample. Only headers and captions are
//! read here; image bytes are read when a sample is drawn, by offset.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::super::DataError;
use super::StreamStats;

/// Extensions webdataset (and img2dataset's writers) use for images.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];

/// Longest caption read (a larger `txt` member counts as a sample without caption).
const MAX_CAPTION_BYTES: u64 = 1 << 20;

/// Largest image member read (a larger one counts as undecodable).
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// Where a member's bytes lie in its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Byte offset of the data.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// A sample with an image and a caption, its image not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRef {
    /// Index of its shard in the data set's shard list.
    pub shard: usize,
    /// The webdataset key.
    pub key: String,
    /// The image member.
    pub image: Member,
    /// The caption.
    pub caption: String,
}

/// The complete samples of a shard, and what was skipped.
#[derive(Debug, Default)]
pub struct ShardScan {
    /// Samples with an image and a caption, in tar order.
    pub samples: Vec<SampleRef>,
    /// Counts of skipped samples and whether the shard ended early.
    pub stats: StreamStats,
}

/// Reads the headers (seeking over image data) and captions of `path`, shard number
/// `shard`. A shard cut short ends at its last complete member, counted as truncated.
pub fn scan_shard(path: &Path, shard: usize) -> Result<ShardScan, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let size = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut archive = tar::Archive::new(BufReader::new(file));
    let entries = archive
        .entries_with_seek()
        .map_err(|e| DataError::io(path, e))?;
    let mut out = ShardScan::default();
    let mut current: Option<Partial> = None;
    for entry in entries {
        let Ok(mut entry) = entry else {
            out.stats.truncated_shards = 1;
            break;
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = Member {
            offset: entry.raw_file_position(),
            len: entry.size(),
        };
        if member.offset.saturating_add(member.len) > size {
            out.stats.truncated_shards = 1;
            break;
        }
        let name = entry.path().ok().map(|p| p.into_owned());
        let Some((key, ext)) = name.as_deref().and_then(split_key) else {
            continue;
        };
        if current.as_ref().is_none_or(|c| c.key != key) {
            if let Some(done) = current.take() {
                done.finish(shard, &mut out);
            }
            current = Some(Partial {
                key,
                ..Partial::default()
            });
        }
        let sample = current.as_mut().expect("set above");
        let ext = ext.to_ascii_lowercase();
        if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            sample.image = Some(member);
        } else if ext == "txt" && member.len <= MAX_CAPTION_BYTES {
            let mut bytes = Vec::with_capacity(member.len as usize);
            if entry.read_to_end(&mut bytes).is_err() {
                out.stats.truncated_shards = 1;
                break;
            }
            sample.caption = String::from_utf8(bytes).ok();
        }
    }
    if let Some(done) = current {
        done.finish(shard, &mut out);
    }
    Ok(out)
}

/// The bytes of a member of the shard at `path`.
pub fn read_member(path: &Path, member: Member) -> std::io::Result<Vec<u8>> {
    if member.len > MAX_IMAGE_BYTES {
        return Err(std::io::Error::other(format!(
            "a member of {} bytes (at most {MAX_IMAGE_BYTES} are read)",
            member.len
        )));
    }
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(member.offset))?;
    let mut bytes = vec![0; member.len as usize];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A sample while its members are read.
#[derive(Default)]
struct Partial {
    key: String,
    image: Option<Member>,
    caption: Option<String>,
}

impl Partial {
    fn finish(self, shard: usize, out: &mut ShardScan) {
        let caption = self.caption.map(|c| c.trim().to_string());
        match (self.image, caption) {
            (None, _) => out.stats.no_image += 1,
            (Some(_), None) => out.stats.no_caption += 1,
            (Some(_), Some(c)) if c.is_empty() => out.stats.no_caption += 1,
            (Some(image), Some(caption)) => out.samples.push(SampleRef {
                shard,
                key: self.key,
                image,
                caption,
            }),
        }
    }
}

/// webdataset's `base_plus_ext`: `dir/name.ext.more` → (`dir/name`, `ext.more`). Hidden
/// files (`._name.jpg` debris of macOS archivers) and names without a dot are not members
/// of a sample.
fn split_key(path: &Path) -> Option<(String, String)> {
    let text = path.to_str()?;
    let (dir, name) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    if name.starts_with('.') {
        return None;
    }
    let (stem, ext) = name.split_once('.')?;
    Some((format!("{dir}{stem}"), ext.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_at_the_first_dot_of_the_file_name() {
        let key = |p: &str| split_key(Path::new(p));
        assert_eq!(
            key("000010000.jpg"),
            Some(("000010000".into(), "jpg".into()))
        );
        assert_eq!(
            key("a.b/c.seg.png"),
            Some(("a.b/c".into(), "seg.png".into()))
        );
        assert_eq!(key("._000010000.jpg"), None);
        assert_eq!(key("README"), None);
    }
}
