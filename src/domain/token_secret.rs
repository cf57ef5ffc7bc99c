//! The shape of a Composer token's secret, so that secret scanners (GitHub's
//! push protection, gitleaks, trufflehog) can recognise a leaked one without
//! asking packyard: a fixed prefix, 32 random bytes as hex, and a CRC-32 of
//! those digits, as GitHub's `ghp_` and Private Packagist's tokens carry.
//!
//! `pky_` + 64 hex digits + 8 hex digits of checksum; the regex is
//! `pky_[0-9a-f]{72}`. Tokens made before the checksum (`pky_` + 43
//! base64url characters) are still looked up by hash and keep working.

use super::Secret;

pub const TOKEN_PREFIX: &str = "pky_";
const RANDOM_HEX: usize = 64;
const CHECKSUM_HEX: usize = 8;

/// The secret for 32 random bytes.
pub fn token_secret(random: &[u8; 32]) -> Secret {
    let body = hex::encode(random);
    let checksum = crc32fast::hash(body.as_bytes());
    Secret::new(format!("{TOKEN_PREFIX}{body}{checksum:08x}"))
}

/// What a presented string is, as far as its shape tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// A current token whose checksum matches (it may still be unknown).
    Checksummed,
    /// Has the current shape but the checksum does not match: a typo or a
    /// made-up value, never a token packyard issued.
    BadChecksum,
    /// Anything else, such as a token from before the checksum.
    Other,
}

pub fn token_shape(presented: &str) -> TokenShape {
    let Some(rest) = presented.strip_prefix(TOKEN_PREFIX) else {
        return TokenShape::Other;
    };
    let hex_digits = rest
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if rest.len() != RANDOM_HEX + CHECKSUM_HEX || !hex_digits {
        return TokenShape::Other;
    }
    let (body, checksum) = rest.split_at(RANDOM_HEX);
    if format!("{:08x}", crc32fast::hash(body.as_bytes())) == checksum {
        TokenShape::Checksummed
    } else {
        TokenShape::BadChecksum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_token_has_the_prefix_and_a_checksum_that_catches_a_typo() {
        let secret = token_secret(&[0xab; 32]);
        let text = secret.expose();
        assert!(text.starts_with("pky_"));
        assert_eq!(text.len(), 4 + 72);
        assert_eq!(token_shape(text), TokenShape::Checksummed);
        let mut typo = text.to_owned().into_bytes();
        typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            token_shape(&String::from_utf8(typo).unwrap()),
            TokenShape::BadChecksum
        );
    }

    #[test]
    fn token_from_before_the_checksum_is_not_mistaken_for_a_bad_one() {
        let legacy = "pky_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(token_shape(legacy), TokenShape::Other);
        assert_eq!(token_shape("ghp_abc"), TokenShape::Other);
    }

    #[test]
    fn checksum_is_the_crc32_of_the_hex_digits() {
        // An independent check of the published CRC-32 (IEEE) of "123456789".
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        let secret = token_secret(&[0; 32]);
        let zeros = "0".repeat(64);
        let expected = format!("pky_{zeros}{:08x}", crc32fast::hash(zeros.as_bytes()));
        assert_eq!(secret.expose(), expected);
    }
}
