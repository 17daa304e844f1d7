//! Message patterns: a tiny LogQL-`pattern`-like language, parsed with nom.
//!
//! `Request completed: <method> <path> - <status>` is literal text with named captures. A
//! capture extends to the first occurrence of the literal after it (or to the end of the text
//! when it is last); `<_>` matches without capturing. A pattern that ends with a literal must
//! match to the end of the text. Two captures in a row are rejected at compile time because
//! nothing could tell where the first one ends.

use memchr::memmem;
use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while1},
    character::complete::satisfy,
    combinator::{map, recognize},
    multi::many1,
    sequence::{delimited, pair},
};

/// Most named captures a pattern can report (more make the match fail).
pub const MAX_CAPTURES: usize = 8;

/// One piece of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

/// A compiled message pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// Finders for each literal, indexed like `tokens`.
    finders: Vec<Option<Finder>>,
}

/// Finds where a capture ends: the next occurrence of the literal after it.
// A few per pattern, compiled once: boxing the searcher would only add a pointer hop per match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Finder {
    /// One byte (`<method> <path>`): `memchr`, without a substring searcher's set-up.
    Byte(u8),
    Bytes(memmem::Finder<'static>),
}

impl Finder {
    fn new(literal: &[u8]) -> Finder {
        match literal {
            [b] => Finder::Byte(*b),
            _ => Finder::Bytes(memmem::Finder::new(literal).into_owned()),
        }
    }

    /// Offset of the first occurrence in `hay`, and the literal's length.
    fn find(&self, hay: &[u8]) -> Option<(usize, usize)> {
        match self {
            Finder::Byte(b) => memchr::memchr(*b, hay).map(|at| (at, 1)),
            Finder::Bytes(f) => f.find(hay).map(|at| (at, f.needle().len())),
        }
    }
}

/// Why a pattern did not compile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    /// Syntax error at a byte offset.
    #[error("invalid pattern {pattern:?} at byte {offset}: expected literal text or <name>")]
    Syntax {
        /// The pattern source.
        pattern: String,
        /// Where parsing stopped.
        offset: usize,
    },
    /// Two captures with no literal between them.
    #[error("invalid pattern {0:?}: two captures in a row (<a><b>) cannot be told apart")]
    AdjacentCaptures(String),
    /// No capture and no literal.
    #[error("invalid pattern: empty")]
    Empty,
}

fn capture(input: &str) -> IResult<&str, Token> {
    let name = recognize(pair(
        satisfy(|c: char| c.is_ascii_alphabetic() || c == '_'),
        nom::bytes::complete::take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ));
    map(delimited(tag("<"), name, tag(">")), |n: &str| {
        Token::Capture((n != "_").then(|| n.to_string()))
    })
    .parse(input)
}

fn literal(input: &str) -> IResult<&str, Token> {
    // A `<` that does not open a capture is literal text.
    alt((
        map(take_while1(|c: char| c != '<'), |s: &str| {
            Token::Literal(s.to_string())
        }),
        map(tag("<"), |s: &str| Token::Literal(s.to_string())),
    ))
    .parse(input)
}

impl Pattern {
    /// Compile a pattern.
    ///
    /// # Errors
    /// Syntax errors, adjacent captures, and the empty pattern.
    pub fn new(src: &str) -> Result<Pattern, PatternError> {
        if src.is_empty() {
            return Err(PatternError::Empty);
        }
        let (rest, raw) =
            many1(alt((capture, literal)))
                .parse(src)
                .map_err(|_| PatternError::Syntax {
                    pattern: src.to_string(),
                    offset: 0,
                })?;
        if !rest.is_empty() {
            return Err(PatternError::Syntax {
                pattern: src.to_string(),
                offset: src.len() - rest.len(),
            });
        }
        // Merge literal runs (a stray `<` yields separate literal tokens).
        let mut tokens: Vec<Token> = Vec::new();
        for t in raw {
            match (tokens.last_mut(), t) {
                (Some(Token::Literal(prev)), Token::Literal(next)) => prev.push_str(&next),
                (Some(Token::Capture(_)), Token::Capture(_)) => {
                    return Err(PatternError::AdjacentCaptures(src.to_string()));
                }
                (_, t) => tokens.push(t),
            }
        }
        let finders = tokens
            .iter()
            .map(|t| match t {
                Token::Literal(l) => Some(Finder::new(l.as_bytes())),
                Token::Capture(_) => None,
            })
            .collect();
        Ok(Pattern { tokens, finders })
    }

    /// The literal the text must start with, if any (a cheap pre-check for callers).
    pub fn prefix(&self) -> Option<&str> {
        match self.tokens.first() {
            Some(Token::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// Names of the captures, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match t {
            Token::Capture(Some(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Match `text`; on success return the spans of the named captures (in the order
    /// [`Pattern::names`] lists them). Named captures must be non-empty.
    pub fn captures(&self, text: &str) -> Option<Captures> {
        let mut caps = Captures::default();
        self.captures_into(text, &mut caps).then_some(caps)
    }

    /// [`Pattern::captures`] into `caps` (whose 136 bytes a returned `Option` copied several
    /// times on the way to the caller); false when `text` does not match.
    pub fn captures_into(&self, text: &str, caps: &mut Captures) -> bool {
        caps.len = 0;
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut i = 0;
        while i < self.tokens.len() {
            match &self.tokens[i] {
                Token::Literal(l) => {
                    if !crate::bytes::starts_with(&bytes[pos..], l) {
                        return false;
                    }
                    pos += l.len();
                    i += 1;
                }
                Token::Capture(name) => {
                    let (end, next_pos) = match self.finders.get(i + 1).and_then(|f| f.as_ref()) {
                        Some(f) => {
                            let Some((at, len)) = f.find(&bytes[pos..]) else {
                                return false;
                            };
                            (pos + at, pos + at + len)
                        }
                        None => (bytes.len(), bytes.len()),
                    };
                    if name.is_some() {
                        if end == pos || caps.len == MAX_CAPTURES {
                            return false;
                        }
                        caps.spans[caps.len] = (pos, end);
                        caps.len += 1;
                    }
                    pos = next_pos;
                    i += 2;
                }
            }
        }
        pos == bytes.len()
    }
}

/// Where a pattern's named captures are in the matched text (offsets on char boundaries: they
/// come from literal matches). Plain data, so a failed match costs nothing to drop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Captures {
    spans: [(usize, usize); MAX_CAPTURES],
    len: usize,
}

impl Captures {
    /// `(capture index, start, end)` of each named capture.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.spans[..self.len]
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| (i, start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, text: &str) -> Option<Vec<(String, String)>> {
        let p = Pattern::new(p).unwrap();
        let names: Vec<String> = p.names().map(str::to_string).collect();
        let mut out = Vec::new();
        let caps = p.captures(text)?;
        for (i, start, end) in caps.iter() {
            out.push((names[i].clone(), text[start..end].to_string()));
        }
        Some(out)
    }

    #[test]
    fn request_completed() {
        assert_eq!(
            caps(
                "Request completed: <method> <path> - <status>",
                "Request completed: GET /api/v1/x - 401"
            ),
            Some(vec![
                ("method".into(), "GET".into()),
                ("path".into(), "/api/v1/x".into()),
                ("status".into(), "401".into())
            ])
        );
        assert_eq!(
            caps(
                "Request completed: <method> <path> - <status>",
                "Request failed: GET /x"
            ),
            None
        );
    }

    #[test]
    fn access_line_and_trailing_literal() {
        let got = caps(
            r#"<client_ip>:<_> - "<method> <path> <_>" <status>"#,
            r#"127.0.0.1:46536 - "GET /health?x=1 HTTP/1.1" 200"#,
        )
        .unwrap();
        assert_eq!(got[0], ("client_ip".into(), "127.0.0.1".into()));
        assert_eq!(got[2], ("path".into(), "/health?x=1".into()));
        assert!(
            caps(
                "Span completed: <method> <path> [<o>]",
                "Span completed: GET /h [success]"
            )
            .is_some()
        );
        assert!(
            caps(
                "Span completed: <method> <path> [<o>]",
                "Span completed: GET /h [success] x"
            )
            .is_none()
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            Pattern::new("<a><b>").unwrap_err(),
            PatternError::AdjacentCaptures("<a><b>".into())
        );
        assert!(Pattern::new("").is_err());
        // A lone `<` is literal.
        assert!(caps("a < <x>", "a < 5").is_some());
    }
}
