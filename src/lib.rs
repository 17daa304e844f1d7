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

/// Hash map for keys taken from the input (identifiers, routes, group-by values): foldhash,
/// seeded per process (so crafted input cannot aim at collisions), at a fraction of SipHash's
/// cost on short strings. Counters and stream keys use their own hashers.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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
pub mod jsonscan;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod reorder;
pub mod request;
pub mod route;
pub mod rules;
pub mod sketch;
pub mod source;
pub mod time;

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
