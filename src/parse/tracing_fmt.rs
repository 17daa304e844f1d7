//! `kind = "tracing-fmt"`: the line layout of tracing-subscriber's `fmt` layer (the default
//! "full" format of Rust services), matched by hand.
//!
//! The format *is* [`REGEX`] — group names, indices and matches are those of that regex, and a
//! property test holds [`captures`] to it — but the regex is not one-pass (an identifier may
//! contain `:` and is followed by `: `; a span name and a target both start as identifiers), so
//! the regex crate resolves its groups with a backtracker: ~1 µs per line, about as much as the
//! whole rest of a line's parse. This matcher walks the line once.

/// The layout, as a regex over the whole line (ANSI already stripped by the envelope stage):
/// `2026-11-22T07:09:46.768062Z DEBUG request{method=GET uri=/agents}: tower_http::trace::on_response: finished processing request latency=0 ms status=401`.
pub const REGEX: &str = r"^(?P<ts>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})) +(?P<level>TRACE|DEBUG|INFO|WARN|ERROR) (?:(?P<span>[A-Za-z_][A-Za-z0-9_:]*)\{(?P<span_fields>[^}]*)\}: )?(?P<logger>[A-Za-z_][A-Za-z0-9_:]*): (?P<message>.*)$";

/// Groups of [`REGEX`] before its message: 0 (the match up to the message) to 5 (`logger`).
pub const GROUPS: usize = 6;

/// Spans of [`REGEX`]'s groups before the message; the message is the rest of the line.
pub type Groups = [Option<(usize, usize)>; GROUPS];

/// Match `line`; the group spans as `REGEX` (without its final message group) reports them.
pub fn captures(line: &str) -> Option<Groups> {
    let b = line.as_bytes();
    let ts_end = timestamp(b)?;
    let mut at = ts_end;
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    if at == ts_end {
        return None;
    }
    let level_start = at;
    let level = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
        .iter()
        .find(|l| b[at..].starts_with(l.as_bytes()))?;
    at += level.len();
    if b.get(at) != Some(&b' ') {
        return None;
    }
    let level_end = at;
    at += 1;
    let mut groups: Groups = [None; GROUPS];
    groups[1] = Some((0, ts_end));
    groups[2] = Some((level_start, level_end));
    // The optional span goes first (greedy `?`); without a target after it, the regex
    // backtracks to reading the target right after the level.
    if let Some((name_end, fields_end)) = span(b, at)
        && let Some(end) = target(b, fields_end + 3)
    {
        groups[3] = Some((at, name_end));
        groups[4] = Some((name_end + 1, fields_end));
        groups[5] = Some((fields_end + 3, end));
        groups[0] = Some((0, end + 2));
        return Some(groups);
    }
    let end = target(b, at)?;
    groups[5] = Some((at, end));
    groups[0] = Some((0, end + 2));
    Some(groups)
}

fn digits(b: &[u8], at: usize, n: usize) -> bool {
    b.get(at..at + n)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

/// End of `[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})`
/// at the start of `b`. Every part is decided by its next byte, so no alternative is left
/// untried.
fn timestamp(b: &[u8]) -> Option<usize> {
    let fixed = digits(b, 0, 4)
        && b.get(4) == Some(&b'-')
        && digits(b, 5, 2)
        && b.get(7) == Some(&b'-')
        && digits(b, 8, 2)
        && b.get(10) == Some(&b'T')
        && digits(b, 11, 2)
        && b.get(13) == Some(&b':')
        && digits(b, 14, 2)
        && b.get(16) == Some(&b':')
        && digits(b, 17, 2);
    if !fixed {
        return None;
    }
    let mut at = 19;
    if b.get(at) == Some(&b'.') && b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        at += 1;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
    }
    match b.get(at) {
        Some(b'Z') => Some(at + 1),
        Some(b'+' | b'-') if digits(b, at + 1, 2) => {
            at += 3;
            if b.get(at) == Some(&b':') {
                at += 1;
            }
            digits(b, at, 2).then_some(at + 2)
        }
        _ => None,
    }
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// End of the run of `[A-Za-z0-9_:]` that starts at `at` with `[A-Za-z_]`.
fn ident(b: &[u8], at: usize) -> Option<usize> {
    if !b.get(at).copied().is_some_and(ident_start) {
        return None;
    }
    let len = b[at..].iter().take_while(|&&c| ident_byte(c)).count();
    Some(at + len)
}

/// `(?P<span>[A-Za-z_][A-Za-z0-9_:]*)\{(?P<span_fields>[^}]*)\}: ` at `at`: the ends of the
/// name and of the fields. The name's run cannot end earlier (the byte after it would be an
/// identifier byte, not `{`), nor the fields before the first `}`.
fn span(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let name_end = ident(b, at)?;
    if b.get(name_end) != Some(&b'{') {
        return None;
    }
    let fields_end = name_end + 1 + memchr::memchr(b'}', &b[name_end + 1..])?;
    b[fields_end..]
        .starts_with(b"}: ")
        .then_some((name_end, fields_end))
}

/// `(?P<logger>[A-Za-z_][A-Za-z0-9_:]*): ` at `at`: the end of the target. The greedy run
/// takes every `:`, so the only way to be followed by `: ` is to give back its last byte,
/// which must be that `:`, with a space after the run.
fn target(b: &[u8], at: usize) -> Option<usize> {
    let run_end = ident(b, at)?;
    let end = run_end - 1;
    (end > at && b[end] == b':' && b.get(run_end) == Some(&b' ')).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the regex says, without its message group (as the format compiler uses it).
    fn by_regex(line: &str) -> Option<Groups> {
        let prefix = REGEX
            .strip_suffix("(?P<message>.*)$")
            .expect("message group last");
        let re = regex::Regex::new(prefix).expect("valid");
        let mut locs = re.capture_locations();
        re.captures_read(&mut locs, line)?;
        let mut g: Groups = [None; GROUPS];
        for (i, slot) in g.iter_mut().enumerate() {
            *slot = locs.get(i);
        }
        Some(g)
    }

    #[test]
    fn real_lines_match_like_the_regex() {
        for line in [
            "2026-11-22T07:09:46.768062Z DEBUG request{method=GET uri=/agents version=HTTP/1.1}: tower_http::trace::on_response: finished processing request latency=0 ms status=401",
            "2026-11-22T06:00:01.129126Z  INFO skreaver_http::websocket::handlers: WebSocket upgrade request from 10.0.10.125:41584",
            "2026-11-22T06:00:01+02:00 WARN a: b",
            "2026-11-22T06:00:01.5-0130 ERROR x{}: y::z: ",
            "2026-11-22T06:00:01Z INFO x{a}: not a target",
            "2026-11-22T06:00:01Z INFO x{a}:: y: m",
            "2026-11-22T06:00:01Z INFO target:: m",
            "2026-11-22T06:00:01Z INFO :: m",
            "2026-11-22T06:00:01Z INFO a: b: c",
            "2026-11-22T06:00:01Z WARNING a: b",
            "2026-11-22T06:00:01.Z INFO a: b",
        ] {
            assert_eq!(captures(line), by_regex(line), "{line}");
        }
        assert!(captures("2026-11-22T06:00:01.129126Z  INFO skreaver_http::server: up").is_some());
    }

    fn near_miss() -> impl Strategy<Value = String> {
        // Pieces of the layout, mostly right and sometimes not, so matches with and without a
        // span and every kind of failure all come up.
        let ts = prop_oneof![
            3 => Just("2026-11-22T06:00:01Z".to_string()),
            3 => Just("2026-11-22T06:00:01.123456Z".to_string()),
            2 => Just("2026-11-22T06:00:01+01:00".to_string()),
            2 => Just("2026-11-22T06:00:01-0100".to_string()),
            1 => "[0-9TZ:.+-]{0,30}",
        ];
        let spaces = prop_oneof![4 => Just(" ".to_string()), 1 => "[ ]{0,3}"];
        let level = prop_oneof![
            3 => Just("INFO".to_string()),
            2 => Just("WARN".to_string()),
            2 => Just("TRACE".to_string()),
            1 => "[A-Z]{0,6}",
        ];
        let after_level = prop_oneof![6 => Just(" ".to_string()), 1 => "[ ]{0,2}"];
        let span = prop_oneof![
            3 => Just(String::new()),
            3 => ("[a-z_][a-z_:]{0,6}", "[a-z= :]{0,12}")
                .prop_map(|(n, f)| format!("{n}{{{f}}}: ")),
            2 => ("[a-z_:]{0,8}", "[a-z= {}:]{0,12}", "[}: ]{0,3}")
                .prop_map(|(n, f, end)| format!("{n}{{{f}{end}")),
        ];
        let target = prop_oneof![
            4 => "[a-z_][a-z_:]{0,12}",
            1 => "[a-z_:{}]{0,12}",
        ];
        let sep = prop_oneof![4 => Just(": ".to_string()), 1 => "[: ]{0,3}"];
        let tail = "[a-z :{}]{0,10}";
        (ts, spaces, level, after_level, span, target, sep, tail).prop_map(
            |(ts, sp, lv, sp2, span, id, sep, tail)| {
                format!("{ts}{sp}{lv}{sp2}{span}{id}{sep}{tail}")
            },
        )
    }

    /// The generator must produce matches with and without a span, and misses, or the
    /// property below would prove little.
    #[test]
    fn near_misses_cover_matches_and_misses() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut plain, mut with_span, mut misses) = (0, 0, 0);
        for _ in 0..2000 {
            let line = near_miss().new_tree(&mut runner).expect("tree").current();
            match captures(&line) {
                Some(g) if g[3].is_some() => with_span += 1,
                Some(_) => plain += 1,
                None => misses += 1,
            }
        }
        assert!(
            plain > 50 && with_span > 20 && misses > 200,
            "{plain} {with_span} {misses}"
        );
    }

    proptest! {
        #[test]
        fn matches_exactly_like_the_regex(line in near_miss()) {
            prop_assert_eq!(captures(&line), by_regex(&line));
        }

        #[test]
        fn any_text_matches_like_the_regex(line in "\\PC{0,60}") {
            prop_assert_eq!(captures(&line), by_regex(&line));
        }
    }
}
