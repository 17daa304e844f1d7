//! Secret redaction for evidence bundles: the patterns of `redact/secrets.toml` (compiled in)
//! replace bearer tokens, JWTs, GitHub tokens, API keys, passwords, cookies and private keys
//! with `[REDACTED:<kind>]`, and count each replacement per kind.
//!
//! Invariants: a replacement is never matched again by a later pattern; text without any
//! pattern's hint literal, as written or with its escapes decoded, is returned borrowed after
//! one ASCII lower-casing copy, one literal scan and one `memchr` pass over its backslashes (the
//! common case costs no allocation); a replacement contains no `"` or `\`, and secret groups
//! never span a `"`, nor a `\` without what it escapes, so redacted JSON text stays valid JSON;
//! redaction never fails on any input.
//!
//! JSON escapes: a key or a secret can be spelled with escapes (`"to\u006ben"`,
//! `Bearer\u0020…`, Go's `\u0026key=…`, `https:\/\/user:pass@…`). A text with such an escape
//! is looked at with its escapes decoded ([`decode_escapes`]: the same JSON, one level of JSON
//! quoted in a string too); only the neighbourhoods of decoded characters need a second scan,
//! since a hint elsewhere was in the text as written. When the decoded text holds a hint, the
//! patterns run on it, and a text that had a secret comes out in that decoded spelling; a text
//! without one is returned as written.
//!
//! Whitespace and percent escapes: `"Authorization:\tBearer …"`, `\ntoken=…` and `?t=ghp%5F…`
//! hide a secret from patterns written for plain text (`\b`, `\s`), but decoding them into the
//! output would change the text's meaning (a URL would no longer be the same URL, JSON would
//! hold raw control characters). A text that held a hint, or holds a percent escape, and has
//! such an escape is looked at once more as a [`View`] with them decoded: the patterns run
//! there, each secret found is filled in place (so later patterns skip it and places stay
//! places), and only those ranges are replaced in the text as written. Hints behind percent
//! escapes are looked for around the decoded characters only, as for JSON escapes.
//!
//! `key: value` in text: see [`field_patterns`] for how it tells a value from prose.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};
use regex::Regex;
use serde::Deserialize;

/// The built-in patterns.
pub const BUILTIN: &str = include_str!("../../redact/secrets.toml");
/// Name of the built-in pattern file (in the manifest).
pub const BUILTIN_NAME: &str = "redact/secrets.toml";

/// A pattern file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// Not valid TOML for the schema.
    #[error("{name}: {source}")]
    Toml {
        /// File name.
        name: String,
        /// Parser error (line and column).
        source: toml::de::Error,
    },
    /// A pattern that does not compile.
    #[error("{name}: kind {kind:?}: invalid pattern: {source}")]
    Pattern {
        /// File name.
        name: String,
        /// Kind of the pattern.
        kind: String,
        /// Regex error.
        source: regex::Error,
    },
    /// A pattern without hints (it would run on every text).
    #[error("{name}: kind {kind:?}: `hints` must list at least one literal")]
    NoHints {
        /// File name.
        name: String,
        /// Kind of the pattern.
        kind: String,
    },
    /// The hint automaton could not be built.
    #[error("{name}: hints: {msg}")]
    Hints {
        /// File name.
        name: String,
        /// Builder error.
        msg: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsSpec {
    #[serde(default)]
    secret: Vec<SecretSpec>,
    #[serde(default)]
    field: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    kind: String,
    hints: Vec<String>,
    pattern: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    kind: String,
    keys: Vec<String>,
    /// The keys also as the last word of a longer name (`DB_PASSWORD`, `x-auth-token`).
    #[serde(default)]
    any_prefix: bool,
    /// The keys also as the end of a longer name with nothing between (`PGPASSWORD`,
    /// `newpassword`).
    #[serde(default)]
    glued: bool,
    /// The keys also as the end of a longer all-caps name with nothing between (`DBTOKEN`,
    /// `JWTSECRET`: environment variables).
    #[serde(default)]
    glued_caps: bool,
    /// Also `key: value` in text (not for a header whose value starts with a scheme word
    /// that a later pattern names: `Authorization: Bearer …`).
    #[serde(default = "yes")]
    colon: bool,
}

fn yes() -> bool {
    true
}

struct Rule {
    kind: usize,
    regex: Regex,
    /// `key: value` in text, where prose can follow the key (`Invalid token: 3 segments
    /// expected`): a short number followed by more words is no value.
    prose: bool,
    /// The groups named `secret…`: the first that took part in a match is what is replaced
    /// (the whole match when there is none).
    secret_groups: Vec<SecretGroup>,
}

/// A group named `secret…` and how its value is written.
struct SecretGroup {
    index: usize,
    /// `secret_text…`: a value in text, maybe quoted (`key="…"`).
    text: bool,
    /// `secret_number`, `secret_object`: a JSON value that becomes a string.
    quote: bool,
}

/// What replaces a secret in the text that patterns look at beyond the text as written
/// ([`View`]): same length, so places there stay places in the text as written; a later
/// pattern skips a secret that starts with it, as it skips `[REDACTED:`.
const FILL: char = '\u{1}';

impl Rule {
    /// The part of a match to replace (in `haystack`), and whether its replacement is quoted;
    /// `None` when the match is to stay: text an earlier pattern replaced, or a quoted value
    /// that is no value.
    fn secret_of(
        &self,
        c: &regex::Captures<'_>,
        haystack: &str,
    ) -> Option<(std::ops::Range<usize>, bool)> {
        let whole = c.get(0)?;
        let (secret, group) = self
            .secret_groups
            .iter()
            .find_map(|g| c.get(g.index).map(|m| (m, Some(g))))
            .unwrap_or((whole, None));
        let value = secret.as_str().trim_start_matches(['"', '\'', '\\']);
        // Text an earlier pattern replaced is no secret.
        if value.starts_with("[REDACTED:") || value.starts_with(FILL) {
            return None;
        }
        if self.prose && is_prose_number(value, &haystack[secret.end()..]) {
            return None;
        }
        // `key="…"` in text ends where a value ends; in JSON (`"…?token=","path":…`)
        // that quote closes the JSON string, and what follows is no value.
        if group.is_some_and(|g| g.text)
            && secret.as_str().starts_with('"')
            && haystack[whole.end()..]
                .chars()
                .next()
                .is_some_and(|n| !(n.is_whitespace() || ",;&)}]".contains(n)))
        {
            return None;
        }
        Some((secret.range(), group.is_some_and(|g| g.quote)))
    }
}

/// The patterns that find a `[[field]]` key's value in text: the JSON forms, `"key": "value"`
/// (a string, a number, or an object or array without nesting) in JSON, the same inside a JSON
/// string (`\"key\": \"value\"`, a message that quotes JSON) and Python's `{'key': 'value'}`;
/// then `key=value` / `key = value` / `key="value"` / `key='value'` in logfmt, tracing's text
/// and config dumps; then `key: value` in text. A JSON value is replaced whole (a number,
/// object or array by a string), so the JSON stays valid.
///
/// `key: value` is also how prose explains a failure (`Invalid token: expired`): the value goes
/// when the key stands where a field name does (at the start of a line, or after punctuation:
/// `{token: x}`, `…, password: hunter2`, `INFO - token: x`), or when it holds a digit, as
/// generated secrets do (`Using token: tk_9f8e`); but a short number followed by more words
/// is prose wherever it stands (`Invalid token: 3 segments expected`, `password: 8 characters
/// minimum`: [`is_prose_number`], checked when a match is replaced). A scheme word before a
/// value (`token=Bearer abc`, `Api-Key`) is kept and the value after it replaced.
///
/// Key names: the keys themselves, with `any_prefix` also as the last word of a longer name
/// (`DB_PASSWORD`, `x-auth-token`, camelCase `dbPassword`, `secretKey`), with `glued` also at
/// the end of any longer name (`PGPASSWORD`), with `glued_caps` at the end of an all-caps one
/// (`DBTOKEN`); spaces or tabs may stand before the separator.
fn field_patterns(f: &FieldSpec) -> ([String; 2], Option<String>) {
    let keys = f
        .keys
        .iter()
        .map(|k| regex::escape(k))
        .collect::<Vec<_>>()
        .join("|");
    let mut names = vec![if f.any_prefix {
        // `DB_PASSWORD`, `x-auth-token`: words joined by `_` or `-` before the key.
        format!("(?:[A-Za-z0-9]+[_-])*(?:{keys})")
    } else {
        format!("(?:{keys})")
    }];
    if f.any_prefix {
        // `dbPassword`, `githubToken`, `openaiApiKey`: the key's words capitalized after a
        // lower-case letter or a digit (case-sensitive: `DBPASSWORD` is no camelCase).
        let camel = f
            .keys
            .iter()
            .map(|k| regex::escape(&camel_case(k)))
            .collect::<Vec<_>>()
            .join("|");
        // The key alone in camelCase too: `secretKey`, `accessToken`.
        let alone = f
            .keys
            .iter()
            .map(|k| {
                let c = camel_case(k);
                let mut chars = c.chars();
                let first = chars.next().map(|c| c.to_ascii_lowercase());
                regex::escape(&first.into_iter().chain(chars).collect::<String>())
            })
            .collect::<Vec<_>>()
            .join("|");
        names.push(format!(
            "(?-i:[A-Za-z0-9_-]*[a-z0-9](?:{camel})|(?:{alone}))"
        ));
    }
    if f.glued {
        // `PGPASSWORD`, `newpassword`.
        names.push(format!("[A-Za-z0-9_-]*(?:{keys})"));
    }
    if f.glued_caps {
        // `DBTOKEN`, `JWTSECRET`, `OPENAIAPIKEY` (case-sensitive: `tokenizer` is no name, and
        // `MAXTOKENS` ends in no key).
        let caps = shortest_tails(f.keys.iter().map(|k| caps_glued(k)).collect())
            .iter()
            .map(|k| regex::escape(k))
            .collect::<Vec<_>>()
            .join("|");
        names.push(format!("(?-i:[A-Z0-9_-]*[A-Z0-9](?:{caps}))"));
    }
    let keys = format!("(?:{})", names.join("|"));
    let colon = f.colon;
    let json = [
        format!(
            r#""{keys}"\s*:\s*(?:"(?P<secret>(?:[^"\\]|\\.)*)"|(?P<secret_number>-?[0-9][0-9.eE+-]*)|(?P<secret_object>\{{[^{{}}]*\}}|\[[^\[\]]*\]))"#
        ),
        format!(r#"\\"{keys}\\"\s*:\s*\\"(?P<secret_escaped>(?:[^"\\]|\\[^"])*)\\""#),
        format!(r#"'{keys}'\s*:\s*'(?P<secret_repr>[^'"\\]*)'"#),
    ];
    // A value in text: quoted, JSON-quoted inside a JSON string, or up to a space or a
    // delimiter (not starting with `=`: `token == None`).
    let value = |n: &str| {
        format!(
            r#"(?:(?i:bearer|basic|token|digest|api-?key)[ \t]+)?(?P<secret_text{n}>"(?:[^"\\]|\\.)*"|\\"(?:[^"\\]|\\[^"])*\\"|'[^'"\\]*'|[^\s"'&,;\\=][^\s"'&,;\\]*)"#
        )
    };
    let text = format!(r#"(?:^|[^A-Za-z0-9_.-]){keys}[ \t]*=[ \t]*{}"#, value(""));
    let patterns = [
        json.map(|p| format!("(?i:{p})")).join("|"),
        format!("(?i:{text})"),
    ];
    if !colon {
        return (patterns, None);
    }
    {
        // Where a field name stands: at the start of a line, or after punctuation (and
        // maybe spaces); else a value with a digit.
        let colon = [
            format!(
                r#"(?m:^|[^A-Za-z0-9_.\-\s])[ \t]*{keys}[ \t]*:[ \t]*{}"#,
                value("_colon")
            ),
            format!(r#"[_.\-][ \t]+{keys}[ \t]*:[ \t]*{}"#, value("_dash")),
            format!(
                r#"(?:^|[^A-Za-z0-9_.-]){keys}[ \t]*:[ \t]*(?:(?i:bearer|basic|token|digest|api-?key)[ \t]+)?(?P<secret_shape>[^\s"'&,;\\=]*[0-9][^\s"'&,;\\]*)"#
            ),
        ];
        (patterns, Some(format!("(?i:{})", colon.join("|"))))
    }
}

/// `tails` without those that end in another (a name that ends in `ACCESSTOKEN` ends in
/// `TOKEN`), sorted.
fn shortest_tails(mut tails: Vec<String>) -> Vec<String> {
    tails.sort();
    tails.dedup();
    let all = tails.clone();
    tails.retain(|t| !all.iter().any(|o| o != t && t.ends_with(o.as_str())));
    tails
}

/// A key upper-cased without its `_` and `-` (`access_token` → `ACCESSTOKEN`), as the end of
/// an all-caps name spells it (`glued_caps`: `SLACKACCESSTOKEN`).
fn caps_glued(key: &str) -> String {
    key.chars()
        .filter(|&c| c != '_' && c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A key's words capitalized and joined (`access_token` → `AccessToken`), as camelCase
/// writes them after a first word (`oauthAccessToken`).
fn camel_case(key: &str) -> String {
    key.split(['_', '-'])
        .flat_map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(c.map(|c| c.to_ascii_lowercase()))
        })
        .collect()
}

/// Whether a `key: value` value is prose, not a secret: a short number, maybe with an
/// upper-case unit or abbreviation (`3`, `8`, `2FA`, `5XX`), followed by more words
/// (`after`: the text after it): `Invalid token: 3 segments expected`, `password: 8
/// characters minimum`.
fn is_prose_number(value: &str, after: &str) -> bool {
    let b = value.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=3).contains(&digits)
        && b.len() - digits <= 3
        && b[digits..].iter().all(u8::is_ascii_uppercase)
        && after
            .trim_start_matches([' ', '\t'])
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && after.starts_with([' ', '\t'])
}

/// The literals that open a `[[field]]` key's rules (matched against lower-cased text): the
/// key as a JSON key (`token"`), inside a JSON string (`token\"`), in a Python dict
/// (`token'`), in a `key=value` pair (`token=`), with whitespace before the separator
/// (`token =`, `token :`, `token\t=`, aligned tables: `token   =`) and as `key: value`
/// (`token:`, with `colon`). A longer name ends in the key (`db_password`, `dbPassword`,
/// `PGPASSWORD`): its hints are the key's; a key of several words is also hinted as
/// camelCase spells it (`secretKey=`: `secretkey=`) unless it ends in another key.
fn field_hints(spec: &SecretsSpec) -> Vec<(usize, String)> {
    let keys: Vec<String> = spec
        .field
        .iter()
        .flat_map(|f| f.keys.iter().map(|k| k.to_ascii_lowercase()))
        .collect();
    let mut out = Vec::new();
    for (i, f) in spec.field.iter().enumerate() {
        for k in &f.keys {
            let k = k.to_ascii_lowercase();
            let glued: String = k.chars().filter(|&c| c != '_' && c != '-').collect();
            let mut names = vec![k.clone()];
            if f.any_prefix && glued != k && !keys.iter().any(|o| glued.ends_with(o.as_str())) {
                names.push(glued);
            }
            for n in names {
                for form in [
                    "\"", "\\\"", "'", "=", " =", "\t", "  ", " \t", "\\t", " \\t",
                ] {
                    out.push((i, format!("{n}{form}")));
                }
                if f.colon {
                    out.push((i, format!("{n}:")));
                    out.push((i, format!("{n} :")));
                }
            }
        }
    }
    out
}

/// Decode into `out` the JSON escapes of `text` that can hide a key or a secret: `\uXXXX`
/// of a printable ASCII character other than `"` and `\`, and `\/`. JSON keeps its meaning,
/// and stays valid: every other escape (`\"`, `\\`, `\n`, `\u00e9`, control characters) is
/// kept as written. One level deeper too, as in JSON quoted in a JSON string (`\\u006b`,
/// `\\/`, `\\\/`): that keeps the quoted JSON's meaning (not the outer string's) and the
/// outer JSON valid. Returns whether anything was decoded (only then is `out` filled).
fn decode_escapes(text: &[u8], out: &mut Decoded) -> bool {
    let Some(first) = memchr::memchr(b'\\', text) else {
        return false;
    };
    out.bytes.clear();
    out.at.clear();
    let mut copied = 0;
    let mut changed = false;
    let mut i = first;
    while let Some(p) = text.get(i..).and_then(|t| memchr::memchr(b'\\', t)) {
        let start = i + p;
        let end = start + text[start..].iter().take_while(|&&b| b == b'\\').count();
        let n = end - start;
        // (backslashes kept, the character, bytes after the run that it replaces)
        let decoded = match text.get(end) {
            Some(b'u') => text
                .get(end + 1..end + 5)
                .and_then(hex4)
                .filter(|c| {
                    (0x20..0x7f).contains(c) && *c != u32::from(b'"') && *c != u32::from(b'\\')
                })
                .and_then(|c| match n {
                    2 => Some((0, c as u8, 5)),
                    n if n % 2 == 1 => Some((n - 1, c as u8, 5)),
                    _ => None,
                }),
            Some(b'/') => match n {
                1..=3 => Some((0, b'/', 1)),
                n if n % 2 == 1 => Some((n - 1, b'/', 1)),
                _ => None,
            },
            _ => None,
        };
        match decoded {
            Some((keep, c, len)) => {
                out.bytes.extend_from_slice(&text[copied..start]);
                out.bytes.extend(std::iter::repeat_n(b'\\', keep));
                out.at.push(out.bytes.len());
                out.bytes.push(c);
                copied = end + len;
                i = copied;
                changed = true;
            }
            None => i = end,
        }
    }
    if !changed {
        return false;
    }
    out.bytes.extend_from_slice(&text[copied..]);
    true
}

/// A text with its escapes decoded ([`decode_escapes`]).
#[derive(Default)]
struct Decoded {
    /// The decoded text.
    bytes: Vec<u8>,
    /// Where in `bytes` a decoded character stands, ascending.
    at: Vec<usize>,
}

/// Decode into `out` the percent escapes of `text` (`%5F`, `%3D`, `%20`: URLs and query
/// strings) that stand for a printable ASCII character, also encoded again ([`percent_escape`]:
/// `%253D`), to look for hints behind them (`ghp%5F…`, `key%3D…`). Returns whether anything
/// was decoded (only then is `out` filled).
fn decode_percent(text: &[u8], out: &mut Decoded) -> bool {
    let Some(first) = memchr::memchr(b'%', text) else {
        return false;
    };
    out.bytes.clear();
    out.at.clear();
    let mut copied = 0;
    let mut i = first;
    while let Some(p) = text.get(i..).and_then(|t| memchr::memchr(b'%', t)) {
        let at = i + p;
        match percent_escape(&text[at..]) {
            Some((len, c)) => {
                out.bytes.extend_from_slice(&text[copied..at]);
                out.at.push(out.bytes.len());
                out.bytes.push(c);
                copied = at + len;
                i = copied;
            }
            None => i = at + 1,
        }
    }
    if out.at.is_empty() {
        return false;
    }
    out.bytes.extend_from_slice(&text[copied..]);
    true
}

/// The printable ASCII character the percent escape at the start of `t` stands for, and the
/// escape's length: `%3D`, also encoded again, once or more (`%253D`, `%25253D`: `%25` is `%`).
fn percent_escape(t: &[u8]) -> Option<(usize, u8)> {
    let mut c = t.get(1..3).and_then(hex2)?;
    let mut len = 3;
    while c == b'%' {
        let Some(next) = t.get(len..len + 2).and_then(hex2) else {
            break;
        };
        c = next;
        len += 2;
    }
    Some((len, c))
}

/// The printable ASCII character two hex digits stand for.
fn hex2(b: &[u8]) -> Option<u8> {
    let v = b.iter().try_fold(0u32, |v, &d| {
        let d = char::from(d).to_digit(16)?;
        Some(v * 16 + d)
    })?;
    u8::try_from(v).ok().filter(|c| (0x20..0x7f).contains(c))
}

/// A text as the patterns look at it a second time, beyond its spelling: JSON escapes
/// decoded as in [`decode_escapes`], and also `\t`, `\n`, `\r` (whitespace between a key and
/// its secret: `"Authorization:\tBearer …"`, `password=\tx`, a key after `\n`) and percent
/// escapes of printable ASCII (`?t=ghp%5F…`, `Bearer%20eyJ…`, `key%3D…`), one level each (a
/// percent escape encoded again, `%253D`, is one escape: [`percent_escape`]).
/// Only secrets found here are replaced, in the text as written ([`View::src`]), so what
/// holds no secret keeps its spelling (a URL stays the same URL).
#[derive(Default)]
struct View {
    /// The decoded text.
    text: String,
    /// Where its pieces come from: from `text` offset `.0` on, the text as written from `.1`
    /// on, byte for byte, up to the next mark (a decoded character takes one byte here, its
    /// escape more there).
    marks: Vec<(usize, usize)>,
    /// Where in `text` a character decoded from a percent escape stands, ascending (they can
    /// make a hint: `key%3D` → `key=`).
    percent: Vec<usize>,
}

impl View {
    /// Whether `t` holds anything [`View::build`] decodes (most JSON holds only `\"`).
    fn worth_building(t: &[u8]) -> bool {
        memchr::memchr2_iter(b'\\', b'%', t).any(|i| match t[i] {
            b'%' => t.get(i + 1..i + 3).and_then(hex2).is_some(),
            _ => matches!(t.get(i + 1), Some(b't' | b'n' | b'r' | b'u' | b'/' | b'\\')),
        })
    }

    /// Decode `t`; false when it holds nothing to decode.
    fn build(&mut self, t: &str) -> bool {
        let text = t.as_bytes();
        let mut bytes = std::mem::take(&mut self.text).into_bytes();
        bytes.clear();
        self.marks.clear();
        self.marks.push((0, 0));
        self.percent.clear();
        let mut copied = 0;
        let mut i = 0;
        while let Some(p) = text.get(i..).and_then(|r| memchr::memchr2(b'\\', b'%', r)) {
            let at = i + p;
            // (bytes the escape takes, the character, backslashes kept before it)
            let escape = if text[at] == b'%' {
                percent_escape(&text[at..]).map(|(len, c)| (len, c, 0))
            } else {
                let n = text[at..].iter().take_while(|&&b| b == b'\\').count();
                let end = at + n;
                let keep = match n {
                    2 => Some(0),
                    n if n % 2 == 1 => Some(n - 1),
                    _ => None,
                };
                let one = |len, c| keep.map(|k| (n + len, c, k));
                let e = match text.get(end) {
                    Some(b't') => one(1, b'\t'),
                    Some(b'n') => one(1, b'\n'),
                    Some(b'r') => one(1, b'\r'),
                    Some(b'/') if n <= 3 => Some((n + 1, b'/', 0)),
                    Some(b'/') => one(1, b'/'),
                    Some(b'u') => text
                        .get(end + 1..end + 5)
                        .and_then(hex4)
                        .filter(|c| {
                            (0x20..0x7f).contains(c)
                                && *c != u32::from(b'"')
                                && *c != u32::from(b'\\')
                        })
                        .and_then(|c| one(5, c as u8)),
                    _ => None,
                };
                if e.is_none() {
                    // A run of backslashes that escapes nothing here: as written.
                    i = end;
                    continue;
                }
                e
            };
            let Some((len, c, keep)) = escape else {
                i = at + 1;
                continue;
            };
            bytes.extend_from_slice(&text[copied..at + keep]);
            if text[at] == b'%' {
                self.percent.push(bytes.len());
            }
            self.marks.push((bytes.len(), at + keep));
            bytes.push(c);
            i = at + len;
            copied = i;
            self.marks.push((bytes.len(), copied));
        }
        if self.marks.len() == 1 {
            self.text = String::from_utf8(bytes).unwrap_or_default();
            return false;
        }
        bytes.extend_from_slice(&text[copied..]);
        // Only ASCII sequences were replaced, by ASCII characters.
        match String::from_utf8(bytes) {
            Ok(s) => {
                self.text = s;
                true
            }
            Err(_) => false,
        }
    }

    /// Where offset `x` of the decoded text starts in the text as written.
    fn src(&self, x: usize) -> usize {
        let i = self.marks.partition_point(|&(v, _)| v <= x);
        let (v, s) = self.marks[i.saturating_sub(1)];
        s + (x - v)
    }
}

/// The value of four hex digits (either case).
fn hex4(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |v, &d| {
        let d = char::from(d).to_digit(16)?;
        Some(v * 16 + d)
    })
}

/// Compiled patterns plus the running count of replacements per kind.
pub struct Redactor {
    rules: Vec<Rule>,
    /// Matched against [`Redactor::folded`] (see `compile`).
    hints: AhoCorasick,
    /// Scratch: the text being redacted, ASCII lower-cased.
    folded: Vec<u8>,
    /// The hints as a SIMD (Teddy) searcher, to rule out text without any quickly; `None`
    /// where the CPU has no SIMD support for it, or with more than 64 hint literals (the
    /// built-in file has 143; Teddy without that limit measured slower than the automaton),
    /// and the automaton is used then.
    quick: Option<aho_corasick::packed::Searcher>,
    /// Hint pattern index → the rules it opens.
    hint_rule: Vec<Vec<usize>>,
    /// Scratch: a text with its escapes decoded.
    decoded: Decoded,
    /// Scratch: a text as patterns look at it a second time.
    view: View,
    /// The longest hint (bytes).
    hint_max_len: usize,
    /// Scratch: a part of a decoded text, ASCII lower-cased.
    window: Vec<u8>,
    /// Lower-case field name → kind.
    field_keys: crate::FastMap<String, usize>,
    /// The same, for the keys that count as the last word of a longer name (`any_prefix`).
    prefixed_keys: crate::FastMap<String, usize>,
    /// The last words of those keys (`token`, `key`: after their last `_` or `-`), to pass
    /// over other names (`status_code`, `trace_id`) at once.
    prefixed_last: Vec<String>,
    /// The same keys as camelCase spells them, lower-cased (`accesstoken`, `apikey`), for a
    /// name's last words after a lower-to-upper case change (`oauthAccessToken`).
    camel_keys: crate::FastMap<String, usize>,
    /// The keys that also count at the end of a longer name with nothing between (`glued`:
    /// `PGPASSWORD`).
    glued_keys: Vec<(String, usize)>,
    /// The keys that also count at the end of a longer all-caps name with nothing between
    /// (`glued_caps`: `DBTOKEN`), lower-cased without their `_` and `-` (`accesstoken`).
    glued_caps: Vec<(String, usize)>,
    /// The last words of the `any_prefix` keys (`token`, `key`), the `glued_keys` and the
    /// `glued_caps`: what a name any of them can find ends in.
    name_tails: Vec<String>,
    /// Scratch: a field name lower-cased.
    key_folded: String,
    kinds: Vec<String>,
    counts: Vec<u64>,
    /// Rules whose hints occur in the current text (scratch).
    active: Vec<bool>,
    /// Whether the text [`Redactor::redact`] looks at held a hint, as written or with its
    /// JSON escapes decoded (scratch).
    hinted: bool,
}

fn secret_groups(regex: &Regex) -> Vec<SecretGroup> {
    regex
        .capture_names()
        .enumerate()
        .filter_map(|(index, n)| {
            let n = n.filter(|n| n.starts_with("secret"))?;
            Some(SecretGroup {
                index,
                text: n.starts_with("secret_text"),
                quote: n == "secret_number" || n == "secret_object",
            })
        })
        .collect()
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("kinds", &self.kinds)
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl Redactor {
    /// The patterns of `redact/secrets.toml`.
    ///
    /// # Errors
    /// Only if the compiled-in file is broken (a test guards it).
    pub fn builtin() -> Result<Redactor, RedactError> {
        Redactor::from_toml(BUILTIN_NAME, BUILTIN)
    }

    /// Compile a pattern file.
    ///
    /// # Errors
    /// Invalid TOML, an invalid regex, or a pattern without hints, naming the file and kind.
    pub fn from_toml(name: &str, text: &str) -> Result<Redactor, RedactError> {
        let spec: SecretsSpec = toml::from_str(text).map_err(|source| RedactError::Toml {
            name: name.to_string(),
            source,
        })?;
        let mut kinds: Vec<String> = Vec::new();
        let mut kind_id = |k: &str| match kinds.iter().position(|x| x == k) {
            Some(i) => i,
            None => {
                kinds.push(k.to_string());
                kinds.len() - 1
            }
        };
        let mut rules = Vec::new();
        let mut hint_literals = Vec::new();
        let mut hint_rule = Vec::new();
        // Secret fields first: their whole value goes, where a pattern over text (a password
        // up to a space, a bearer token inside an `authorization` value) would leave a part
        // or count one secret twice.
        let mut field_keys = crate::FastMap::default();
        let mut prefixed_keys = crate::FastMap::default();
        let mut camel_keys = crate::FastMap::default();
        let mut glued_keys = Vec::new();
        let mut glued_caps = Vec::new();
        // `key: value` in text goes after the patterns: `Invalid token: eyJ…` is a JWT.
        let mut colons = Vec::new();
        let field_hints = field_hints(&spec);
        for (i, f) in spec.field.iter().enumerate() {
            let kind = kind_id(&f.kind);
            let (patterns, colon) = field_patterns(f);
            let first_hint = hint_rule.len();
            for k in &f.keys {
                field_keys.insert(k.to_ascii_lowercase(), kind);
                if f.any_prefix {
                    prefixed_keys.insert(k.to_ascii_lowercase(), kind);
                    // `dbPassword`, `openaiApiKey`: looked up by their last words.
                    camel_keys.insert(camel_case(k).to_ascii_lowercase(), kind);
                }
                if f.glued {
                    glued_keys.push((k.to_ascii_lowercase(), kind));
                }
                if f.glued_caps {
                    let k = caps_glued(k).to_ascii_lowercase();
                    if !glued_caps.iter().any(|(o, _): &(String, usize)| o == &k) {
                        glued_caps.push((k, kind));
                    }
                }
            }
            for (_, hint) in field_hints.iter().filter(|(f, _)| *f == i) {
                hint_literals.push(hint.clone());
                // The JSON rule and the text rules of this field.
                hint_rule.push(vec![rules.len(), rules.len() + 1]);
            }
            if f.keys.is_empty() {
                continue;
            }
            if let Some(colon) = colon {
                colons.push((f, kind, colon, first_hint..hint_rule.len()));
            }
            // JSON forms first, in a rule of their own: a text form's quoted value must not
            // take the quote that opens the next JSON key (`"a":"token=","pwd":1`).
            for pattern in patterns {
                let regex = Regex::new(&pattern).map_err(|source| RedactError::Pattern {
                    name: name.to_string(),
                    kind: f.kind.clone(),
                    source,
                })?;
                rules.push(Rule {
                    kind,
                    prose: false,
                    secret_groups: secret_groups(&regex),
                    regex,
                });
            }
        }
        for s in &spec.secret {
            if s.hints.iter().all(String::is_empty) {
                return Err(RedactError::NoHints {
                    name: name.to_string(),
                    kind: s.kind.clone(),
                });
            }
            if s.hints.iter().any(|h| h.contains('\0')) {
                // `all_clean` scans an event's texts joined by NUL bytes.
                return Err(RedactError::Hints {
                    name: name.to_string(),
                    msg: format!("kind {:?}: a hint contains a NUL byte", s.kind),
                });
            }
            let regex = Regex::new(&s.pattern).map_err(|source| RedactError::Pattern {
                name: name.to_string(),
                kind: s.kind.clone(),
                source,
            })?;
            for h in s.hints.iter().filter(|h| !h.is_empty()) {
                // A literal another rule has too opens both (one automaton pattern).
                match hint_literals
                    .iter()
                    .position(|l: &String| l.eq_ignore_ascii_case(h))
                {
                    Some(i) => hint_rule[i].push(rules.len()),
                    None => {
                        hint_literals.push(h.clone());
                        hint_rule.push(vec![rules.len()]);
                    }
                }
            }
            rules.push(Rule {
                kind: kind_id(&s.kind),
                prose: false,
                secret_groups: secret_groups(&regex),
                regex,
            });
        }
        for (f, kind, pattern, hints) in colons {
            let regex = Regex::new(&pattern).map_err(|source| RedactError::Pattern {
                name: name.to_string(),
                kind: f.kind.clone(),
                source,
            })?;
            for h in &mut hint_rule[hints] {
                h.push(rules.len());
            }
            rules.push(Rule {
                kind,
                prose: true,
                secret_groups: secret_groups(&regex),
                regex,
            });
        }
        // Hints are matched case-sensitively against an ASCII-lower-cased copy of the text: a
        // case-insensitive automaton defeats aho-corasick's SIMD prefilter (every case variant
        // of every hint), while folding is a cheap linear copy and leaves a handful of
        // lower-case literals for the SIMD (Teddy) search — about 5× faster on log text.
        let hint_literals: Vec<String> = hint_literals
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let hint_max_len = hint_literals.iter().map(String::len).max().unwrap_or(0);
        let quick = aho_corasick::packed::Config::new()
            .builder()
            .extend(&hint_literals)
            .build();
        let hints = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .build(&hint_literals)
            .map_err(|e| RedactError::Hints {
                name: name.to_string(),
                msg: e.to_string(),
            })?;
        let n_kinds = kinds.len();
        let n_rules = rules.len();
        let mut prefixed_last: Vec<String> = prefixed_keys
            .keys()
            .map(|k: &String| k.rsplit(['_', '-']).next().unwrap_or(k).to_string())
            .collect();
        prefixed_last.sort();
        prefixed_last.dedup();
        Ok(Redactor {
            rules,
            hints,
            hint_rule,
            field_keys,
            // A name that ends in `accesstoken` ends in `token`: one check is enough.
            name_tails: shortest_tails(
                prefixed_last
                    .iter()
                    .cloned()
                    .chain(glued_keys.iter().map(|(k, _)| k.clone()))
                    .chain(glued_caps.iter().map(|(k, _)| k.clone()))
                    .collect(),
            ),
            prefixed_last,
            prefixed_keys,
            camel_keys,
            glued_keys,
            glued_caps,
            hint_max_len,
            window: Vec::new(),
            key_folded: String::new(),
            kinds,
            counts: vec![0; n_kinds],
            active: vec![false; n_rules],
            hinted: false,
            folded: Vec::new(),
            decoded: Decoded::default(),
            view: View::default(),
            quick,
        })
    }

    /// Whether none of `texts` holds any pattern's hint, so that none needs [`Redactor::redact`]
    /// (one scan for all the texts of an event: short texts each alone would fall below the
    /// SIMD searcher's minimum length and be scanned byte by byte).
    pub fn all_clean<'t>(&mut self, texts: impl IntoIterator<Item = &'t str>) -> bool {
        self.folded.clear();
        for t in texts {
            // No hint contains a NUL byte, so none is found across two texts (and decoding
            // leaves NUL bytes alone).
            self.folded.extend_from_slice(t.as_bytes());
            self.folded.push(0);
        }
        if self.scan_folded(false) {
            return false;
        }
        // Is a hint behind an escape?
        let mut decoded = std::mem::take(&mut self.decoded);
        let clean = (!decode_escapes(&self.folded, &mut decoded) || !self.hint_near(&decoded))
            && (!decode_percent(&self.folded, &mut decoded) || !self.hint_near(&decoded));
        self.decoded = decoded;
        clean
    }

    /// ASCII lower-case [`Redactor::folded`] and say whether it holds a hint; with `activate`,
    /// mark the rules the hints found open in [`Redactor::active`].
    fn scan_folded(&mut self, activate: bool) -> bool {
        self.folded.make_ascii_lowercase();
        let any = match &self.quick {
            Some(q) => q.find(&self.folded).is_some(),
            None => self.hints.is_match(&self.folded),
        };
        if any && activate {
            self.active.iter_mut().for_each(|a| *a = false);
            for m in self.hints.find_overlapping_iter(&self.folded) {
                for &r in self
                    .hint_rule
                    .get(m.pattern().as_usize())
                    .into_iter()
                    .flatten()
                {
                    self.active[r] = true;
                }
            }
        }
        any
    }

    /// Whether a hint in decoded text overlaps a decoded character (any other hint in it
    /// stands in the text as written too): only the bytes within a hint's length of those
    /// are scanned.
    fn hint_near(&mut self, d: &Decoded) -> bool {
        let reach = self.hint_max_len.saturating_sub(1);
        for (start, end) in neighbourhoods(&d.at, reach, d.bytes.len()) {
            self.window.clear();
            self.window.extend_from_slice(&d.bytes[start..end]);
            self.window.make_ascii_lowercase();
            if self.hints.is_match(&self.window) {
                return true;
            }
        }
        false
    }

    /// Replace every secret in `text`; borrowed when there is none. A secret hidden behind JSON
    /// escapes is found too: the text then comes out with those escapes decoded
    /// ([`decode_escapes`]). One behind a whitespace escape or a percent escape is replaced
    /// where it stands, the rest as written ([`View`]).
    pub fn redact<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        let out = self.redact_written(text);
        // The view can only add what a hint there opens: one seen already, or one behind a
        // percent escape.
        if !(self.hinted || memchr::memchr(b'%', out.as_bytes()).is_some())
            || !View::worth_building(out.as_bytes())
        {
            return out;
        }
        match self.redact_view(&out) {
            Some(s) => Cow::Owned(s),
            None => out,
        }
    }

    /// [`Redactor::redact`] as written, and with JSON escapes decoded.
    fn redact_written<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        self.folded.clear();
        self.folded.extend_from_slice(text.as_bytes());
        let hint = self.scan_folded(true);
        self.hinted = hint;
        // An escape can hide a hint (`to\u006ben`) or end a secret early for a pattern
        // (`Bearer bt\/…`): with any escape decoded, the patterns run on the decoded text.
        let mut decoded = std::mem::take(&mut self.decoded);
        let out = if decode_escapes(text.as_bytes(), &mut decoded)
            && (hint || self.hint_near(&decoded))
            && let Ok(d) = std::str::from_utf8(&decoded.bytes)
        {
            self.hinted = true;
            self.folded.clear();
            self.folded.extend_from_slice(d.as_bytes());
            self.scan_folded(true);
            Some(match self.apply(d) {
                Cow::Owned(s) => Cow::Owned(s),
                Cow::Borrowed(_) => Cow::Borrowed(text),
            })
        } else {
            None
        };
        self.decoded = decoded;
        match out {
            Some(out) => out,
            None if hint => self.apply(text),
            None => Cow::Borrowed(text),
        }
    }

    /// The secrets of `text` that only its [`View`] shows, replaced in `text`; `None` when
    /// there is none.
    fn redact_view(&mut self, text: &str) -> Option<String> {
        let mut view = std::mem::take(&mut self.view);
        let mut out = None;
        if view.build(text) {
            // The rules the text's hints opened (decoding whitespace and JSON escapes makes
            // none that the text as written, or with JSON escapes decoded, did not show), and
            // those of hints behind percent escapes.
            if !self.hinted {
                self.active.iter_mut().for_each(|a| *a = false);
            }
            let behind_percent = self.activate_near(view.text.as_bytes(), &view.percent);
            if self.hinted || behind_percent {
                out = self.replace_seen(text, &mut view);
            }
        }
        self.view = view;
        out
    }

    /// Mark open the rules of the hints in `text` that overlap one of the places `at`; say
    /// whether there was any.
    fn activate_near(&mut self, text: &[u8], at: &[usize]) -> bool {
        let reach = self.hint_max_len.saturating_sub(1);
        let mut any = false;
        for (start, end) in neighbourhoods(at, reach, text.len()) {
            self.window.clear();
            self.window.extend_from_slice(&text[start..end]);
            self.window.make_ascii_lowercase();
            for m in self.hints.find_overlapping_iter(&self.window) {
                any = true;
                for &r in self
                    .hint_rule
                    .get(m.pattern().as_usize())
                    .into_iter()
                    .flatten()
                {
                    self.active[r] = true;
                }
            }
        }
        any
    }

    /// Run the rules [`Redactor::active`] marks over `view`, and replace in `text` (what it
    /// was decoded from) the secrets they find.
    fn replace_seen(&mut self, text: &str, view: &mut View) -> Option<String> {
        // (start, end in `view.text`, kind, quoted)
        let mut spans: Vec<(usize, usize, usize, bool)> = Vec::new();
        let mut found = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !self.active[i] {
                continue;
            }
            found.clear();
            found.extend(
                rule.regex
                    .captures_iter(&view.text)
                    .filter_map(|c| rule.secret_of(&c, &view.text)),
            );
            for (r, quote) in found.drain(..) {
                // Filled, so that a later pattern does not take it again.
                let fill: String = std::iter::repeat_n(FILL, r.len()).collect();
                view.text.replace_range(r.clone(), &fill);
                spans.push((r.start, r.end, rule.kind, quote));
                self.counts[rule.kind] += 1;
            }
        }
        if spans.is_empty() {
            return None;
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end, kind, quote) in spans {
            let (start, end) = (view.src(start), view.src(end));
            if start < copied {
                // Within a secret already replaced (a later pattern's larger match).
                copied = copied.max(end);
                continue;
            }
            out.push_str(&text[copied..start]);
            let q = if quote { "\"" } else { "" };
            let _ = write!(out, "{q}[REDACTED:{}]{q}", self.kinds[kind]);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }

    /// Run the rules [`Redactor::active`] marks over `text`.
    fn apply<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        let mut out: Cow<'t, str> = Cow::Borrowed(text);
        for (i, rule) in self.rules.iter().enumerate() {
            if !self.active[i] {
                continue;
            }
            let kind = &self.kinds[rule.kind];
            let mut replaced = 0u64;
            let haystack: &str = &out;
            let next = rule.regex.replace_all(haystack, |c: &regex::Captures<'_>| {
                let Some(whole) = c.get(0) else {
                    return String::new();
                };
                let Some((secret, quote)) = rule.secret_of(c, haystack) else {
                    return whole.as_str().to_string();
                };
                replaced += 1;
                // A JSON number, object or array becomes a string: the JSON stays valid.
                let q = if quote { "\"" } else { "" };
                format!(
                    "{}{q}[REDACTED:{kind}]{q}{}",
                    &haystack[whole.start()..secret.start],
                    &haystack[secret.end..whole.end()]
                )
            });
            if let Cow::Owned(s) = next {
                out = Cow::Owned(s);
            }
            self.counts[rule.kind] += replaced;
        }
        out
    }

    /// A whole text replaced as a secret of `kind` (a line of a private key's body written as
    /// an event of its own: [`PemLine`]), counted; `None` for a kind the patterns do not have.
    pub fn replace_whole(&mut self, kind: &str) -> Option<String> {
        let i = self.kinds.iter().position(|k| k == kind)?;
        self.counts[i] += 1;
        Some(format!("[REDACTED:{kind}]"))
    }

    /// If a field of this name holds a secret as a whole, count it and return its replacement.
    pub fn redact_field(&mut self, key: &str) -> Option<String> {
        let kind = self.field_kind(key)?;
        self.counts[kind] += 1;
        Some(format!("[REDACTED:{}]", self.kinds[kind]))
    }

    /// The kind of secret a field of this name holds as a whole.
    fn field_kind(&mut self, name: &str) -> Option<usize> {
        let key = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.key_folded.clear();
            self.key_folded.push_str(name);
            self.key_folded.make_ascii_lowercase();
            self.key_folded.as_str()
        } else {
            name
        };
        let kind = match self.field_keys.get(key) {
            Some(&kind) => kind,
            // `db_password`, `x-auth-token`: words joined by `_` or `-`, ending in a key.
            None if key
                .as_bytes()
                .iter()
                .rposition(|&b| b == b'_' || b == b'-')
                .is_some_and(|i| {
                    let last = &key.as_bytes()[i + 1..];
                    self.prefixed_last.iter().any(|l| l.as_bytes() == last)
                })
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                key.match_indices(['_', '-'])
                    .filter(|&(i, _)| i > 0)
                    .find_map(|(i, _)| self.prefixed_keys.get(&key[i + 1..]).copied())?
            }
            None => {
                // Most names end in no key's last word: passed over at once.
                if !self.name_tails.iter().any(|t| key.ends_with(t.as_str()))
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return None;
                }
                // `PGPASSWORD`, `newpassword`.
                if let Some(&(_, kind)) = self
                    .glued_keys
                    .iter()
                    .find(|(k, _)| key.len() > k.len() && key.ends_with(k.as_str()))
                {
                    return Some(kind);
                }
                // `DBTOKEN`, `JWTSECRET`: all caps, the key after a letter or a digit.
                if !name.bytes().any(|b| b.is_ascii_lowercase())
                    && let Some(&(_, kind)) = self.glued_caps.iter().find(|(k, _)| {
                        key.len() > k.len()
                            && key.ends_with(k.as_str())
                            && key.as_bytes()[key.len() - k.len() - 1].is_ascii_alphanumeric()
                    })
                {
                    return Some(kind);
                }
                // `secretKey`, `dbPassword`, `githubToken`, `openaiApiKey`: the whole name, or
                // the words after a lower-case letter or a digit followed by an upper-case one
                // (the name as written; lower-casing keeps every byte where it is).
                let n = name.as_bytes();
                return (0..n.len())
                    .filter(|&i| {
                        i == 0
                            || n[i].is_ascii_uppercase()
                                && (n[i - 1].is_ascii_lowercase() || n[i - 1].is_ascii_digit())
                    })
                    .find_map(|i| self.camel_keys.get(&key[i..]).copied());
            }
        };
        Some(kind)
    }

    /// Replacements so far, per kind (every kind listed, zero included).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.kinds
            .iter()
            .cloned()
            .zip(self.counts.iter().copied())
            .collect()
    }
}

/// What a line is to a private key block its stream left open: a logger that prints a
/// multi-line message as it is (Python's `logging` in a text format) writes a key's body as
/// lines of their own, each an event, where no pattern sees the BEGIN line with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemLine {
    /// Base64 (or a `Proc-Type:`/`DEK-Info:` header, or blank): the key's body.
    Body,
    /// The END line: the block is closed (the line itself is no secret).
    End,
    /// Anything else: the block was not a key's body after all; the line is read as usual.
    Other,
}

impl PemLine {
    /// Classify `line` (trimmed) inside an open block.
    pub fn of(line: &str) -> PemLine {
        let t = line.trim();
        if t.starts_with("-----END ") && is_private_key_marker(&t["-----END ".len()..]) {
            return PemLine::End;
        }
        let base64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=');
        let header = t.starts_with("Proc-Type:") || t.starts_with("DEK-Info:");
        if header || (t.len() <= 128 && t.bytes().all(base64)) {
            PemLine::Body
        } else {
            PemLine::Other
        }
    }
}

/// `RSA PRIVATE KEY-----…`: what follows `-----BEGIN ` or `-----END ` in a private key's
/// marker (any words, then `PRIVATE KEY` or `PRIVATE KEY BLOCK`, then five dashes).
fn is_private_key_marker(after: &str) -> bool {
    let Some(end) = after.find("-----") else {
        return false;
    };
    let label = &after[..end];
    (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK"))
        && label
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ')
}

/// Does `text` open a private key block that it does not close (its body goes on in the
/// stream's next lines)?
pub fn opens_private_key(text: &str) -> bool {
    let Some(at) = text.rfind("-----BEGIN ") else {
        return false;
    };
    let after = &text[at + "-----BEGIN ".len()..];
    is_private_key_marker(after) && !after.contains("-----END ")
}

/// The byte ranges within `reach` of the places `at` (ascending), ranges that overlap merged
/// into one (scanned once), each cut at `len`.
fn neighbourhoods(at: &[usize], reach: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut at = at.iter().peekable();
    std::iter::from_fn(move || {
        let &p = at.next()?;
        let start = p.saturating_sub(reach);
        let mut end = p + reach + 1;
        while let Some(&&q) = at.peek() {
            if q.saturating_sub(reach) >= end {
                break;
            }
            end = q + reach + 1;
            at.next();
        }
        Some((start, end.min(len)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(text: &str) -> String {
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        r.redact(text).into_owned()
    }

    #[test]
    fn builtin_compiles() {
        let r = Redactor::builtin().expect("builtin patterns compile");
        assert!(r.counts().contains_key("jwt"));
    }

    #[test]
    fn each_kind_is_replaced() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(red(&format!("token {jwt} ok")), "token [REDACTED:jwt] ok");
        assert_eq!(
            red("Authorization: Bearer abcdefghijklmnop0123456789"),
            "Authorization: Bearer [REDACTED:bearer]"
        );
        assert_eq!(
            red("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [REDACTED:authorization]"
        );
        assert_eq!(
            red("using ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 now"),
            "using [REDACTED:github_token] now"
        );
        assert_eq!(
            red("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
            "[REDACTED:github_token]"
        );
        assert_eq!(
            red("X-API-Key: sk-live-123"),
            "X-API-Key: [REDACTED:api_key]"
        );
        assert_eq!(
            red("GET /v1/maps?key=AIzaSy123&q=x HTTP/1.1"),
            "GET /v1/maps?key=[REDACTED:api_key]&q=x HTTP/1.1"
        );
        assert_eq!(
            red(r#"{"api_key": "abc123", "n": 1}"#),
            r#"{"api_key": "[REDACTED:api_key]", "n": 1}"#
        );
        assert_eq!(
            red("connecting to postgres://app:s3cr3t@db:5432/main"),
            "connecting to postgres://app:[REDACTED:url_password]@db:5432/main"
        );
    }

    #[test]
    fn secret_fields_are_replaced_in_text_too() {
        // The `[[field]]` keys, as JSON keys and as `key=value` pairs (the raw line).
        assert_eq!(
            red(
                r#"{"fields":{"message":"oauth","client_secret":"c\"s","Token":"t1","pwd":1234,"n":1}}"#
            ),
            r#"{"fields":{"message":"oauth","client_secret":"[REDACTED:authorization]","Token":"[REDACTED:authorization]","pwd":"[REDACTED:password]","n":1}}"#
        );
        assert_eq!(
            red(
                r#"WARN a::b: oauth exchange client_secret=cs5 secret="s 7" token=t8 refresh_token=r9"#
            ),
            "WARN a::b: oauth exchange client_secret=[REDACTED:authorization] secret=[REDACTED:authorization] token=[REDACTED:authorization] refresh_token=[REDACTED:authorization]"
        );
        let json = red(r#"{"a":{"password": 12.5e3, "token" : "x\\y"}}"#);
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "{json}"
        );
        // Whole values: spaces and apostrophes in a password, objects and arrays, JSON quoted in a
        // message, single-quoted text, Python dicts.
        for (text, want) in [
            (
                r#"{"password":"correct horse battery staple","p2":{"password":"it's-x"}}"#,
                r#"{"password":"[REDACTED:password]","p2":{"password":"[REDACTED:password]"}}"#,
            ),
            (
                r#"{"client_secret":{"value":"s3"},"token":["s5","s6"]}"#,
                r#"{"client_secret":"[REDACTED:authorization]","token":"[REDACTED:authorization]"}"#,
            ),
            (
                r#"{"message":"body {\"token\": \"s6\", \"pwd\": \"s6b\"} token=\"s7 x\""}"#,
                r#"{"message":"body {\"token\": \"[REDACTED:authorization]\", \"pwd\": \"[REDACTED:password]\"} token=[REDACTED:authorization]"}"#,
            ),
            (
                "pwd='s7 b' headers={'authorization': 'Basic abc', 'token': 's8'}",
                "pwd=[REDACTED:password] headers={'authorization': '[REDACTED:authorization]', 'token': '[REDACTED:authorization]'}",
            ),
        ] {
            assert_eq!(red(text), want);
        }
        // A JSON string that ends in `token=` is not a quoted value: the JSON stays whole.
        let text = r#"{"message":"GET /cb?token=","path":"/cb?token=","status":401}"#;
        assert_eq!(red(text), text);
        // One secret, counted once: the field's whole value, not also the bearer token in it.
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        let out = r.redact(r#"{"authorization":"Bearer abcdefghijklmnopqrstuvwxyz"}"#);
        assert_eq!(out, r#"{"authorization":"[REDACTED:authorization]"}"#);
        let counts = r.counts();
        assert_eq!((counts["authorization"], counts["bearer"]), (1, 0));
        // Only the keys themselves: `tokens=`, `my.token=` and prose stay.
        for text in [
            "tokens=3 my.token=x",
            "Invalid token: expired",
            r#"{"token_type":"bearer"}"#,
        ] {
            assert_eq!(red(text), text);
        }
    }

    #[test]
    fn secrets_behind_json_escapes_are_replaced() {
        for (text, want) in [
            // Escaped keys: one letter, upper-case hex, every letter, nested.
            (
                r#"{"msg":"login","to\u006ben":"s1"}"#,
                r#"{"msg":"login","token":"[REDACTED:authorization]"}"#,
            ),
            (
                r#"{"TO\u004BEN":"s2"}"#,
                r#"{"TOKEN":"[REDACTED:authorization]"}"#,
            ),
            (
                r#"{"\u0070\u0061\u0073\u0073\u0077\u006F\u0072\u0064":"s3"}"#,
                r#"{"password":"[REDACTED:password]"}"#,
            ),
            (
                r#"{"h":{"X-Api-\u004bey":"s4"}}"#,
                r#"{"h":{"X-Api-Key":"[REDACTED:api_key]"}}"#,
            ),
            // Escapes in the secret or next to it.
            (
                r#"{"msg":"with Bearer\u0020abcdefghijklmnopq"}"#,
                r#"{"msg":"with Bearer [REDACTED:bearer]"}"#,
            ),
            (
                r#"{"gh":"ghp_ABCD\u0045FGHIJKLMNOPQRSTUVWXYZ0123"}"#,
                r#"{"gh":"[REDACTED:github_token]"}"#,
            ),
            (
                r#"{"msg":"db https:\/\/user:s7@host\/x"}"#,
                r#"{"msg":"db https://user:[REDACTED:url_password]@host/x"}"#,
            ),
            (
                r#"{"msg":"Authorization: Bearer ab\/cdefghijklmnopqrstu"}"#,
                r#"{"msg":"Authorization: Bearer [REDACTED:bearer]"}"#,
            ),
            (
                r#"{"msg":"\u0062earer abcdefghijklmnopq"}"#,
                r#"{"msg":"bearer [REDACTED:bearer]"}"#,
            ),
            // Go's `\u0026`, Gson's `\u003d`.
            (
                r#"{"path":"/cb?a=1\u0026access_token=s9\u0026b=2"}"#,
                r#"{"path":"/cb?a=1&access_token=[REDACTED:authorization]&b=2"}"#,
            ),
            (
                r#"{"msg":"GET /x?key\u003ds10"}"#,
                r#"{"msg":"GET /x?key=[REDACTED:api_key]"}"#,
            ),
            // JSON quoted in a JSON string, its escapes one level deeper.
            (
                r#"{"msg":"body {\"to\\u006ben\": \"s11\"}"}"#,
                r#"{"msg":"body {\"token\": \"[REDACTED:authorization]\"}"}"#,
            ),
            (
                r#"{"msg":"cfg {\"dsn\":\"redis:\\\/\\\/u:s12@h\"}"}"#,
                r#"{"msg":"cfg {\"dsn\":\"redis://u:[REDACTED:url_password]@h\"}"}"#,
            ),
            // The message column: text, decoded once by the parser.
            (
                r#"Invalid token: {"to\u006ben": "s13"}"#,
                r#"Invalid token: {"token": "[REDACTED:authorization]"}"#,
            ),
            // An escape at the start, in the middle and at the end of a long key.
            (
                r#"{"\u0068ttp_authorization":"s14","http_authori\u005Aation":"s15","http_authorizatio\u006e":"s16"}"#,
                r#"{"http_authorization":"[REDACTED:authorization]","http_authoriZation":"[REDACTED:authorization]","http_authorization":"[REDACTED:authorization]"}"#,
            ),
        ] {
            assert_eq!(red(text), want, "{text}");
            // The one scan per event sees them too, each alone and among other texts.
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(!r.all_clean([text]), "{text}");
            assert!(!r.all_clean(["caf\\u00e9", text, "ok"]), "{text}");
            if text.starts_with('{') {
                assert!(
                    serde_json::from_str::<serde_json::Value>(want).is_ok(),
                    "{want}"
                );
            }
        }
    }

    #[test]
    fn escapes_without_a_secret_stay_as_written() {
        // Nothing to replace: the text as written, escapes and all (not a decoded copy).
        // (`key=` and `://` are hints: those texts are looked at closer, and come out as
        // written.)
        for (text, clean) in [
            (
                r#"{"msg":"caf\u00e9 \u0041\/b","path":"\/api\/v1?x=1\u0026y=2"}"#,
                true,
            ),
            (r#"{"msg":"\u0074okens=3 \u0041ll \u00e9t\u00e9"}"#, true),
            (r#"{"msg":"\u0074okens=3 primary_\u006bey=5"}"#, false),
            (
                r#"{"msg":"see https:\/\/example.com\/x","q":"\u0022\\u0041"}"#,
                false,
            ),
        ] {
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text}");
            assert_eq!(r.all_clean([text]), clean, "{text}");
        }
        // Escapes that would change what JSON says, or make it invalid, are kept.
        let mut out = Decoded::default();
        for text in [
            r"\u0022",
            r"\u005C",
            r"\u0009",
            r"\u007f",
            r"\u00e9",
            r"\ud83d\ude00",
            r"\\\\u0041",
            r"\\\\/",
            r"\\",
            r"\n",
            r"\u00zz",
            r"\u004",
            r"\",
        ] {
            assert!(!decode_escapes(text.as_bytes(), &mut out), "{text}");
        }
        for (text, want) in [
            (r"\u0041", "A"),
            (r"\\\u0041", r"\\A"),
            (r"\\u0041", "A"),
            (r"a\/b\\/c\\\/d\\\\\/e", r"a/b/c/d\\\\/e"),
            (r#""\u006B\u006b\u002f\u007e\u0020""#, r#""kk/~ ""#),
        ] {
            assert!(decode_escapes(text.as_bytes(), &mut out), "{text}");
            assert_eq!(String::from_utf8_lossy(&out.bytes), want, "{text}");
        }
    }

    #[test]
    fn header_names_as_cgi_and_nginx_spell_them() {
        for (text, want) in [
            (
                r#"{"HTTP_AUTHORIZATION":"Basic s1","HTTP_X_API_KEY":"s2","x_api_key":"s3"}"#,
                r#"{"HTTP_AUTHORIZATION":"[REDACTED:authorization]","HTTP_X_API_KEY":"[REDACTED:api_key]","x_api_key":"[REDACTED:api_key]"}"#,
            ),
            (
                "upstream x_api_key=s4 X-Api-Key=s5 Token=s6 PASSWORD=s7",
                "upstream x_api_key=[REDACTED:api_key] X-Api-Key=[REDACTED:api_key] Token=[REDACTED:authorization] PASSWORD=[REDACTED:password]",
            ),
        ] {
            assert_eq!(red(text), want);
        }
    }

    #[test]
    fn whitespace_between_a_key_and_its_secret() {
        for (text, want) in [
            // JSON's `\t` and `\n` escapes: in the raw line, as written.
            (
                r#"{"msg":"Authorization:\tBearer abcdefghijklmnopqrstu"}"#,
                r#"{"msg":"Authorization:\tBearer [REDACTED:bearer]"}"#,
            ),
            (
                r#"{"msg":"Authorization:\tBasic c2hvcnQ"}"#,
                r#"{"msg":"Authorization:\tBasic [REDACTED:authorization]"}"#,
            ),
            (
                r#"{"msg":"login password=\tpw1"}"#,
                r#"{"msg":"login password=\t[REDACTED:password]"}"#,
            ),
            (
                r#"{"msg":"retry\ntoken=tk2\r\napi_key=ak3"}"#,
                r#"{"msg":"retry\ntoken=[REDACTED:authorization]\r\napi_key=[REDACTED:api_key]"}"#,
            ),
            (
                r#"{"msg":"config:\n  password: pw4\n  user: bob"}"#,
                r#"{"msg":"config:\n  password: [REDACTED:password]\n  user: bob"}"#,
            ),
            // JSON quoted in a JSON string: `\\t`.
            (
                r#"{"msg":"body {\"h\":\"Authorization:\\tBearer abcdefghijklmnopqrstu\"}"}"#,
                r#"{"msg":"body {\"h\":\"Authorization:\\tBearer [REDACTED:bearer]\"}"}"#,
            ),
            // A literal tab (the message column, text lines).
            (
                "login password=\tpw5",
                "login password=\t[REDACTED:password]",
            ),
            (
                "Authorization:\tBearer abcdefghijklmnopqrstu",
                "Authorization:\tBearer [REDACTED:bearer]",
            ),
            ("token:\ttk6", "token:\t[REDACTED:authorization]"),
        ] {
            assert_eq!(red(text), want, "{text}");
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(!r.all_clean([text]), "{text}");
            if text.starts_with('{') {
                assert!(
                    serde_json::from_str::<serde_json::Value>(want).is_ok(),
                    "{want}"
                );
            }
        }
        // Escapes elsewhere stay escapes; a text without a secret stays as written.
        let text = r#"{"msg":"line1\nline2 token_count: 5\tok"}"#;
        assert_eq!(red(text), text);
    }

    #[test]
    fn percent_encoded_secrets() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N";
        for (text, want) in [
            (
                "GET /cb?token=ghp%5FABCDEFGHIJKLMNOPQRSTUVWXYZ012345 200".to_string(),
                "GET /cb?token=[REDACTED:authorization] 200".to_string(),
            ),
            (
                "GET /cb?gh=ghp%5FABCDEFGHIJKLMNOPQRSTUVWXYZ012345&x=%2Fa 200".to_string(),
                "GET /cb?gh=[REDACTED:github_token]&x=%2Fa 200".to_string(),
            ),
            (
                format!("GET /cb?auth=Bearer%20{jwt}&next=%2Fhome%3Fa%3D1 200"),
                "GET /cb?auth=Bearer%20[REDACTED:jwt]&next=%2Fhome%3Fa%3D1 200".to_string(),
            ),
            (
                "GET /cb?h=Bearer%20abcdefghijklmnopqrstuv 200".to_string(),
                "GET /cb?h=Bearer%20[REDACTED:bearer] 200".to_string(),
            ),
            (
                "GET /cb?q=1&key%3Dabcdef1234 200".to_string(),
                "GET /cb?q=1&key%3D[REDACTED:api_key] 200".to_string(),
            ),
            (
                "GET /cb?q=1%26access%5Ftoken%3Dat7%26b=2".to_string(),
                "GET /cb?q=1%26access%5Ftoken%3D[REDACTED:authorization]%26b=2".to_string(),
            ),
            // A password with a percent-encoded `@`, and one with a raw `@`.
            (
                "connect https://u:p%40ssWord9@host/x".to_string(),
                "connect https://u:[REDACTED:url_password]@host/x".to_string(),
            ),
            (
                "connect postgres://u:p@ssWord9@db:5432/x".to_string(),
                "connect postgres://u:[REDACTED:url_password]@db:5432/x".to_string(),
            ),
            // A whole URL percent-encoded in a query parameter.
            (
                "GET /login?next=https%3A%2F%2Fu%3Ap%40ss9%40host%2Fx".to_string(),
                "GET /login?next=https%3A%2F%2Fu%3A[REDACTED:url_password]%40host%2Fx".to_string(),
            ),
        ] {
            assert_eq!(red(&text), want, "{text}");
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(!r.all_clean([text.as_str()]), "{text}");
        }
        // URLs without a secret keep their spelling, and are clean.
        for text in [
            "GET /search?q=caf%C3%A9&next=%2Fa%3Fb%3D1 200",
            "100% done, 50%5",
        ] {
            assert_eq!(red(text), text);
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(r.all_clean([text]), "{text}");
        }
    }

    #[test]
    fn plain_text_key_value_secrets() {
        for (text, want) in [
            ("token: x", "token: [REDACTED:authorization]"),
            ("password: hunter2", "password: [REDACTED:password]"),
            (
                "Password: correct horse",
                "Password: [REDACTED:password] horse",
            ),
            ("api_key=abc", "api_key=[REDACTED:api_key]"),
            ("secret=s3", "secret=[REDACTED:authorization]"),
            (
                "client_secret: cs_1",
                "client_secret: [REDACTED:authorization]",
            ),
            (
                "client_secret: abc",
                "client_secret: [REDACTED:authorization]",
            ),
            ("password = hunter2", "password = [REDACTED:password]"),
            (
                "2026-11-22 07:00:00,432 - app - INFO - token: abc",
                "2026-11-22 07:00:00,432 - app - INFO - token: [REDACTED:authorization]",
            ),
            (
                "settings {token: abc, password: 'p w'}",
                "settings {token: [REDACTED:authorization], password: [REDACTED:password]}",
            ),
            // In prose, a value with a digit.
            (
                "Using token: tk_9f8e",
                "Using token: [REDACTED:authorization]",
            ),
            (
                "login as bob with password: hunter2",
                "login as bob with password: [REDACTED:password]",
            ),
            // Longer names that end in a key.
            (
                "DB_PASSWORD=pw1 GITHUB_TOKEN=gt2 x-auth-token: at3 SKREAVER_JWT_SECRET=js4",
                "DB_PASSWORD=[REDACTED:password] GITHUB_TOKEN=[REDACTED:authorization] x-auth-token: [REDACTED:authorization] SKREAVER_JWT_SECRET=[REDACTED:authorization]",
            ),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI OPENAI_API_KEY: sk-1",
                "AWS_SECRET_ACCESS_KEY=[REDACTED:api_key] OPENAI_API_KEY: [REDACTED:api_key]",
            ),
            (
                r#"{"db_password":"pw5","redis-password":6379,"webhook_secret":"ws7"}"#,
                r#"{"db_password":"[REDACTED:password]","redis-password":"[REDACTED:password]","webhook_secret":"[REDACTED:authorization]"}"#,
            ),
            // A scheme word stays; the credential after it goes.
            (
                "authorization=Bearer abc token=Bearer def",
                "authorization=Bearer [REDACTED:authorization] token=Bearer [REDACTED:authorization]",
            ),
        ] {
            assert_eq!(red(text), want, "{text}");
        }
        // The header keeps its own patterns' kinds.
        assert_eq!(
            red("Authorization: Bearer abcdefghijklmnop0123456789"),
            "Authorization: Bearer [REDACTED:bearer]"
        );
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        assert_eq!(
            r.redact_field("DB_Password").as_deref(),
            Some("[REDACTED:password]")
        );
        assert_eq!(
            r.redact_field("x-auth-token").as_deref(),
            Some("[REDACTED:authorization]")
        );
        for key in [
            "token_count",
            "tokens",
            "password_reset",
            "my.token",
            "_token",
            "primary_key",
        ] {
            assert_eq!(r.redact_field(key), None, "{key}");
        }
    }

    #[test]
    fn camel_case_and_glued_key_names() {
        for (text, want) in [
            (
                "config dbPassword=S3C01 githubToken=S3C02",
                "config dbPassword=[REDACTED:password] githubToken=[REDACTED:authorization]",
            ),
            (
                "config clientSecret: S3C03",
                "config clientSecret: [REDACTED:authorization]",
            ),
            (
                "accessToken=S3C04 refreshToken=r5 apiKey=k6 openaiApiKey=k7 secretKey=k8 userPwd=p9",
                "accessToken=[REDACTED:authorization] refreshToken=[REDACTED:authorization] apiKey=[REDACTED:api_key] openaiApiKey=[REDACTED:api_key] secretKey=[REDACTED:api_key] userPwd=[REDACTED:password]",
            ),
            (
                "PGPASSWORD=S3C05 psql -h db",
                "PGPASSWORD=[REDACTED:password] psql -h db",
            ),
            (
                "newpassword=n1 oauth2Token: t2",
                "newpassword=[REDACTED:password] oauth2Token: [REDACTED:authorization]",
            ),
            (
                r#"{"message":"login","dbPassword":"S3C09","githubToken":"S3C10","PGPASSWORD":11}"#,
                r#"{"message":"login","dbPassword":"[REDACTED:password]","githubToken":"[REDACTED:authorization]","PGPASSWORD":"[REDACTED:password]"}"#,
            ),
            (
                r#"{"msg":"body {\"clientSecret\": \"c1\"}"}"#,
                r#"{"msg":"body {\"clientSecret\": \"[REDACTED:authorization]\"}"}"#,
            ),
        ] {
            assert_eq!(red(text), want, "{text}");
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(!r.all_clean([text]), "{text}");
        }
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        for (key, want) in [
            ("dbPassword", Some("[REDACTED:password]")),
            ("githubToken", Some("[REDACTED:authorization]")),
            ("clientSecret", Some("[REDACTED:authorization]")),
            ("oauthAccessToken", Some("[REDACTED:authorization]")),
            ("openaiApiKey", Some("[REDACTED:api_key]")),
            ("secretKey", Some("[REDACTED:api_key]")),
            ("accessToken", Some("[REDACTED:authorization]")),
            ("PGPASSWORD", Some("[REDACTED:password]")),
            ("db_adminPassword", Some("[REDACTED:password]")),
            ("tokenCount", None),
            ("maxTokens", None),
            ("passwordReset", None),
            ("OLDPWD", None),
            ("DBTOKEN", Some("[REDACTED:authorization]")),
            ("my.dbToken", None),
        ] {
            assert_eq!(r.redact_field(key).as_deref(), want, "{key}");
        }
        // Names that only start with, or hold, a key stay; `.` joins no key (`my.token=`).
        for text in [
            "tokenCount=5 maxTokens=512 passwordReset=true my.dbToken=x",
            "OLDPWD=/home/bob DBTOKEN_count: 5",
            r#"{"tokenCount":5,"hasPassword":false}"#,
        ] {
            assert_eq!(red(text), text);
        }
    }

    #[test]
    fn whitespace_before_the_separator() {
        for (text, want) in [
            (
                "DB_PASSWORD\t=\tS3C06",
                "DB_PASSWORD\t=\t[REDACTED:password]",
            ),
            ("password\t= S3C07", "password\t= [REDACTED:password]"),
            ("password\t=S3CT02", "password\t=[REDACTED:password]"),
            (
                "2026-11-22 07:00:01,000 - app - ERROR - token : S3C08",
                "2026-11-22 07:00:01,000 - app - ERROR - token : [REDACTED:authorization]",
            ),
            (
                "DB_PASSWORD     = pw1\nAPI_KEY \t= k2",
                "DB_PASSWORD     = [REDACTED:password]\nAPI_KEY \t= [REDACTED:api_key]",
            ),
            ("token\t: tk3", "token\t: [REDACTED:authorization]"),
            // JSON's `\t` before the separator, in the raw line.
            (
                r#"{"msg":"DB_PASSWORD\t=\tS3C11 token\t: x"}"#,
                r#"{"msg":"DB_PASSWORD\t=\t[REDACTED:password] token\t: [REDACTED:authorization]"}"#,
            ),
        ] {
            assert_eq!(red(text), want, "{text}");
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert!(!r.all_clean([text]), "{text}");
        }
    }

    #[test]
    fn short_numbers_followed_by_prose_stay() {
        // `key: value` where the value is a short number (maybe with an abbreviation) and
        // more words follow: the error an SRE needs, not a secret.
        for text in [
            "Invalid token: 3 segments expected, got 2",
            "Invalid token: 2FA code required",
            "password: 8 characters minimum required",
            r#"{"message": "Invalid token: 3 segments expected, got 2", "level": "WARNING"}"#,
            r#"{"message": "password: 8 characters minimum required"}"#,
            "2026-11-22 07:00:01,000 - auth - WARNING - token: 5XX from issuer",
        ] {
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert_eq!(r.redact(text), text);
            assert!(r.counts().values().all(|&n| n == 0), "{text}");
        }
        // Credentials still go: digits without more prose, longer values, `=` and JSON.
        for (text, want) in [
            (
                "Invalid token: ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 rejected",
                "Invalid token: [REDACTED:github_token] rejected",
            ),
            ("password: hunter2", "password: [REDACTED:password]"),
            (
                "password: S3cr3t! for bob",
                "password: [REDACTED:password] for bob",
            ),
            (
                "Using token: 3f9a8c7d6e5b4a39 for bob",
                "Using token: [REDACTED:authorization] for bob",
            ),
            ("Using token: 3", "Using token: [REDACTED:authorization]"),
            ("password: 8", "password: [REDACTED:password]"),
            ("password: 1234", "password: [REDACTED:password]"),
            ("password: 12ab then", "password: [REDACTED:password] then"),
            (
                "password: 8 Characters",
                "password: [REDACTED:password] Characters",
            ),
            (
                "token=3 segments",
                "token=[REDACTED:authorization] segments",
            ),
            (
                r#"{"password": 8}"#,
                r#"{"password": "[REDACTED:password]"}"#,
            ),
        ] {
            assert_eq!(red(text), want, "{text}");
        }
    }

    /// Each case comes out as wanted, each kind it names counted, and the one scan per event
    /// sees it.
    fn assert_redacted(cases: &[(&str, &str)]) {
        for &(text, want) in cases {
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert_eq!(r.redact(text), want, "{text}");
            let counts = r.counts();
            for kind in want
                .split("[REDACTED:")
                .skip(1)
                .filter_map(|k| k.split(']').next())
            {
                assert!(
                    counts.get(kind).is_some_and(|&n| n > 0),
                    "{text}: {kind} not counted: {counts:?}"
                );
            }
            assert!(!r.all_clean([text]), "{text}");
            if text.starts_with('{') {
                assert!(
                    serde_json::from_str::<serde_json::Value>(want).is_ok(),
                    "{want}"
                );
            }
        }
    }

    /// Each text comes out as written, nothing counted.
    fn assert_kept(texts: &[&str]) {
        for &text in texts {
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            assert_eq!(r.redact(text), text);
            assert!(r.counts().values().all(|&n| n == 0), "{text}");
        }
    }

    #[test]
    fn secret_key_base() {
        assert_redacted(&[
            (
                "secret_key_base=8f3a9c2e7d1b4a6f",
                "secret_key_base=[REDACTED:secret_key_base]",
            ),
            (
                "SECRET_KEY_BASE: 8f3a9c2e7d1b4a6f",
                "SECRET_KEY_BASE: [REDACTED:secret_key_base]",
            ),
            (
                "config:\n  secret_key_base: abcdefabcdef\n  env: production",
                "config:\n  secret_key_base: [REDACTED:secret_key_base]\n  env: production",
            ),
            (
                r#"{"msg":"boot","secret_key_base":"8f3a9c2e7d1b"}"#,
                r#"{"msg":"boot","secret_key_base":"[REDACTED:secret_key_base]"}"#,
            ),
        ]);
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        assert_eq!(
            r.redact_field("SECRET_KEY_BASE").as_deref(),
            Some("[REDACTED:secret_key_base]")
        );
        assert_kept(&[
            "secret_key_base missing",
            "ArgumentError: Missing `secret_key_base` for 'production' environment",
            "set secret_key_base in credentials",
        ]);
    }

    #[test]
    fn cookie_values() {
        assert_redacted(&[
            (
                "Cookie: session=abc123def; theme=dark",
                "Cookie: [REDACTED:cookie]",
            ),
            (
                "GET /home Cookie: session=abc; csrftoken=x9 200",
                "GET /home Cookie: [REDACTED:cookie] 200",
            ),
            (
                "Set-Cookie: sid=s3ss10n; Path=/; HttpOnly",
                "Set-Cookie: sid=[REDACTED:cookie]; Path=/; HttpOnly",
            ),
            (
                r#"{"msg":"resp","headers":"Set-Cookie: sid=s3ss10n; Path=/\r\nCookie: a=1"}"#,
                r#"{"msg":"resp","headers":"Set-Cookie: sid=[REDACTED:cookie]; Path=/\r\nCookie: [REDACTED:cookie]"}"#,
            ),
            (
                r#"{"msg":"req","cookie":"session=abc; other=def"}"#,
                r#"{"msg":"req","cookie":"[REDACTED:cookie]"}"#,
            ),
            (
                r#"{"headers":{"Cookie":"session=abc","Set-Cookie":"sid=x; Path=/"}}"#,
                r#"{"headers":{"Cookie":"[REDACTED:cookie]","Set-Cookie":"[REDACTED:cookie]"}}"#,
            ),
            (
                "headers={'Cookie': 'session=abc; other=def'}",
                "headers={'Cookie': '[REDACTED:cookie]'}",
            ),
            (
                r#"{"HTTP_COOKIE":"sessionid=abc"}"#,
                r#"{"HTTP_COOKIE":"[REDACTED:cookie]"}"#,
            ),
            // The last word of a longer name (QA s17v N4).
            (
                "SESSION_COOKIE=sess_4f9a2b",
                "SESSION_COOKIE=[REDACTED:cookie]",
            ),
            (
                "sessionCookie=sess_4f9a2b",
                "sessionCookie=[REDACTED:cookie]",
            ),
        ]);
        assert_kept(&["cookie_consent=true", "cookie jar cleared"]);
        // One secret, counted once.
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        r.redact("Set-Cookie: sid=abc; Path=/");
        assert_eq!(r.counts()["cookie"], 1);
        assert_eq!(
            r.redact_field("Cookie").as_deref(),
            Some("[REDACTED:cookie]")
        );
        assert_kept(&[
            "the cookie jar is empty",
            "cookie: missing",
            "no session cookie set",
            "cookies=3 cookie_count: 2",
        ]);
    }

    #[test]
    fn pem_private_key_bodies() {
        assert_redacted(&[
            // The body on continuation lines (the exception column), indented or not.
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1b2c3\nd4e5f6+/==\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----\n[REDACTED:private_key]\n-----END RSA PRIVATE KEY-----",
            ),
            (
                "bad key\n    -----BEGIN EC PRIVATE KEY-----\n    MHcCAQEEIBk3\n    -----END EC PRIVATE KEY-----\nnote: x",
                "bad key\n    -----BEGIN EC PRIVATE KEY-----\n    [REDACTED:private_key]\n    -----END EC PRIVATE KEY-----\nnote: x",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1r\r\n-----END OPENSSH PRIVATE KEY-----",
                "-----BEGIN OPENSSH PRIVATE KEY-----\r\n[REDACTED:private_key]\r\n-----END OPENSSH PRIVATE KEY-----",
            ),
            (
                "-----BEGIN PRIVATE KEY----- MIIEvQIBADAN abc -----END PRIVATE KEY-----",
                "-----BEGIN PRIVATE KEY----- [REDACTED:private_key] -----END PRIVATE KEY-----",
            ),
            // Newlines as JSON escapes, in a JSON string, and in JSON quoted in one.
            (
                r#"{"msg":"key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nab\/c+=\n-----END PRIVATE KEY-----\n"}"#,
                r#"{"msg":"key -----BEGIN PRIVATE KEY-----\n[REDACTED:private_key]\n-----END PRIVATE KEY-----\n"}"#,
            ),
            (
                r#"{"msg":"body {\"k\":\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEpA\\nxyz\\n-----END RSA PRIVATE KEY-----\"}"}"#,
                r#"{"msg":"body {\"k\":\"-----BEGIN RSA PRIVATE KEY-----\\n[REDACTED:private_key]\\n-----END RSA PRIVATE KEY-----\"}"}"#,
            ),
            // Encrypted (PKCS#8, and legacy headers); PGP.
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJ\n-----END ENCRYPTED PRIVATE KEY-----",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n[REDACTED:private_key]\n-----END ENCRYPTED PRIVATE KEY-----",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12\n\nMIIEpA\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----\n[REDACTED:private_key]\n-----END RSA PRIVATE KEY-----",
            ),
            (
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n[REDACTED:private_key]\n-----END PGP PRIVATE KEY BLOCK-----",
            ),
            // Cut short (a capped continuation, a truncated string): up to its end.
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKC\nxyz",
                "-----BEGIN RSA PRIVATE KEY-----\n[REDACTED:private_key]",
            ),
            (
                r#"{"msg":"-----BEGIN PRIVATE KEY-----\nMIIEvQ","n":1}"#,
                r#"{"msg":"-----BEGIN PRIVATE KEY-----\n[REDACTED:private_key]","n":1}"#,
            ),
        ]);
        assert_kept(&[
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0C\n-----END PUBLIC KEY-----",
            "loaded private key from /etc/tls/key.pem",
            "-----BEGIN RSA PRIVATE KEY-----",
            "no PRIVATE KEY----- block found",
        ]);
    }

    #[test]
    fn double_percent_encoded_secrets() {
        assert_redacted(&[
            (
                "GET /login?next=%2Fcb%253Ftoken%253Dtk_Dbl1%2526b%253D2 302",
                "GET /login?next=%2Fcb%253Ftoken%253D[REDACTED:authorization]%2526b%253D2 302",
            ),
            (
                "GET /r?u=%2Flogin%253Fuser%253Dbob%2526password%253Dpw_Dbl2 302",
                "GET /r?u=%2Flogin%253Fuser%253Dbob%2526password%253D[REDACTED:password] 302",
            ),
            (
                "GET /r?q=1%2526password%253Apw_Dbl3 200",
                "GET /r?q=1%2526password%253A[REDACTED:password] 200",
            ),
            // Three times.
            (
                "GET /r?q=%252526key%25253Dak_Dbl4 200",
                "GET /r?q=%252526key%25253D[REDACTED:api_key] 200",
            ),
        ]);
        assert_kept(&[
            "GET /search?q=100%2525%20off&next=%252Fa%253Fb%253D1 200",
            "GET /q?s=%2525&t=%25ZZ 200",
        ]);
        // Each level is one escape: `%25` followed by more hex digits is `%` and those.
        let mut out = Decoded::default();
        for (text, want) in [
            ("a%253Db", "a=b"),
            ("a%25253D", "a="),
            ("%2525", "%"),
            ("%25zz", "%zz"),
            ("%3D", "="),
        ] {
            assert!(decode_percent(text.as_bytes(), &mut out), "{text}");
            assert_eq!(String::from_utf8_lossy(&out.bytes), want, "{text}");
        }
    }

    #[test]
    fn api_key_authorization_scheme() {
        assert_redacted(&[
            (
                "Authorization: Api-Key 9f8e7d6c5b4a3f2e1d0c",
                "Authorization: Api-Key [REDACTED:api_key]",
            ),
            (
                "Authorization: ApiKey ak_short1",
                "Authorization: ApiKey [REDACTED:authorization]",
            ),
            (
                "retrying with ApiKey 9f8e7d6c5b4a3f2e1d0c",
                "retrying with ApiKey [REDACTED:api_key]",
            ),
            (
                r#"{"msg":"call","headers":"Authorization: api-key sk_live_0123456789abcdef"}"#,
                r#"{"msg":"call","headers":"Authorization: api-key [REDACTED:api_key]"}"#,
            ),
            (
                r#"{"msg":"sent Api-Key\u00209f8e7d6c5b4a3f2e1d0c"}"#,
                r#"{"msg":"sent Api-Key [REDACTED:api_key]"}"#,
            ),
        ]);
        assert_kept(&[
            "ApiKey authentication failed",
            "missing Api-Key header",
            "api-key rotation scheduled",
        ]);
    }

    #[test]
    fn glued_all_caps_names() {
        assert_redacted(&[
            (
                "env DBTOKEN=tk1 APITOKEN=tk2 JWTSECRET=js3 ADMINPASSWORD=pw4",
                "env DBTOKEN=[REDACTED:authorization] APITOKEN=[REDACTED:authorization] JWTSECRET=[REDACTED:authorization] ADMINPASSWORD=[REDACTED:password]",
            ),
            (
                "OPENAIAPIKEY=k5 AWSSECRETKEY: k6",
                "OPENAIAPIKEY=[REDACTED:api_key] AWSSECRETKEY: [REDACTED:api_key]",
            ),
            (
                r#"{"msg":"env","DBTOKEN":"tk7","SLACKBOTTOKEN":8}"#,
                r#"{"msg":"env","DBTOKEN":"[REDACTED:authorization]","SLACKBOTTOKEN":"[REDACTED:authorization]"}"#,
            ),
            ("DB_APITOKEN=tk9", "DB_APITOKEN=[REDACTED:authorization]"),
        ]);
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        for (key, want) in [
            ("DBTOKEN", Some("[REDACTED:authorization]")),
            ("JWTSECRET", Some("[REDACTED:authorization]")),
            ("ACCESSTOKEN", Some("[REDACTED:authorization]")),
            ("OPENAIAPIKEY", Some("[REDACTED:api_key]")),
            ("ADMINPASSWORD", Some("[REDACTED:password]")),
            ("dbtoken", None),
            ("TOKENS", None),
            ("TOKENIZER", None),
            ("MONKEY", None),
            ("CACHEKEY", None),
        ] {
            assert_eq!(r.redact_field(key).as_deref(), want, "{key}");
        }
        assert_kept(&[
            "TOKENS=5 TOKENIZER=bert MAXTOKENS=4096",
            "tokenizer=bert nexttoken=x monkey=banana",
            "MONKEY=banana CACHEKEY=users:1 HOTKEY=F5",
            "DBTOKEN_count: 5",
        ]);
    }

    #[test]
    fn near_misses_stay() {
        for text in [
            "token_count: 5",
            "tokens remaining: 12",
            "42 tokens remaining",
            "password reset requested for bob",
            "GitHub API: Token configured (4999/5000 requests remaining)",
            "Invalid token: expired",
            "Error validating token: Signature has expired",
            "Failed to decode token: Not enough segments",
            "Secret Manager: connected",
            "password_reset: sent",
            "max_tokens=512 token_type=bearer",
            "if token == None: retry",
            "primary_key: 5 cache_key=users:1",
            "Environment variable SKREAVER_JWT_SECRET not found. Using provided default.",
            r#"{"token_count":5,"tokens":3,"password_reset":true,"has_password":false}"#,
        ] {
            assert_eq!(red(text), text);
        }
    }

    #[test]
    fn prose_and_ordinary_urls_stay() {
        for text in [
            "invalid bearer token",
            "GET http://host:8080/path@v2 HTTP/1.1",
            "monkey=banana primary_key=5",
            "Request completed: GET /agents - 200",
        ] {
            assert_eq!(red(text), text);
        }
    }

    #[test]
    fn counts_per_kind() {
        let mut r = Redactor::builtin().expect("builtin patterns compile");
        r.redact("a ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 b ghp_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(
            r.redact_field("Password").as_deref(),
            Some("[REDACTED:password]")
        );
        assert_eq!(r.redact_field("user"), None);
        let c = r.counts();
        assert_eq!(c["github_token"], 2);
        assert_eq!(c["password"], 1);
        assert_eq!(c["jwt"], 0);
    }

    use proptest::prelude::*;

    proptest! {
        /// One scan over an event's texts says "clean" exactly when no text holds a hint, as
        /// written or with its JSON or percent escapes decoded (a hint split across two texts
        /// does not count),
        /// and a clean event's texts all come out of `redact` unchanged.
        #[test]
        fn one_scan_over_all_texts_finds_what_each_scan_finds(
            texts in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "Bea", "rer ", "ghp", "_x", "KEY", "=", "\"", ":/", "/", "pass", "word",
                        "eyJ", "ok ", "GET /x", "é", "\u{0}", "\\u0042", "\\u0065", "\\",
                        "\\/", "\\u00", "ps:", "http_", "authori", "\\u005A", "ation=",
                        "%5F", "%3d", "%", "%7", "toke", "n", ":", " =", "\\t", "\t", " ",
                        "dbPass", "PG", "secretKey",
                    ]),
                    0..6,
                ).prop_map(|p| p.concat()),
                0..5,
            ),
        ) {
            let mut r = Redactor::builtin().expect("builtin patterns compile");
            let spec: SecretsSpec = toml::from_str(BUILTIN).expect("builtin patterns parse");
            let hints: Vec<String> = spec
                .secret
                .iter()
                .flat_map(|s| s.hints.iter().map(|h| h.to_ascii_lowercase()))
                .chain(field_hints(&spec).into_iter().map(|(_, h)| h))
                .map(|h| h.to_ascii_lowercase())
                .collect();
            let holds_hint = |t: &str| {
                let folded = t.to_ascii_lowercase();
                hints.iter().any(|h| folded.contains(h.as_str()))
            };
            let mut decoded = Decoded::default();
            let mut holds_hint = |t: &str| {
                holds_hint(t)
                    || (decode_escapes(t.as_bytes(), &mut decoded)
                        && holds_hint(&String::from_utf8_lossy(&decoded.bytes)))
                    || (decode_percent(t.as_bytes(), &mut decoded)
                        && holds_hint(&String::from_utf8_lossy(&decoded.bytes)))
            };
            let clean = r.all_clean(texts.iter().map(String::as_str));
            prop_assert_eq!(clean, !texts.iter().any(|t| holds_hint(t)), "{:?}", texts);
            if clean {
                for t in &texts {
                    prop_assert!(matches!(r.redact(t), Cow::Borrowed(_)));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Redacted JSON stays JSON, whatever the secret fields hold and whatever text
        /// (quotes, `key=`, escapes) the other values hold.
        #[test]
        fn redacted_json_stays_json_for_any_values(
            pairs in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["token", "pwd", "password", "authorization", "message", "path", "a"]),
                    prop_oneof![
                        "[ a-z=\"'\\/?&:{}\\[\\],\t\n%]{0,12}".prop_map(serde_json::Value::from),
                        any::<i32>().prop_map(serde_json::Value::from),
                        proptest::collection::vec("[a-z\" =]{0,4}", 0..3).prop_map(serde_json::Value::from),
                        "(token|pwd|password|db_password|secret)[ \t]?[=:][ \t]?[a-z\" %0-9\t]{0,6}".prop_map(serde_json::Value::from),
                        "(Bearer|https://u:p|\\?t=ghp)(%20|%5F|%40|\t)[a-z0-9%@/]{0,24}".prop_map(serde_json::Value::from),
                        "(Cookie: |Set-Cookie: |-----BEGIN PRIVATE KEY-----|x%2526token%253D)[a-z=;\" \n\\\\/]{0,16}(-----END PRIVATE KEY-----)?".prop_map(serde_json::Value::from),
                    ],
                ),
                1..5,
            ),
        ) {
            let object: serde_json::Map<String, serde_json::Value> =
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let text = serde_json::Value::Object(object).to_string();
            let out = red(&text);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "{text} → {out}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Whatever letters of a JSON object (keys and values) are written as `\u00XX` and
        /// whatever `/` as `\/`, the redacted text is JSON with the same keys, and every secret
        /// field's value is replaced.
        #[test]
        fn escaped_json_keeps_its_keys_and_loses_its_secrets(
            pairs in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "token", "pwd", "Password", "authorization", "x_api_key", "message", "path", "a",
                    ]),
                    prop_oneof![
                        "[ a-zA-Z0-9=\"'\\\\/?&:{}\\[\\],]{0,12}".prop_map(serde_json::Value::from),
                        any::<i32>().prop_map(serde_json::Value::from),
                        proptest::collection::vec("[a-z\" =/]{0,4}", 0..3).prop_map(serde_json::Value::from),
                        "(token|pwd|https://u:p@h/|Bearer )[a-z0-9\" /]{0,20}".prop_map(serde_json::Value::from),
                    ],
                ),
                1..5,
            ),
            escape in proptest::collection::vec(0u8..4, 64),
        ) {
            let object: serde_json::Map<String, serde_json::Value> =
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let plain = serde_json::Value::Object(object.clone()).to_string();
            // Escape some letters and slashes (never the character after a backslash: that
            // would change the JSON, not only its spelling).
            let mut text = String::new();
            let mut after_backslash = false;
            for (i, c) in plain.chars().enumerate() {
                let how = escape[i % escape.len()];
                match c {
                    _ if after_backslash => text.push(c),
                    'a'..='z' | 'A'..='Z' if how == 1 => text.push_str(&format!("\\u{:04x}", c as u32)),
                    'a'..='z' | 'A'..='Z' if how == 2 => text.push_str(&format!("\\u{:04X}", c as u32)),
                    '/' if how != 0 => text.push_str("\\/"),
                    _ => text.push(c),
                }
                after_backslash = c == '\\' && !after_backslash;
            }
            prop_assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).ok(),
                Some(serde_json::Value::Object(object.clone()))
            );
            let out = red(&text);
            let Ok(serde_json::Value::Object(got)) = serde_json::from_str(&out) else {
                return Err(TestCaseError::fail(format!("{text} → {out}: not a JSON object")));
            };
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), object.keys().collect::<Vec<_>>());
            for (k, v) in &got {
                if ["token", "pwd", "Password", "authorization", "x_api_key"].contains(&k.as_str()) {
                    prop_assert!(
                        v.as_str().is_some_and(|v| v.starts_with("[REDACTED:")),
                        "{} → {}", text, out
                    );
                }
            }
        }
    }

    #[test]
    fn a_hint_with_a_nul_byte_is_refused() {
        let text = "[[secret]]\nkind = \"x\"\nhints = [\"a\\u0000b\"]\npattern = \"ab\"\n";
        let err = Redactor::from_toml("custom.toml", text).expect_err("refused");
        assert!(err.to_string().contains("NUL"), "{err}");
    }

    #[test]
    fn redacted_json_stays_json() {
        let text = r#"{"h":{"x-api-key":"k\"ey"},"u":"https://a:b\"c@d","auth":"Bearer abcdefghijklmnopqrstu\\v"}"#;
        let out = red(text);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{out}"
        );
    }
}
