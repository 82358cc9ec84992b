//! Which tar shards a `--data-dir` names, as open_clip's `--train-data` does: brace
//! patterns (`shards/{00000..00099}.tar`, `{a,b}`), a directory (its `*.tar`, sorted), a list
//! file (one shard per line, relative to the list), or a single `.tar`; several joined by
//! `::`.

use std::path::{Path, PathBuf};

use super::super::DataError;
use super::super::error::read_lines;

/// The shard files `spec` names, in order; each must exist.
pub fn expand_shards(spec: &str) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for part in spec.split("::").filter(|p| !p.is_empty()) {
        if ["pipe:", "http://", "https://", "s3://", "gs://"]
            .iter()
            .any(|scheme| part.starts_with(scheme))
        {
            return Err(layout(
                part,
                "shards are read from local (or mounted) files: download them first",
            ));
        }
        if part.contains('{') {
            for name in expand_braces(part).map_err(|m| layout(part, &m))? {
                let path = PathBuf::from(name);
                if !path.is_file() {
                    return Err(missing(&path));
                }
                out.push(path);
            }
            continue;
        }
        let path = Path::new(part);
        if path.is_dir() {
            let mut tars: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| DataError::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_tar(p) && p.is_file())
                .collect();
            if tars.is_empty() {
                return Err(layout(part, "a directory without .tar shards"));
            }
            tars.sort();
            out.extend(tars);
        } else if is_tar(path) {
            if !path.is_file() {
                return Err(missing(path));
            }
            out.push(path.to_path_buf());
        } else if path.is_file() {
            let base = path.parent().unwrap_or(Path::new("."));
            for (i, line) in read_lines(path)?.iter().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let shard = base.join(line);
                if !shard.is_file() {
                    return Err(DataError::line(
                        path,
                        i + 1,
                        format!("shard {} does not exist", shard.display()),
                    ));
                }
                out.push(shard);
            }
        } else {
            return Err(missing(path));
        }
    }
    if out.is_empty() {
        return Err(layout(spec, "names no shard"));
    }
    Ok(out)
}

fn is_tar(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
}

fn missing(path: &Path) -> DataError {
    DataError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such shard"),
    )
}

fn layout(spec: &str, message: &str) -> DataError {
    DataError::Layout {
        dir: PathBuf::from(spec),
        message: message.to_string(),
    }
}

/// Bash-style brace expansion as Python's `braceexpand` does it: `{0..9}` and `{000..099}`
/// (zero-padded to the wider end), `{a,b,c}`, several groups and nesting.
pub fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let mut depth = 0;
    let mut close = None;
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or("an unclosed '{'")?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let choices = match range(body)? {
        Some(range) => range,
        None => {
            let mut parts = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&body[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&body[start..]);
            let mut out = Vec::new();
            for part in parts {
                out.extend(expand_braces(part)?);
            }
            out
        }
    };
    let mut out = Vec::new();
    for choice in choices {
        for rest in expand_braces(tail)? {
            out.push(format!("{head}{choice}{rest}"));
        }
    }
    Ok(out)
}

/// `a..b` as numbers (zero-padded to the wider of `a` and `b` when either is padded).
fn range(body: &str) -> Result<Option<Vec<String>>, String> {
    let Some((a, b)) = body.split_once("..") else {
        return Ok(None);
    };
    let (Ok(start), Ok(end)) = (a.parse::<u64>(), b.parse::<u64>()) else {
        return Ok(None);
    };
    if end < start || end - start > 10_000_000 {
        return Err(format!("the range {{{body}}} is empty or too large"));
    }
    let padded = (a.len() > 1 && a.starts_with('0')) || (b.len() > 1 && b.starts_with('0'));
    let width = if padded { a.len().max(b.len()) } else { 0 };
    Ok(Some(
        (start..=end).map(|n| format!("{n:0width$}")).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ranges_lists_and_nesting_as_braceexpand() {
        assert_eq!(
            expand_braces("s/{00008..00011}.tar").unwrap(),
            ["s/00008.tar", "s/00009.tar", "s/00010.tar", "s/00011.tar"]
        );
        assert_eq!(expand_braces("{8..10}").unwrap(), ["8", "9", "10"]);
        assert_eq!(
            expand_braces("{a,b{1..2}}-{x,y}").unwrap(),
            ["a-x", "a-y", "b1-x", "b1-y", "b2-x", "b2-y"]
        );
        assert!(expand_braces("{0..3").is_err());
        assert!(expand_braces("{5..3}").is_err());
    }

    #[test]
    fn finds_shards_by_pattern_directory_and_list() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["00000.tar", "00001.tar", "00002.tar", "00000_stats.json"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let d = dir.path().to_str().unwrap();
        let tars: Vec<PathBuf> = (0..3)
            .map(|i| dir.path().join(format!("0000{i}.tar")))
            .collect();
        assert_eq!(expand_shards(d).unwrap(), tars);
        assert_eq!(
            expand_shards(&format!("{d}/{{00000..00002}}.tar")).unwrap(),
            tars
        );
        assert_eq!(
            expand_shards(&format!("{d}/00002.tar::{d}/00000.tar")).unwrap(),
            [tars[2].clone(), tars[0].clone()]
        );
        let list = dir.path().join("shards.txt");
        std::fs::write(&list, "# train\n00001.tar\n\n00000.tar\n").unwrap();
        assert_eq!(
            expand_shards(list.to_str().unwrap()).unwrap(),
            [tars[1].clone(), tars[0].clone()]
        );

        let err = expand_shards(&format!("{d}/{{00000..00003}}.tar")).unwrap_err();
        assert!(
            err.to_string().contains("00003.tar: no such shard"),
            "{err}"
        );
        std::fs::write(&list, "00009.tar\n").unwrap();
        let err = expand_shards(list.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("shards.txt:1: shard"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = expand_shards(empty.path().to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("without .tar shards"), "{err}");
        let err = expand_shards("pipe:aws s3 cp s3://bucket/{00000..00009}.tar -").unwrap_err();
        assert!(err.to_string().contains("download them first"), "{err}");
    }
}
