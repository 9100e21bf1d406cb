//! Lock names and the pure, deterministic ways backends turn them into OS
//! resource names.
//!
//! Every process must map one name to the same resource, whatever its PHP or
//! extension version, so the mappings below are a stable format: the hash is
//! FNV-1a 64 (specified, not `std`'s `DefaultHasher`, whose algorithm may
//! change between Rust releases) and the slug rules never change silently.

use std::fmt::{self, Write};

use crate::error::Error;

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Longest name kept as its own slug; with a 12-byte prefix it still fits a
/// Linux abstract socket address (107 bytes).
const PLAIN_SLUG_MAX: usize = 64;

/// How many readable bytes a hashed slug keeps before its hash.
const SLUG_READABLE_PREFIX: usize = 40;

/// A validated lock name: 1 to 255 bytes, no NUL; any other byte is allowed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LockName(Vec<u8>);

impl LockName {
    /// Validates `bytes` as a lock name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `name` when `bytes` is empty, longer
    /// than [`MAX_NAME_LEN`] or contains a NUL byte.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        let problem = if bytes.is_empty() {
            "must not be empty".to_owned()
        } else if bytes.len() > MAX_NAME_LEN {
            format!("must be at most {MAX_NAME_LEN} bytes long, {} given", bytes.len())
        } else if bytes.contains(&0) {
            "must not contain any null bytes".to_owned()
        } else {
            return Ok(Self(bytes.to_vec()));
        };
        Err(Error::invalid_argument("name", problem))
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// FNV-1a 64 of the name's bytes: stable across processes, builds and
    /// versions.
    #[must_use]
    pub fn hash64(&self) -> u64 {
        fnv1a64(&self.0)
    }

    /// A file- and socket-name-safe form of the name, unique per name.
    ///
    /// Names made only of `[A-Za-z0-9_-]` and at most 64 bytes long are kept
    /// as they are, so `flock(1)` users can guess the file. Every other name
    /// becomes its first 40 bytes with unsafe bytes replaced by `_`, a `.` and
    /// the 16 hex digits of its hash. A plain slug never contains a `.`, so the
    /// two forms cannot collide, and no slug contains `/` or starts with `.`,
    /// so a slug can never leave the directory it is put in.
    #[must_use]
    pub fn slug(&self) -> String {
        if self.0.len() <= PLAIN_SLUG_MAX && self.0.iter().all(|&b| is_slug_byte(b)) {
            // Every byte is ASCII, so this cannot fail.
            return String::from_utf8_lossy(&self.0).into_owned();
        }
        let readable: String = self
            .0
            .iter()
            .take(SLUG_READABLE_PREFIX)
            .map(|&b| if is_slug_byte(b) { char::from(b) } else { '_' })
            .collect();
        format!("{readable}.{:016x}", self.hash64())
    }

    /// The name whose slug `slug` is, when it is a plain slug (the name
    /// itself); `None` for a hashed slug, which names nobody, and for bytes
    /// that are no slug at all.
    #[must_use]
    pub fn from_plain_slug(slug: &[u8]) -> Option<Self> {
        is_plain_slug(slug).then(|| Self(slug.to_vec()))
    }
}

/// Whether `bytes` is a form [`LockName::slug`] makes, plain or hashed. What
/// another user may name freely (an abstract socket, a file in a shared
/// directory) is no lock of ours unless it is: a listing skips the rest,
/// so it never shows their bytes.
#[must_use]
pub fn is_slug(bytes: &[u8]) -> bool {
    if is_plain_slug(bytes) {
        return true;
    }
    let Some(dot) = bytes.iter().rposition(|&b| b == b'.') else { return false };
    let (readable, hash) = (&bytes[..dot], &bytes[dot + 1..]);
    (1..=SLUG_READABLE_PREFIX).contains(&readable.len())
        && readable.iter().all(|&b| is_slug_byte(b))
        && hash.len() == 16
        && hash.iter().all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_plain_slug(bytes: &[u8]) -> bool {
    (1..=PLAIN_SLUG_MAX).contains(&bytes.len()) && bytes.iter().all(|&b| is_slug_byte(b))
}

/// Shows the name as PHP users wrote it, with control and non-UTF-8 bytes
/// escaped, so an error message can never carry raw binary.
impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            write!(f, "{}", Printable(chunk.valid()))?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Shows text with its control characters escaped (`\n`, `\u{1b}`): how
/// text that another process chose (a name, a host name, a server's lock
/// name) reaches a terminal, where it could otherwise move the cursor or
/// end a line.
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockName(\"{self}\")")
    }
}

fn is_slug_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// FNV-1a, 64-bit. A few lines with published test vectors, chosen over a
/// dependency because the mapping must never change with a crate upgrade.
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn accepts_one_to_255_bytes_of_anything_but_nul() {
        assert!(LockName::new(b"x").is_ok());
        assert!(LockName::new(&[b'a'; 255]).is_ok());
        assert!(LockName::new(b"\xff\xfe../..\n$(rm -rf /)").is_ok());
    }

    #[test]
    fn rejects_empty_long_and_nul_names_naming_the_argument() {
        for (bad, fragment) in [
            (&b""[..], "must not be empty"),
            (&[b'a'; 256][..], "at most 255 bytes long, 256 given"),
            (&b"a\0b"[..], "null bytes"),
        ] {
            let message = LockName::new(bad).unwrap_err().to_string();
            assert!(message.contains("$name"), "{message}");
            assert!(message.contains(fragment), "{message}");
        }
    }

    #[test]
    fn plain_names_keep_their_slug() {
        assert_eq!(LockName::new(b"nightly-import_2").unwrap().slug(), "nightly-import_2");
    }

    #[test]
    fn other_names_get_a_readable_prefix_and_a_hash() {
        let slug = LockName::new(b"../../etc/passwd").unwrap().slug();
        assert_eq!(slug, format!("______etc_passwd.{:016x}", fnv1a64(b"../../etc/passwd")));
        assert!(!slug.contains('/'));
        assert!(!slug.starts_with('.'));
    }

    #[test]
    fn slugs_of_distinct_names_differ_even_when_their_readable_parts_match() {
        let a = LockName::new(b"a/b").unwrap().slug();
        let b = LockName::new(b"a_b").unwrap().slug();
        let c = LockName::new(b"a b").unwrap().slug();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("a_b."));
    }

    #[test]
    fn long_slugs_are_bounded() {
        let long = LockName::new(&[b'x'; 255]).unwrap().slug();
        assert_eq!(long.len(), SLUG_READABLE_PREFIX + 1 + 16);
    }

    #[test]
    fn slugs_are_recognised_and_nothing_else() {
        for name in [&b"nightly"[..], b"../../etc/passwd", b"a b", &[b'x'; 255], b"\x1b[2J\n"] {
            let slug = LockName::new(name).unwrap().slug();
            assert!(is_slug(slug.as_bytes()), "{slug}");
        }
        for not_ours in [
            &b""[..],
            b"a\x1b[31m",
            b"a\nb",
            b"a.0123456789abcdeg",
            b"a.0123456789ABCDEF",
            b"a.0123456789abcdef0",
            b".0123456789abcdef",
            b"a.b.0123456789abcdef",
            &[b'x'; 65],
        ] {
            assert!(!is_slug(not_ours), "{}", String::from_utf8_lossy(not_ours));
        }
        let long_readable = [&[b'x'; 41][..], b".0123456789abcdef"].concat();
        assert!(!is_slug(&long_readable));
    }

    #[test]
    fn only_plain_slugs_name_their_lock() {
        assert_eq!(LockName::from_plain_slug(b"nightly-import").unwrap().as_bytes(), b"nightly-import");
        assert!(LockName::from_plain_slug(b"a_b.0123456789abcdef").is_none(), "a hashed slug names nobody");
        assert!(LockName::from_plain_slug(b"a\x1b[31m").is_none());
        assert!(LockName::from_plain_slug(&[b'x'; 65]).is_none());
    }

    #[test]
    fn display_escapes_control_and_invalid_bytes() {
        let name = LockName::new(b"job\n\xffok").unwrap();
        assert_eq!(name.to_string(), "job\\n\\xffok");
    }
}
