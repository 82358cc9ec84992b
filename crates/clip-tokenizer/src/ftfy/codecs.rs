//! The single-byte codecs ftfy tries when undoing mojibake, and its UTF-8 decoder.
//!
//! The tables are ftfy's own (`tests/reference/gen_ftfy_tables.py`): its "sloppy"
//! Windows code pages decode the bytes Windows leaves undefined as Latin-1 does, and byte
//! 0x1A as U+FFFD, so that text which went through them can be encoded back.

use std::sync::LazyLock;

use rustc_hash::FxHashMap;

/// A single-byte encoding: what each byte decodes to (`None`: undefined), and back.
pub(super) struct Charmap {
    pub name: &'static str,
    decode: [Option<char>; 256],
    encode: FxHashMap<char, u8>,
    /// `encode` for the ASCII characters, looked up without hashing.
    encode_ascii: [Option<u8>; 128],
}

impl Charmap {
    fn parse(line: &'static str) -> Self {
        let (name, cells) = line.split_once('\t').expect("name<TAB>table");
        let mut decode = [None; 256];
        let mut n = 0;
        for (slot, cell) in decode.iter_mut().zip(cells.split(' ')) {
            *slot = (cell != "-").then(|| {
                let cp = u32::from_str_radix(cell, 16).expect("hex code point");
                char::from_u32(cp).expect("a scalar value")
            });
            n += 1;
        }
        assert_eq!(n, 256, "{name}: 256 bytes");
        let encode: FxHashMap<char, u8> = (0..=255u8)
            .filter_map(|b| decode[b as usize].map(|c| (c, b)))
            .collect();
        let encode_ascii = std::array::from_fn(|c| encode.get(&char::from(c as u8)).copied());
        Charmap {
            name,
            decode,
            encode,
            encode_ascii,
        }
    }

    /// `text.encode(name)`, or `None` where a character has no byte (ftfy's
    /// `possible_encoding` is false exactly then).
    pub fn encode(&self, text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            let byte = match self.encode_ascii.get(c as usize) {
                Some(ascii) => *ascii,
                None => self.encode.get(&c).copied(),
            };
            out.push(byte?);
        }
        Some(out)
    }

    /// `bytes.decode(name)` (strict), or `None` at an undefined byte.
    pub fn decode(&self, bytes: &[u8]) -> Option<String> {
        bytes.iter().map(|&b| self.decode[b as usize]).collect()
    }

    /// The character byte `b` decodes to.
    pub fn decode_byte(&self, b: u8) -> Option<char> {
        self.decode[b as usize]
    }
}

static CHARMAPS: LazyLock<Vec<Charmap>> = LazyLock::new(|| {
    include_str!("../../data/ftfy_codecs.tsv")
        .lines()
        .map(Charmap::parse)
        .collect()
});

/// `chardata.CHARMAP_ENCODINGS`, in the order ftfy tries them.
pub(super) fn charmap_encodings() -> &'static [Charmap] {
    &CHARMAPS[..CHARMAPS.len() - 1]
}

/// A codec by its Python name.
pub(super) fn charmap(name: &str) -> &'static Charmap {
    CHARMAPS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no codec {name}"))
}

/// ftfy's `utf-8-variants` decoder: strict UTF-8, except that `C0 80` is U+0000 (Java's
/// modified UTF-8) and a surrogate pair written as two 3-byte sequences is the
/// character it encodes (CESU-8). `None` where Python raises `UnicodeDecodeError`.
pub(super) fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        // The sequences ftfy treats specially start with C0, or ED then A0..BF or the end;
        // neither byte can sit inside a valid UTF-8 character, so the text before decodes alone.
        let special = rest.iter().enumerate().position(|(i, &b)| {
            b == 0xC0 || (b == 0xED && rest.get(i + 1).is_none_or(|n| (0xA0..=0xBF).contains(n)))
        });
        let Some(at) = special else {
            out.push_str(std::str::from_utf8(rest).ok()?);
            return Some(out);
        };
        out.push_str(std::str::from_utf8(&rest[..at]).ok()?);
        rest = &rest[at..];
        if rest[0] == 0xC0 {
            if rest.get(1) != Some(&0x80) {
                return None;
            }
            out.push('\0');
            rest = &rest[2..];
        } else {
            out.push(cesu8_pair(rest)?);
            rest = &rest[6..];
        }
    }
}

/// The character a CESU-8 surrogate pair at the start of `b` encodes.
fn cesu8_pair(b: &[u8]) -> Option<char> {
    let continuation = |x: u8| (0x80..=0xBF).contains(&x);
    let ok = b.len() >= 6
        && (0xA0..=0xAF).contains(&b[1])
        && continuation(b[2])
        && b[3] == 0xED
        && (0xB0..=0xBF).contains(&b[4])
        && continuation(b[5]);
    if !ok {
        return None;
    }
    let cp = ((u32::from(b[1]) & 0x0F) << 16)
        + ((u32::from(b[2]) & 0x3F) << 10)
        + ((u32::from(b[4]) & 0x0F) << 6)
        + (u32::from(b[5]) & 0x3F)
        + 0x10000;
    char::from_u32(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Python's `ftfy.chardata` and `ftfy.bad_codecs`.
    #[test]
    fn ftfys_codecs_in_order() {
        let names: Vec<_> = charmap_encodings().iter().map(|c| c.name).collect();
        assert_eq!(names[0], "latin-1");
        assert_eq!(names[1], "sloppy-windows-1252");
        assert_eq!(names.len(), 10);
        let sloppy = charmap("sloppy-windows-1252");
        // Undefined in Windows-1252, Latin-1's in the sloppy codec; 0x1A is U+FFFD.
        assert_eq!(sloppy.decode_byte(0x81), Some('\u{81}'));
        assert_eq!(sloppy.decode_byte(0x80), Some('€'));
        assert_eq!(sloppy.decode_byte(0x1A), Some('\u{FFFD}'));
        assert_eq!(charmap("windows-1252").decode_byte(0x81), None);
        assert_eq!(sloppy.encode("€a"), Some(vec![0x80, b'a']));
        assert_eq!(sloppy.encode("\u{1A}"), None);
    }

    /// Expected values from Python: `bytes.decode("utf-8-variants")` after
    /// `import ftfy.bad_codecs`.
    #[test]
    fn utf8_variants() {
        // Python: b"a\xc0\x80b".decode("utf-8-variants") == "a\x00b".
        assert_eq!(decode_utf8_variants(b"a\xc0\x80b").as_deref(), Some("a\0b"));
        // CESU-8 of U+1F600.
        let cesu = [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
        assert_eq!(decode_utf8_variants(&cesu).as_deref(), Some("😀"));
        assert_eq!(decode_utf8_variants(&cesu[..3]), None);
        assert_eq!(decode_utf8_variants(b"\xc0"), None);
        assert_eq!(decode_utf8_variants(b"\xc0A"), None);
        assert_eq!(
            decode_utf8_variants(b"\xed\x9f\xbf").as_deref(),
            Some("\u{D7FF}")
        );
        assert_eq!(decode_utf8_variants(b"\xff"), None);
    }
}
