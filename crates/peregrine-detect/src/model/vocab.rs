//! Token numbering and n-gram packing.
//!
//! A token is an x86_64 system call number (what the live sensor sees).
//! ADFA-LD's i386 calls that have no x86_64 equivalent get their own tokens
//! at [`COMPAT_BASE`]` + i386 number`; anything out of range maps to
//! [`UNKNOWN`]. Tokens fit in [`BITS`] bits, so an n-gram of up to
//! [`MAX_ORDER`] tokens packs into one `u64`.

/// Bits per packed token.
pub const BITS: u32 = 10;
/// Number of distinct tokens.
pub const VOCAB: u16 = 1 << BITS;
/// First token of the i386-only calls.
pub const COMPAT_BASE: u16 = 512;
/// The bucket for any number outside the table.
pub const UNKNOWN: u16 = VOCAB - 1;
/// Longest n-gram that packs into a `u64`.
pub const MAX_ORDER: usize = 6;

const MASK: u64 = (1 << BITS) - 1;

/// A live x86_64 system call number as a token ([`UNKNOWN`] when it is not
/// a number the tables know).
pub fn token(x86_64_nr: u32) -> u16 {
    if x86_64_nr < u32::from(COMPAT_BASE) {
        x86_64_nr as u16
    } else {
        UNKNOWN
    }
}

/// Packs `tokens` (oldest first, at most [`MAX_ORDER`]) into a key; the
/// length is implied by the table the key goes in.
pub fn pack(tokens: &[u16]) -> u64 {
    debug_assert!(tokens.len() <= MAX_ORDER);
    tokens
        .iter()
        .fold(0u64, |k, &t| (k << BITS) | (u64::from(t) & MASK))
}

/// The tokens of a key of `len` tokens, oldest first.
pub fn unpack(key: u64, len: usize) -> Vec<u16> {
    (0..len)
        .rev()
        .map(|i| ((key >> (BITS * i as u32)) & MASK) as u16)
        .collect()
}

/// Whether `key` holds no bits beyond `len` tokens.
pub fn fits(key: u64, len: usize) -> bool {
    len <= MAX_ORDER && key >> (BITS * len as u32) == 0
}

/// The key without its oldest token.
pub fn drop_oldest(key: u64, len: usize) -> u64 {
    if len <= 1 {
        0
    } else {
        key & ((1u64 << (BITS * (len as u32 - 1))) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_drops_the_oldest() {
        let t = [3, 1023, 0, 59, 231, 5];
        let k = pack(&t);
        assert_eq!(unpack(k, 6), t);
        assert_eq!(unpack(drop_oldest(k, 6), 5), t[1..]);
        assert!(fits(pack(&t[..2]), 2));
        assert!(!fits(k, 2));
        assert_eq!(token(59), 59);
        assert_eq!(token(100_000), UNKNOWN);
    }
}
