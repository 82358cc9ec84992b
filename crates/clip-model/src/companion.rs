//! Files that belong to a checkpoint (its configuration, its tokenizer), found beside it by
//! one rule: a download cached as `TAG-WEIGHTS` keeps its repository's other files as
//! `TAG-NAME`, a model this project saved keeps them as `STEM.NAME`, and a folder laid out
//! as its repository holds plain `NAME`.

use std::path::{Path, PathBuf};

/// The file `name` that belongs to `weights`: `STEM.name` (when `own` names are looked
/// for), `TAG-name` where the weights are `TAG` + one of `weight_names`, then `name`, in the
/// weights' folder; the first that exists.
pub(crate) fn beside(
    weights: &Path,
    weight_names: &[&str],
    own: bool,
    name: &str,
) -> Option<PathBuf> {
    let dir = weights.parent()?;
    let file = weights.file_name()?.to_str()?;
    let stem = own
        .then(|| weights.file_stem()?.to_str().map(|s| format!("{s}.")))
        .flatten();
    let tag = weight_names
        .iter()
        .find_map(|w| file.strip_suffix(w))
        .map(str::to_owned);
    [stem, tag]
        .into_iter()
        .flatten()
        .map(|prefix| dir.join(format!("{prefix}{name}")))
        .chain([dir.join(name)])
        .find(|p| p.is_file())
}
