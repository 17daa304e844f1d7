//! Secret redaction for evidence bundles: the patterns of `redact/secrets.toml` (compiled in)
//! replace bearer tokens, JWTs, GitHub tokens, API keys and passwords with
//! `[REDACTED:<kind>]`, and count each replacement per kind.
//!
//! Invariants: a replacement is never matched again by a later pattern; text without any
//! pattern's hint literal is returned borrowed after one ASCII
//! lower-casing copy and one SIMD literal scan (the common case costs no allocation); a replacement contains no `"` or `\`,
//! and secret groups never span them, so redacted JSON text stays valid JSON; redaction never
//! fails on any input.

use std::borrow::Cow;
use std::collections::BTreeMap;

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
}

struct Rule {
    kind: usize,
    regex: Regex,
    /// Indexes of the groups named `secret…`: the first that took part in a match is what
    /// is replaced (the whole match when there is none).
    secret_groups: Vec<usize>,
}

/// The patterns that find a `[[field]]` key's value in text (JSON forms, then text forms): `"key": "value"` (a string, a
/// number, or an object or array without nesting) in JSON, the same inside a JSON string
/// (`\"key\": \"value\"`, a message that quotes JSON), Python's `{'key': 'value'}`, and
/// `key=value` / `key="value"` / `key='value'` in logfmt and tracing's text. A JSON value is replaced whole (a number,
/// object or array by a string), so the JSON stays valid.
fn field_patterns(keys: &[String]) -> [String; 2] {
    let keys = keys
        .iter()
        .map(|k| regex::escape(k))
        .collect::<Vec<_>>()
        .join("|");
    let json = [
        format!(
            r#""(?:{keys})"\s*:\s*(?:"(?P<secret>(?:[^"\\]|\\.)*)"|(?P<secret_number>-?[0-9][0-9.eE+-]*)|(?P<secret_object>\{{[^{{}}]*\}}|\[[^\[\]]*\]))"#
        ),
        format!(r#"\\"(?:{keys})\\"\s*:\s*\\"(?P<secret_escaped>(?:[^"\\]|\\[^"])*)\\""#),
        format!(r#"'(?:{keys})'\s*:\s*'(?P<secret_repr>[^'"\\]*)'"#),
    ];
    let text = format!(
        r#"(?:^|[^A-Za-z0-9_.-])(?:{keys})=(?P<secret_text>"(?:[^"\\]|\\.)*"|\\"(?:[^"\\]|\\[^"])*\\"|'[^'"\\]*'|[^\s"'&,;\\]+)"#
    );
    [
        json.map(|p| format!("(?i:{p})")).join("|"),
        format!("(?i:{text})"),
    ]
}

/// Compiled patterns plus the running count of replacements per kind.
pub struct Redactor {
    rules: Vec<Rule>,
    /// Matched against [`Redactor::folded`] (see `compile`).
    hints: AhoCorasick,
    /// Scratch: the text being redacted, ASCII lower-cased.
    folded: Vec<u8>,
    /// The hints as a SIMD (Teddy) searcher, to rule out text without any quickly; `None`
    /// where the CPU has no SIMD support for it (the automaton is used then).
    quick: Option<aho_corasick::packed::Searcher>,
    /// Hint pattern index → the rules it opens (`start..end`).
    hint_rule: Vec<(usize, usize)>,
    /// Lower-case field name → kind.
    field_keys: crate::FastMap<String, usize>,
    /// Scratch: a field name lower-cased.
    key_folded: String,
    kinds: Vec<String>,
    counts: Vec<u64>,
    /// Rules whose hints occur in the current text (scratch).
    active: Vec<bool>,
}

fn secret_groups(regex: &Regex) -> Vec<usize> {
    regex
        .capture_names()
        .enumerate()
        .filter(|(_, n)| n.is_some_and(|n| n.starts_with("secret")))
        .map(|(i, _)| i)
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
        for f in &spec.field {
            let kind = kind_id(&f.kind);
            for k in &f.keys {
                field_keys.insert(k.to_ascii_lowercase(), kind);
                // The key as a JSON key (`token"`), inside a JSON string (`token\"`), in a
                // Python dict (`token'`) or in a `key=value` pair (`token=`).
                for hint in [
                    format!("{k}\""),
                    format!("{k}\\\""),
                    format!("{k}'"),
                    format!("{k}="),
                ] {
                    hint_literals.push(hint);
                    // The JSON rule and the text rule of this field.
                    hint_rule.push((rules.len(), rules.len() + 2));
                }
            }
            if f.keys.is_empty() {
                continue;
            }
            // JSON forms first, in a rule of their own: a text form's quoted value must not
            // take the quote that opens the next JSON key (`"a":"token=","pwd":1`).
            for pattern in field_patterns(&f.keys) {
                let regex = Regex::new(&pattern).map_err(|source| RedactError::Pattern {
                    name: name.to_string(),
                    kind: f.kind.clone(),
                    source,
                })?;
                rules.push(Rule {
                    kind,
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
                hint_literals.push(h.clone());
                hint_rule.push((rules.len(), rules.len() + 1));
            }
            rules.push(Rule {
                kind: kind_id(&s.kind),
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
        Ok(Redactor {
            rules,
            hints,
            hint_rule,
            field_keys,
            key_folded: String::new(),
            kinds,
            counts: vec![0; n_kinds],
            active: vec![false; n_rules],
            folded: Vec::new(),
            quick,
        })
    }

    /// Whether none of `texts` holds any pattern's hint, so that none needs [`Redactor::redact`]
    /// (one scan for all the texts of an event: short texts each alone would fall below the
    /// SIMD searcher's minimum length and be scanned byte by byte).
    pub fn all_clean<'t>(&mut self, texts: impl IntoIterator<Item = &'t str>) -> bool {
        self.folded.clear();
        for t in texts {
            // No hint contains a NUL byte, so none is found across two texts.
            self.folded.extend_from_slice(t.as_bytes());
            self.folded.push(0);
        }
        !self.folded_has_hint()
    }

    /// Whether [`Redactor::folded`], once ASCII lower-cased, contains a hint.
    fn folded_has_hint(&mut self) -> bool {
        self.folded.make_ascii_lowercase();
        match &self.quick {
            Some(q) => q.find(&self.folded).is_some(),
            None => self.hints.is_match(&self.folded),
        }
    }

    /// Replace every secret in `text`; borrowed when there is none.
    pub fn redact<'t>(&mut self, text: &'t str) -> Cow<'t, str> {
        self.folded.clear();
        self.folded.extend_from_slice(text.as_bytes());
        if !self.folded_has_hint() {
            return Cow::Borrowed(text);
        }
        self.active.iter_mut().for_each(|a| *a = false);
        for m in self.hints.find_overlapping_iter(&self.folded) {
            if let Some(&(start, end)) = self.hint_rule.get(m.pattern().as_usize()) {
                self.active[start..end].iter_mut().for_each(|a| *a = true);
            }
        }
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
                let secret = rule.secret_groups.iter().find_map(|&g| c.get(g));
                // Text an earlier pattern replaced is no secret.
                if secret
                    .unwrap_or(whole)
                    .as_str()
                    .trim_start_matches(['"', '\''])
                    .starts_with("[REDACTED:")
                {
                    return whole.as_str().to_string();
                }
                // `key="…"` in text ends where a value ends; in JSON (`"…?token=","path":…`)
                // that quote closes the JSON string, and what follows is no value.
                if let Some(t) = c.name("secret_text")
                    && t.as_str().starts_with('"')
                    && haystack[whole.end()..]
                        .chars()
                        .next()
                        .is_some_and(|n| !(n.is_whitespace() || ",;&)}]".contains(n)))
                {
                    return whole.as_str().to_string();
                }
                replaced += 1;
                // A JSON number, object or array becomes a string: the JSON stays valid.
                let q = if c.name("secret_number").is_some() || c.name("secret_object").is_some() {
                    "\""
                } else {
                    ""
                };
                match secret {
                    Some(s) => format!(
                        "{}{q}[REDACTED:{kind}]{q}{}",
                        &whole.as_str()[..s.start() - whole.start()],
                        &whole.as_str()[s.end() - whole.start()..]
                    ),
                    None => format!("[REDACTED:{kind}]"),
                }
            });
            if let Cow::Owned(s) = next {
                out = Cow::Owned(s);
            }
            self.counts[rule.kind] += replaced;
        }
        out
    }

    /// If a field of this name holds a secret as a whole, count it and return its replacement.
    pub fn redact_field(&mut self, key: &str) -> Option<String> {
        let kind = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.key_folded.clear();
            self.key_folded.push_str(key);
            self.key_folded.make_ascii_lowercase();
            *self.field_keys.get(&self.key_folded)?
        } else {
            *self.field_keys.get(key)?
        };
        self.counts[kind] += 1;
        Some(format!("[REDACTED:{}]", self.kinds[kind]))
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
        /// One scan over an event's texts says "clean" exactly when no text holds a hint (a
        /// hint split across two texts does not count), and a clean event's texts all come out
        /// of `redact` unchanged.
        #[test]
        fn one_scan_over_all_texts_finds_what_each_scan_finds(
            texts in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "Bea", "rer ", "ghp", "_x", "KEY", "=", "\"", ":/", "/", "pass", "word",
                        "eyJ", "ok ", "GET /x", "é", "\u{0}",
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
                .chain(spec.field.iter().flat_map(|f| {
                    f.keys.iter().flat_map(|k| {
                        [format!("{k}\""), format!("{k}\\\""), format!("{k}'"), format!("{k}=")]
                    })
                }))
                .collect();
            let holds_hint = |t: &str| {
                let folded = t.to_ascii_lowercase();
                hints.iter().any(|h| folded.contains(h.as_str()))
            };
            let clean = r.all_clean(texts.iter().map(String::as_str));
            prop_assert_eq!(clean, !texts.iter().any(|t| holds_hint(t)));
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
                        "[ a-z=\"'\\/?&:{}\\[\\],]{0,12}".prop_map(serde_json::Value::from),
                        any::<i32>().prop_map(serde_json::Value::from),
                        proptest::collection::vec("[a-z\" =]{0,4}", 0..3).prop_map(serde_json::Value::from),
                        "(token|pwd|password)=[a-z\" ]{0,6}".prop_map(serde_json::Value::from),
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
