//! logsleuth: a log-analysis stream processor for SREs.
//!
//! Pipeline stages, in data-flow order (see ARCHITECTURE.md):
//! [`source`] (where bytes come from) → [`envelope`] (kubectl / CRI / docker wrappers, partial
//! lines) → [`parse`] (formats from `parsers/*.toml`, into [`event::Event`]) → [`pipeline`]
//! (threads, continuation lines, [`request`] merging, [`filter`]) → [`analyze`] → [`output`]
//! and [`export`] (Parquet evidence bundles).

// One exception, allowed where it is: the AVX2 dispatch in `jsonscan`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

/// Comparisons of short byte strings (keys, loggers, message prefixes) on the hot path, without
/// a `memcmp` call per comparison: the calls, most of them rejecting in the first bytes, cost
/// ~4 % of the analysis with every rule on (perf).
pub(crate) mod bytes {
    /// Integer fingerprint of a byte string, exact among strings of the same length up to 16
    /// bytes: the first and the last 8 bytes (overlapping when shorter). Fixed-size loads, no
    /// copy, no call.
    #[inline]
    pub(crate) fn key_words(b: &[u8]) -> (u64, u64) {
        let n = b.len();
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(
                b[at..at + 4].try_into().unwrap_or_default(),
            ))
        };
        match n {
            8.. => (word(0), word(n - 8)),
            4..=7 => (half(0) | half(n - 4) << 32, 0),
            1..=3 => (
                u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
                0,
            ),
            0 => (0, 0),
        }
    }

    /// `a == b`.
    #[inline]
    pub(crate) fn eq(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> bool {
        let (a, b) = (a.as_ref(), b.as_ref());
        let n = a.len();
        n == b.len() && key_words(a) == key_words(b) && (n <= 16 || a[8..n - 8] == b[8..n - 8])
    }

    /// `text.starts_with(prefix)`.
    #[inline]
    pub(crate) fn starts_with(text: impl AsRef<[u8]>, prefix: impl AsRef<[u8]>) -> bool {
        let (text, prefix) = (text.as_ref(), prefix.as_ref());
        text.get(..prefix.len())
            .is_some_and(|head| eq(head, prefix))
    }

    #[cfg(test)]
    mod tests {
        use proptest::prelude::*;

        proptest! {
            /// Same answers as the standard comparisons, on strings that often share long
            /// prefixes and suffixes and differ in one byte anywhere.
            #[test]
            fn eq_and_starts_with_agree_with_std(
                base in prop::collection::vec(prop::sample::select(b"ab".to_vec()), 0..40),
                flip in any::<prop::sample::Index>(),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut other = base.clone();
                if !other.is_empty() {
                    let at = flip.index(other.len());
                    other[at] ^= 1;
                }
                let prefix = &base[..cut.index(base.len() + 1)];
                for (a, b) in [(&base, &other), (&base, &base)] {
                    prop_assert_eq!(super::eq(a, b), a == b);
                    prop_assert_eq!(super::starts_with(b, prefix), b.starts_with(prefix));
                    prop_assert_eq!(super::starts_with(prefix, b), prefix.starts_with(b));
                }
            }
        }
    }
}

/// Hash map for keys taken from the input (identifiers, routes, group-by values): foldhash,
/// seeded per process (so crafted input cannot aim at collisions), at a fraction of SipHash's
/// cost on short strings. Counters and stream keys use their own hashers.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A kebab-case name (`jwt-validation-failed`): rule and format names.
pub(crate) fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `buf.push_str(&n.to_string())` without the formatting machinery or an allocation (map keys
/// built once per request).
pub(crate) fn push_decimal(buf: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend(digits[i..].iter().map(|&d| char::from(d)));
}

pub mod analyze;
pub mod app;
pub mod board;
pub mod cli;
pub mod correlate;
pub mod envelope;
pub mod event;
pub mod export;
pub mod filter;
pub mod jsonclose;
pub mod jsonscan;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod reorder;
pub mod request;
pub mod route;
pub mod rules;
pub mod signature;
pub mod sketch;
pub mod source;
pub mod spans;
pub mod streams;
pub mod time;
pub mod trace;

#[cfg(test)]
mod tests {
    #[test]
    fn push_decimal_matches_to_string() {
        for n in [0, 7, 10, 12345, usize::MAX] {
            let mut s = String::from("x");
            super::push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }
}
