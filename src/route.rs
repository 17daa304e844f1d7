//! HTTP path → route normalization.
//!
//! A service may declare templates (`/agents/{agent_id}/observe`): a path with the same number of
//! segments whose literal segments are equal takes the template as its route, and the `{name}`
//! segments become fields. Any other path is normalized segment by segment: UUIDs, numbers, hex
//! ids (6+ hex digits with at least one digit, or any 6+ hex digits for a service whose own
//! normalization takes them: [`HexIds`]), tokens of 20+ characters and already-normalized `{…}`
//! segments become `{id}`. Query strings and fragments are dropped; an absolute URL keeps only
//! its path.

use std::borrow::Cow;

use serde::Deserialize;

/// Which segments of hex digits alone are ids (`hex_ids` in `parsers/*.toml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HexIds {
    /// 6+ hex digits (dashes between them allowed) with at least one decimal digit: words
    /// spelled with `a`–`f` alone (`decade`, `facade`) stay part of the route.
    #[default]
    WithDigit,
    /// Also 6+ hex letters with no digit (`deadbeef`): SkillMeat's `normalized_path` replaces
    /// every hex string of 6 or more characters (FORMATS.md §1.3), so its span lines name
    /// `/artifacts/{id}` where its other lines print `/artifacts/deadbeef`.
    Any,
}

/// A compiled route template.
#[derive(Clone, Debug)]
pub struct Template {
    text: String,
    /// `Ok(literal)` or `Err(name)` for `{name}`.
    segments: Vec<Result<String, String>>,
}

impl Template {
    /// Compile `/agents/{agent_id}/observe`.
    pub fn new(text: &str) -> Template {
        let segments = split(text)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Err(name.to_string()),
                    None => Ok(s.to_string()),
                },
            )
            .collect();
        Template {
            text: text.to_string(),
            segments,
        }
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').skip(1)
}

/// Strip scheme/host, query string and fragment.
pub fn path_only(path: &str) -> &str {
    let mut p = path;
    if let Some(rest) = p
        .strip_prefix("http://")
        .or_else(|| p.strip_prefix("https://"))
    {
        p = rest.find('/').map_or("/", |i| &rest[i..]);
    }
    let end = memchr::memchr2(b'?', b'#', p.as_bytes()).unwrap_or(p.len());
    &p[..end]
}

fn is_id_segment(seg: &str, hex: HexIds) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b.len() >= 20 || (b[0] == b'{' && b[b.len() - 1] == b'}') {
        return true;
    }
    // One pass: all digits → id; else hex digits and dashes only, with a digit and at least 6
    // hex digits (UUIDs are 36 chars and caught above; shorter hex runs with a digit are ids).
    let (mut digits, mut hex_letters) = (0usize, 0usize);
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'a'..=b'f' | b'A'..=b'F' => hex_letters += 1,
            b'-' => {}
            _ => return false,
        }
    }
    digits == b.len()
        || (digits > 0 && digits + hex_letters >= 6)
        || (hex == HexIds::Any && hex_letters == b.len() && b.len() >= 6)
}

/// The segments of `p` as [`split`] yields them, into `out`; `None` when there are more than
/// fit. A byte loop: paths are short, and `str::split`'s searcher cost more than the rest of
/// [`normalize`].
fn segments<'p>(p: &'p str, out: &mut [&'p str; MAX_SEGMENTS]) -> Option<usize> {
    let bytes = p.as_bytes();
    // What comes before the first `/` is not a segment (nor is a path without one).
    let Some(first) = bytes.iter().position(|&c| c == b'/') else {
        return Some(0);
    };
    let mut start = first + 1;
    let mut n = 0;
    for end in (start..=bytes.len()).filter(|&i| i == bytes.len() || bytes[i] == b'/') {
        // Cut at `/` bytes (ASCII), so on char boundaries.
        *out.get_mut(n)? = p.get(start..end).unwrap_or("");
        n += 1;
        start = end + 1;
    }
    Some(n)
}

/// Paths with more segments than this take a slower path and match no template.
const MAX_SEGMENTS: usize = 32;

fn normalize_long(p: &str, hex: HexIds) -> Cow<'_, str> {
    let mut out = String::with_capacity(p.len());
    for seg in split(p) {
        out.push('/');
        out.push_str(if is_id_segment(seg, hex) { "{id}" } else { seg });
    }
    Cow::Owned(out)
}

/// A path segment as the server's router hands it to the handler: percent-decoded
/// (`bad%20id!` is the agent `bad id!` that other lines name). Left as it is when the escapes do
/// not decode to UTF-8.
pub fn decode_segment(seg: &str) -> Cow<'_, str> {
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(seg), Cow::Owned)
}

/// Normalize `path` to a route (`hex`: which hex segments are ids); `emit` receives
/// `(name, value)` for every template capture, percent-decoded ([`decode_segment`]).
pub fn normalize<'p>(
    path: &'p str,
    templates: &[Template],
    hex: HexIds,
    mut emit: impl FnMut(&str, Cow<'p, str>),
) -> Cow<'p, str> {
    let p = path_only(path);
    if p.is_empty() {
        return Cow::Borrowed("/");
    }
    // One pass splits the path; templates and id detection then work on the segments.
    let mut segs: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
    let Some(n) = segments(p, &mut segs) else {
        return normalize_long(p, hex);
    };
    let segs = &segs[..n];
    'templates: for t in templates {
        if t.segments.len() != n {
            continue;
        }
        for (seg, want) in segs.iter().zip(&t.segments) {
            match want {
                Ok(lit) if lit != seg => continue 'templates,
                Err(_) if seg.is_empty() => continue 'templates,
                _ => {}
            }
        }
        for (seg, want) in segs.iter().zip(&t.segments) {
            if let Err(name) = want {
                emit(name, decode_segment(seg));
            }
        }
        return Cow::Owned(t.text.clone());
    }
    let Some(first_id) = segs.iter().position(|s| is_id_segment(s, hex)) else {
        return Cow::Borrowed(p);
    };
    let mut out = String::with_capacity(p.len());
    for (i, seg) in segs.iter().enumerate() {
        out.push('/');
        out.push_str(if i >= first_id && is_id_segment(seg, hex) {
            "{id}"
        } else {
            seg
        });
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        normalize(p, &[], HexIds::WithDigit, |_, _| {}).into_owned()
    }

    proptest::proptest! {
        #[test]
        fn segments_are_those_of_split(p in "[a-z/é{}?-]{0,40}") {
            let mut out = [""; MAX_SEGMENTS];
            let want: Vec<&str> = split(&p).collect();
            match segments(&p, &mut out) {
                Some(n) => proptest::prop_assert_eq!(&out[..n], &want[..]),
                None => proptest::prop_assert!(want.len() > MAX_SEGMENTS),
            }
        }
    }

    #[test]
    fn generic_rules() {
        assert_eq!(norm("/agents/abc123/observe"), "/agents/{id}/observe");
        assert_eq!(
            norm("/api/v1/artifacts/3f2a9c1d-0000-4bcd-8e8e-123456789abc"),
            "/api/v1/artifacts/{id}"
        );
        assert_eq!(norm("/api/v1/users/42?limit=5"), "/api/v1/users/{id}");
        assert_eq!(
            norm("/api/v1/tokens/abcdefghijklmnopqrstuvwxyz"),
            "/api/v1/tokens/{id}"
        );
        assert_eq!(
            norm("/api/v1/marketplace/sources"),
            "/api/v1/marketplace/sources"
        );
        assert_eq!(norm("/api/v1/artifacts/{id}"), "/api/v1/artifacts/{id}");
        assert_eq!(norm("/health"), "/health");
        assert_eq!(norm("/api/v1/decade"), "/api/v1/decade");
        assert_eq!(norm("http://localhost:8080/api/v1/x/123"), "/api/v1/x/{id}");
        assert_eq!(norm(""), "/");
        let deep = "/a/1".repeat(20);
        assert_eq!(norm(&deep), "/a/{id}".repeat(20));
    }

    #[test]
    fn hex_letters_alone_are_ids_only_where_the_service_says_so() {
        let any = |p: &str| normalize(p, &[], HexIds::Any, |_, _| {}).into_owned();
        assert_eq!(
            norm("/api/v1/artifacts/deadbeef"),
            "/api/v1/artifacts/deadbeef"
        );
        assert_eq!(any("/api/v1/artifacts/deadbeef"), "/api/v1/artifacts/{id}");
        assert_eq!(any("/api/v1/artifacts/DEADBEEF"), "/api/v1/artifacts/{id}");
        // Under 6, or not hex alone: words.
        assert_eq!(any("/api/v1/decad/feed"), "/api/v1/decad/feed");
        assert_eq!(any("/api/v1/dead-beef"), "/api/v1/dead-beef");
        assert_eq!(any("/api/v1/abc123-foo"), "/api/v1/abc123-foo");
        let deep = "/a/facade".repeat(20);
        assert_eq!(any(&deep), "/a/{id}".repeat(20));
    }

    #[test]
    fn templates_extract() {
        let t = vec![
            Template::new("/agents/{agent_id}/observe"),
            Template::new("/agents/{agent_id}"),
        ];
        let mut got = Vec::new();
        let r = normalize(
            "/agents/demo-agent-1/observe?x=1",
            &t,
            HexIds::WithDigit,
            |n, v| got.push((n.to_string(), v.to_string())),
        );
        assert_eq!(r, "/agents/{agent_id}/observe");
        assert_eq!(
            got,
            vec![("agent_id".to_string(), "demo-agent-1".to_string())]
        );
        assert_eq!(
            normalize("/agents", &t, HexIds::WithDigit, |_, _| {}),
            "/agents"
        );
        assert_eq!(
            normalize("/agents/x/y/z", &t, HexIds::WithDigit, |_, _| {}),
            "/agents/x/y/z"
        );
        // Captures are percent-decoded, as the router hands them to the handler.
        let mut got = Vec::new();
        normalize(
            "/agents/bad%20id!/observe",
            &t,
            HexIds::WithDigit,
            |_, v| got.push(v.into_owned()),
        );
        assert_eq!(got, ["bad id!"]);
    }

    #[test]
    fn segments_percent_decode() {
        assert_eq!(decode_segment("plain"), "plain");
        assert_eq!(decode_segment("a%2Fb%20c"), "a/b c");
        assert_eq!(decode_segment("caf%C3%A9"), "café");
        // Not UTF-8, or not an escape: as it was.
        assert_eq!(decode_segment("x%FFy"), "x%FFy");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz%4"), "%zz%4");
    }
}
