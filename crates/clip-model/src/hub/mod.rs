//! Models by name, as `clip.load("ViT-B/32")`: OpenAI's published URLs, a user cache,
//! verified and resumable downloads, and converted copies cached beside the downloads.
//!
//! - `CLIP_CACHE_DIR` overrides the cache directory (default: the platform cache directory
//!   — `$XDG_CACHE_HOME` or `~/.cache` on Linux — joined with `clip`).
//! - `CLIP_MODEL_BASE_URL` replaces `https://openaipublic.azureedge.net/clip/models` for
//!   the named models (a mirror); the SHA-256 each URL carries is checked all the same.
//!
//! Downloading is the `download` feature (on by default). Without it a name or URL resolves
//! only to a file already at its place in the cache (put there by hand or by an earlier
//! build), and [`LoadError::DownloadDisabled`] says where that place is.

mod digest;
#[cfg(feature = "download")]
mod download;
pub mod open_clip;

use std::path::{Path, PathBuf};

#[cfg(feature = "download")]
pub use download::{DownloadError, download};

use crate::LoadError;

/// OpenAI's release host, as in `clip/clip.py`.
pub const OPENAI_BASE_URL: &str = "https://openaipublic.azureedge.net/clip/models";

/// `(name, sha256, file)` of OpenAI's releases: the URL is `BASE/sha256/file`.
const OPENAI_MODELS: [(&str, &str, &str); 9] = [
    (
        "RN50",
        "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
        "RN50.pt",
    ),
    (
        "RN101",
        "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
        "RN101.pt",
    ),
    (
        "RN50x4",
        "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
        "RN50x4.pt",
    ),
    (
        "RN50x16",
        "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
        "RN50x16.pt",
    ),
    (
        "RN50x64",
        "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
        "RN50x64.pt",
    ),
    (
        "ViT-B/32",
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        "ViT-B-32.pt",
    ),
    (
        "ViT-B/16",
        "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
        "ViT-B-16.pt",
    ),
    (
        "ViT-L/14",
        "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
        "ViT-L-14.pt",
    ),
    (
        "ViT-L/14@336px",
        "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
        "ViT-L-14-336px.pt",
    ),
];

/// Where a model's weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    Path(PathBuf),
    /// A URL, with the SHA-256 the file must have when it is known.
    Url {
        /// `http(s)://…`
        url: String,
        /// Lower-case hex digest.
        sha256: Option<String>,
    },
}

impl Source {
    /// Resolves what a user typed: an existing path, one of OpenAI's model names
    /// (`ViT-B/32`), an `http(s)://` URL, or `hf-hub:ORG/REPO` (open_clip's safetensors on the
    /// Hugging Face hub).
    pub fn parse(name_or_path: &str) -> Result<Self, LoadError> {
        let path = Path::new(name_or_path);
        if path.exists() {
            return Ok(Source::Path(path.to_path_buf()));
        }
        if let Some((_, sha, file)) = OPENAI_MODELS.iter().find(|(n, ..)| *n == name_or_path) {
            let base =
                std::env::var("CLIP_MODEL_BASE_URL").unwrap_or_else(|_| OPENAI_BASE_URL.into());
            return Ok(Source::Url {
                url: format!("{}/{sha}/{file}", base.trim_end_matches('/')),
                sha256: Some((*sha).to_string()),
            });
        }
        if let Some(repo) = name_or_path.strip_prefix("hf-hub:") {
            return Ok(Source::Url {
                url: hf_hub_url(repo, "open_clip_model.safetensors"),
                sha256: None,
            });
        }
        if name_or_path.starts_with("http://") || name_or_path.starts_with("https://") {
            return Ok(Source::Url {
                url: name_or_path.to_string(),
                sha256: sha_in_url(name_or_path),
            });
        }
        Err(LoadError::UnknownModel {
            given: path.to_path_buf(),
        })
    }

    /// The local file: the path itself, or the cached download (fetched if absent).
    pub fn fetch(&self, cache: &Path) -> Result<PathBuf, LoadError> {
        match self {
            Source::Path(path) => Ok(path.clone()),
            Source::Url { url, sha256 } => {
                fetch_to(url, sha256.as_deref(), cache.join(cache_name(url)))
            }
        }
    }
}

/// `dest`, downloaded from `url` unless cached (an error without the `download` feature).
fn fetch_to(url: &str, sha256: Option<&str>, dest: PathBuf) -> Result<PathBuf, LoadError> {
    #[cfg(feature = "download")]
    download(url, sha256, &dest).map_err(LoadError::from)?;
    #[cfg(not(feature = "download"))]
    if !dest.is_file() {
        let _ = sha256;
        return Err(LoadError::DownloadDisabled {
            url: url.to_owned(),
            dest,
        });
    }
    Ok(dest)
}

/// A file of a Hugging Face hub repository; `HF_ENDPOINT` (as huggingface_hub reads it)
/// points at a mirror instead of huggingface.co.
fn hf_hub_url(repo: &str, file: &str) -> String {
    let endpoint =
        std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string());
    format!(
        "{}/{repo}/resolve/main/{file}",
        endpoint.trim_end_matches('/')
    )
}

/// OpenAI's URLs carry the file's SHA-256 as their last directory.
fn sha_in_url(url: &str) -> Option<String> {
    let mut parts = url.rsplit('/');
    parts.next()?;
    let dir = parts.next()?;
    (dir.len() == 64 && dir.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| dir.to_ascii_lowercase())
}

/// The cached file's name: the URL's file name, prefixed by the hub repository (or the
/// digest directory) so equal names from different places do not collide.
fn cache_name(url: &str) -> String {
    let clean = url.split(['?', '#']).next().unwrap_or(url);
    let mut parts = clean.rsplit('/');
    let file = parts.next().filter(|f| !f.is_empty()).unwrap_or("download");
    if sha_in_url(clean).is_some() {
        return file.to_string();
    }
    let mut hasher_input = clean.as_bytes().to_vec();
    hasher_input.truncate(clean.len() - file.len());
    let tag = &digest::sha256_hex(&hasher_input)[..12];
    format!("{tag}-{file}")
}

/// The local file for what a user typed ([`Source::parse`]), downloading into
/// [`cache_dir`] when it is a name or URL.
pub fn resolve(name_or_path: impl AsRef<Path>) -> Result<PathBuf, LoadError> {
    let given = name_or_path.as_ref();
    if given.exists() {
        return Ok(given.to_path_buf());
    }
    let text = given
        .to_str()
        .ok_or_else(|| LoadError::io(given, std::io::ErrorKind::NotFound.into()))?;
    if let Some(pretrained) = open_clip::find(text) {
        return fetch_open_clip(pretrained, &cache_dir()?);
    }
    if let Some(repo) = text.strip_prefix("hf-hub:") {
        let cache = cache_dir()?;
        let (weights, tag) = fetch_repository(repo, &OPEN_CLIP_WEIGHTS, &cache)?;
        fetch_companions(repo, &COMPANIONS, &tag, &cache);
        return Ok(weights);
    }
    match Source::parse(text)? {
        Source::Path(path) => Ok(path),
        source => source.fetch(&cache_dir()?),
    }
}

/// The weight files of a hub repository, in the order they are tried: open_clip's (as
/// open_clip tries them), then transformers' (`CLIPModel`, `SiglipModel`).
const OPEN_CLIP_WEIGHTS: [&str; 3] = [
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "model.safetensors",
];

/// What an `hf-hub:` repository's weights may need beside them, fetched when present: the
/// configuration the shapes cannot tell (activation, heads) and the tokenizer (SigLIP's).
const COMPANIONS: [&str; 4] = [
    crate::checkpoint::open_clip_config::FILE_NAME,
    crate::checkpoint::hf_config::FILE_NAME,
    crate::tokenizer::FILES[0],
    crate::tokenizer::FILES[1],
];

/// The first of `weights` the hub repository `repo` has, downloaded into `cache`; its path and
/// the prefix its cached name was given (`TAG-`, which the files beside it share). The first
/// error is reported when no file can be fetched.
fn fetch_repository(
    repo: &str,
    weights: &[&str],
    cache: &Path,
) -> Result<(PathBuf, String), LoadError> {
    let mut first_error = None;
    for file in weights {
        let source = Source::Url {
            url: hf_hub_url(repo, file),
            sha256: None,
        };
        match source.fetch(cache) {
            Ok(path) => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(file);
                let tag = name.strip_suffix(file).unwrap_or("").to_owned();
                return Ok((path, tag));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.expect("at least one file was tried"))
}

/// `files` of the hub repository `repo` that it has, downloaded into `cache` as `TAG` + name,
/// beside the weights cached under that prefix. A missing one is left out: the weights are
/// read without it (the shapes alone, OpenAI's tokenizer).
fn fetch_companions(repo: &str, files: &[&str], tag: &str, cache: &Path) {
    for file in files {
        let _ = fetch_to(
            &hf_hub_url(repo, file),
            None,
            cache.join(format!("{tag}{file}")),
        );
    }
}

/// The weights of an open_clip tag from its hub repository (`open_clip_model.safetensors`,
/// else `open_clip_pytorch_model.bin`, as open_clip tries them), with the tag's
/// `open_clip_config.json` written beside them and, for a model with a tokenizer of its own
/// (SigLIP's), that tokenizer's files from the repository open_clip takes them from
/// (`hf_tokenizer_name`: ViT-L-16-SigLIP-256's is `timm/ViT-B-16-SigLIP`). CLIP tags fetch
/// nothing else: they read OpenAI's tokenizer even where their repository has a
/// `tokenizer.json`.
fn fetch_open_clip(pretrained: &open_clip::Pretrained, cache: &Path) -> Result<PathBuf, LoadError> {
    let (weights, tag) = fetch_repository(&pretrained.hf_hub, &OPEN_CLIP_WEIGHTS[..2], cache)?;
    if let Some(repo) = pretrained.tokenizer_repository() {
        fetch_companions(repo, &crate::tokenizer::FILES, &tag, cache);
    }
    let config = cache.join(format!(
        "{tag}{}",
        crate::checkpoint::open_clip_config::FILE_NAME
    ));
    crate::fs::write_bytes_atomic(&config, pretrained.config_json().as_bytes())
        .map_err(|e| LoadError::io(&config, std::io::Error::other(e.to_string())))?;
    Ok(weights)
}

/// The cache directory: `CLIP_CACHE_DIR`, else the platform cache directory + `clip`.
pub fn cache_dir() -> Result<PathBuf, LoadError> {
    if let Some(dir) = std::env::var_os("CLIP_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir()
        .map(|d| d.join("clip"))
        .ok_or(LoadError::NoCacheDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_openai_urls_with_their_digest() {
        let Source::Url { url, sha256 } = Source::parse("ViT-B/32").unwrap() else {
            panic!()
        };
        assert!(url.ends_with(
            "/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"
        ));
        assert_eq!(sha256.as_deref(), sha_in_url(&url).as_deref());
        assert_eq!(cache_name(&url), "ViT-B-32.pt");
        assert_eq!(
            OPENAI_MODELS.map(|m| m.0).as_slice(),
            crate::available_models()
        );
    }

    #[test]
    fn urls_and_hub_names() {
        let Source::Url { url, sha256 } = Source::parse("hf-hub:laion/CLIP-ViT-B-32").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            url,
            "https://huggingface.co/laion/CLIP-ViT-B-32/resolve/main/open_clip_model.safetensors"
        );
        assert_eq!(sha256, None);
        let a = cache_name("https://a.example/x/model.safetensors");
        let b = cache_name("https://b.example/x/model.safetensors");
        assert!(a.ends_with("-model.safetensors") && a != b);
        let err = Source::parse("no-such-model").unwrap_err();
        assert!(matches!(err, LoadError::UnknownModel { .. }), "{err:?}");
        assert!(err.to_string().contains("ViT-B/32"), "{err}");
    }
}
