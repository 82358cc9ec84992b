//! OpenAI's reversible byte ↔ symbol mapping (`bytes_to_unicode`).
//!
//! The BPE vocabulary is written in printable characters: each byte is shown as
//! itself when printable and as a character from U+0100 on otherwise. The
//! vocabulary's first 256 entries are these symbols in *this* order (printable
//! bytes first), so a byte's token id is its position here, not its value.

/// The printable bytes that stand for themselves, in the reference's order.
fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// `(byte, symbol)` pairs in vocabulary order.
pub(crate) fn byte_symbols() -> Vec<(u8, char)> {
    let mut pairs: Vec<(u8, char)> = (0..=255u8)
        .filter(|&b| is_printable(b))
        .map(|b| (b, char::from(b)))
        .collect();
    for (n, b) in (0..=255u8).filter(|&b| !is_printable(b)).enumerate() {
        let symbol = char::from_u32(256 + n as u32).expect("U+0100..U+0143 are characters");
        pairs.push((b, symbol));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::byte_symbols;

    #[test]
    fn mapping_is_a_bijection_in_reference_order() {
        let pairs = byte_symbols();
        assert_eq!(pairs.len(), 256);
        assert_eq!(pairs[0], (b'!', '!'));
        // Bytes 0x00.. follow the 188 printable ones, as U+0100 onwards.
        assert_eq!(pairs[188], (0, '\u{100}'));
        assert_eq!(pairs.iter().find(|p| p.0 == b' ').unwrap().1, '\u{120}'); // 'Ġ'
        let mut bytes: Vec<u8> = pairs.iter().map(|p| p.0).collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
    }
}
