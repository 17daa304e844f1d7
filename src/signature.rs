//! An error message's *signature*: the message with what varies between occurrences masked,
//! so that `Failed to get connection for agent 7f3a…: timeout after 30s` and the same failure
//! of another agent are counted as one kind of error (the report's `top_errors`).
//!
//! A word — a run of letters (any script), digits, `-`, `_` and `.` — is masked as `*` when it
//! is a number (digits without letters: counts, codes, IP addresses) or holds two digits or more
//! (ids, UUIDs, durations like `30s`); a word with one digit names something (`/api/v1`,
//! `h2`) and is kept.
//! Everything else, quoted names included (`health for 'filesystem'`), is kept: it tells kinds
//! apart. Only the first line counts, and at most [`MAX_SIGNATURE_BYTES`] bytes of it.

/// The longest signature kept, in bytes (cut at a character, then `…`).
pub const MAX_SIGNATURE_BYTES: usize = 200;

/// The signature of `message` (see the module docs).
pub fn signature(message: &str) -> String {
    let end = memchr::memchr(b'\n', message.as_bytes()).unwrap_or(message.len());
    let line = message[..end].trim();
    let b = line.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len().min(MAX_SIGNATURE_BYTES + 3));
    let mut i = 0;
    while i < b.len() && out.len() <= MAX_SIGNATURE_BYTES {
        let gap = i;
        while i < b.len() && !is_word(b[i]) {
            i += 1;
        }
        out.extend_from_slice(&b[gap..i]);
        let word = i;
        let (mut digits, mut letters) = (0, false);
        while i < b.len() && is_word(b[i]) {
            digits += usize::from(b[i].is_ascii_digit());
            letters |= b[i].is_ascii_alphabetic() || b[i] >= 0x80;
            i += 1;
        }
        if i > word {
            if varies(digits, letters) {
                out.push(b'*');
            } else {
                out.extend_from_slice(&b[word..i]);
            }
        }
    }
    if out.len() > MAX_SIGNATURE_BYTES {
        let mut cut = MAX_SIGNATURE_BYTES;
        // Back to the start of a character (continuation bytes are 0b10xxxxxx).
        while cut > 0 && out[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        out.truncate(cut);
        out.extend_from_slice("…".as_bytes());
    }
    // Whole words and ASCII gaps of valid UTF-8, cut at a character: still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// A number (a digit, no letters), or a word with two digits or more.
fn varies(digits: usize, letters: bool) -> bool {
    digits >= 2 || (digits == 1 && !letters)
}

/// Part of a word: ASCII letters and digits, `-`, `_`, `.`, and every byte of a non-ASCII
/// character (letters of other scripts stay whole).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.') || c >= 0x80
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn what_varies_is_masked_and_what_names_the_kind_is_kept() {
        assert_eq!(
            signature("Failed to get connection: Connection refused (os error 111)"),
            "Failed to get connection: Connection refused (os error *)"
        );
        assert_eq!(
            signature(
                "Error handling legacy message from 5e6ae9ae-d972-4bea-86d5-6953abf6d397: Authentication failed: Invalid token"
            ),
            "Error handling legacy message from *: Authentication failed: Invalid token"
        );
        assert_eq!(
            signature("Burst detected from 10.0.0.5, blocking for 60s"),
            "Burst detected from *, blocking for *"
        );
        assert_eq!(
            signature("Span failed: GET /api/v1/artifacts/3f2a9c1e after 5 tries"),
            "Span failed: GET /api/v1/artifacts/* after * tries"
        );
        assert_eq!(
            signature("Error checking health for 'filesystem': [Errno 13] Permission denied"),
            "Error checking health for 'filesystem': [Errno *] Permission denied"
        );
        assert_eq!(
            signature("Exception in ASGI application\n  File \"x.py\", line 3"),
            "Exception in ASGI application"
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let s = signature(&"é".repeat(500));
        assert_eq!(s, format!("{}…", "é".repeat(MAX_SIGNATURE_BYTES / 2)));
        let s = signature(&format!("x{}", "é".repeat(500)));
        assert_eq!(s.len(), MAX_SIGNATURE_BYTES - 1 + '…'.len_utf8());
    }

    proptest! {
        #[test]
        fn a_signature_is_bounded_and_its_own_signature(m in "\\PC{0,400}") {
            let s = signature(&m);
            prop_assert!(s.len() <= MAX_SIGNATURE_BYTES + '…'.len_utf8());
            // No word of a signature varies.
            let steady = s.split(|c: char| c.is_ascii() && !is_word(c as u8)).all(|w| {
                let digits = w.bytes().filter(u8::is_ascii_digit).count();
                !varies(digits, w.bytes().any(|c| c.is_ascii_alphabetic() || c >= 0x80))
            });
            prop_assert!(steady, "a word of {:?} varies", s);
            if !s.ends_with('…') {
                prop_assert_eq!(signature(&s), s.clone());
            }
        }
    }
}
