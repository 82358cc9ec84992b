//! ftfy's patterns and character maps, generated from ftfy 6.3.1 by
//! `tests/reference/gen_ftfy_tables.py`.

use std::sync::LazyLock;

/// A pattern of `data/ftfy_patterns.tsv` by name.
pub(super) fn pattern(name: &str) -> &'static str {
    include_str!("../../data/ftfy_patterns.tsv")
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("no pattern {name}"))
}

/// One per-character fixer as a sorted table: character → replacement.
pub(super) struct CharMap {
    entries: Vec<(char, Box<str>)>,
    /// The runs of consecutive characters it changes, to pass most text by cheaply.
    runs: Vec<(char, char)>,
}

impl CharMap {
    fn load(fixer: &str) -> Self {
        let hex = |s: &str| {
            char::from_u32(u32::from_str_radix(s, 16).expect("hex")).expect("scalar value")
        };
        let mut entries: Vec<(char, Box<str>)> = include_str!("../../data/ftfy_char_maps.tsv")
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('\t');
                (cells.next() == Some(fixer)).then(|| {
                    let from = hex(cells.next().expect("code point"));
                    let to = cells.next().unwrap_or("");
                    let to: String = to.split(' ').filter(|s| !s.is_empty()).map(hex).collect();
                    (from, to.into_boxed_str())
                })
            })
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "no map {fixer}");
        let mut runs: Vec<(char, char)> = Vec::new();
        for &(c, _) in &entries {
            match runs.last_mut() {
                Some((_, hi)) if u32::from(*hi) + 1 == u32::from(c) => *hi = c,
                _ => runs.push((c, c)),
            }
        }
        CharMap { entries, runs }
    }

    /// The characters this fixer changes.
    pub fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.entries.iter().map(|e| e.0)
    }

    /// What `c` becomes, if this fixer changes it.
    pub fn get(&self, c: char) -> Option<&str> {
        if !self.runs.iter().any(|&(lo, hi)| lo <= c && c <= hi) {
            return None;
        }
        let i = self.entries.binary_search_by(|e| e.0.cmp(&c)).ok()?;
        Some(&self.entries[i].1)
    }
}

/// `fixes.fix_latin_ligatures`' table.
pub(super) static LIGATURES: LazyLock<CharMap> = LazyLock::new(|| CharMap::load("ligatures"));
/// `fixes.fix_character_width`'s table.
pub(super) static WIDTH: LazyLock<CharMap> = LazyLock::new(|| CharMap::load("width"));
/// `fixes.uncurl_quotes`' replacements.
pub(super) static QUOTES: LazyLock<CharMap> = LazyLock::new(|| CharMap::load("quotes"));
/// `fixes.remove_control_chars`' deletions (each maps to nothing).
pub(super) static CONTROLS: LazyLock<CharMap> = LazyLock::new(|| CharMap::load("controls"));
