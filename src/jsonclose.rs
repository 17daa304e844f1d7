//! Closing a JSON line cut at `--max-line-bytes`, so the event it holds is parsed rather than
//! lost: a 1.6 MB SkillMeat error line whose traceback runs past the cap keeps its time,
//! level, logger and message, and the first megabyte of its traceback. Also a JSON line cut
//! by the end of its input (a process killed while it wrote it: `pipeline::eof_cut_json`).
//!
//! [`close_cut_json`] keeps everything up to the cut that can stay: a string value cut in the
//! middle is kept up to its last whole character (or escape) and closed; an unfinished key,
//! number, literal or `"key":` without a value is dropped back to the last complete member;
//! then the open arrays and objects are closed. Invariant (a property test): for any prefix of
//! a JSON object, the result is valid JSON that starts with a prefix of the cut text.

/// The cut `text` (one JSON object, from its start up to the cut) completed into a valid JSON
/// object; `None` when it does not start like one or nothing of it can stay.
pub fn close_cut_json(text: &str) -> Option<String> {
    let start = text.len() - text.trim_start().len();
    let b = text.as_bytes();
    if b.get(start) != Some(&b'{') {
        return None;
    }
    // Open containers (`{` / `[`), and where the text can be cut and closed: after an opening
    // bracket or a complete value (before a comma, which the cut drops).
    let mut stack: Vec<u8> = Vec::new();
    let mut safe = 0;
    let mut i = start;
    // In an object: the next string is a key.
    let mut want_key = false;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                want_key = b[i] == b'{';
                stack.push(b[i]);
                i += 1;
                safe = i;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
                if stack.is_empty() {
                    // The object is complete: the cut fell after it.
                    return Some(text[..i].to_string());
                }
                safe = i;
            }
            b',' => {
                want_key = stack.last() == Some(&b'{');
                i += 1;
            }
            b':' => {
                want_key = false;
                i += 1;
            }
            b'"' => {
                let (end, good) = string_end(b, i + 1);
                match end {
                    Some(end) => {
                        i = end + 1;
                        if !want_key {
                            safe = i;
                        }
                    }
                    // Cut inside the string: a value keeps what it has.
                    None if !want_key => {
                        let mut out = String::with_capacity(good + stack.len() + 1);
                        out.push_str(&text[..good]);
                        out.push('"');
                        close(&mut out, &stack);
                        return Some(out);
                    }
                    None => break,
                }
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                // A number or literal: complete only when something follows it.
                let len = b[i..]
                    .iter()
                    .take_while(|c| {
                        !matches!(c, b',' | b'}' | b']' | b':') && !c.is_ascii_whitespace()
                    })
                    .count();
                if i + len == b.len() {
                    break;
                }
                i += len;
                safe = i;
            }
        }
    }
    if stack.is_empty() || safe <= start {
        return None;
    }
    let mut out = text[..safe].to_string();
    close(&mut out, &stack);
    Some(out)
}

/// Where the string whose content starts at `from` ends (the closing quote), and — when it
/// does not end — how far its content is whole: up to the last complete character or escape.
fn string_end(b: &[u8], from: usize) -> (Option<usize>, usize) {
    let mut i = from;
    let mut good = from;
    while i < b.len() {
        match b[i] {
            b'"' => return (Some(i), i),
            b'\\' => {
                let len = match b.get(i + 1) {
                    Some(b'u') => 6,
                    Some(_) => 2,
                    None => break,
                };
                let whole = b
                    .get(i + 2..i + len)
                    .is_some_and(|hex| len == 2 || hex.iter().all(u8::is_ascii_hexdigit));
                if !whole {
                    break;
                }
                i += len;
                good = i;
            }
            _ => {
                i += 1;
                good = i;
            }
        }
    }
    // `good` may fall inside a multi-byte character only if the text was cut there, which the
    // caller has already trimmed; step back to a boundary anyway.
    while good > from && b.get(good).is_some_and(|&c| (c & 0xC0) == 0x80) {
        good -= 1;
    }
    (None, good)
}

fn close(out: &mut String, stack: &[u8]) {
    for &open in stack.iter().rev() {
        out.push(if open == b'{' { '}' } else { ']' });
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::close_cut_json;

    fn closed(s: &str) -> Option<String> {
        close_cut_json(s)
    }

    #[test]
    fn a_cut_string_value_keeps_what_it_has() {
        let line = r#"{"timestamp":"2026-11-22T06:57:51","level":"ERROR","message":"Unexpected error","exception":"Traceback (most recent call last):\n  File \"a.py\", line 1"#;
        let got = closed(line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(
            v["exception"],
            "Traceback (most recent call last):\n  File \"a.py\", line 1"
        );
        // Cut inside an escape: the escape goes.
        assert_eq!(closed(r#"{"m":"a\"#).unwrap(), r#"{"m":"a"}"#);
        assert_eq!(closed(r#"{"m":"a\u00e"#).unwrap(), r#"{"m":"a"}"#);
        assert_eq!(closed(r#"{"m":"a\u00e9"#).unwrap(), r#"{"m":"a\u00e9"}"#);
    }

    #[test]
    fn unfinished_members_go_back_to_the_last_complete_one() {
        for (cut, want) in [
            (r#"{"a":1,"b"#, r#"{"a":1}"#),
            (r#"{"a":1,"b":"#, r#"{"a":1}"#),
            (r#"{"a":1,"b":tr"#, r#"{"a":1}"#),
            (r#"{"a":12"#, r#"{}"#),
            (r#"{"a":[1,{"x":"#, r#"{"a":[1,{}]}"#),
            (r#"{"a":{"b":[true,"#, r#"{"a":{"b":[true]}}"#),
            (r#"{"a":1} trailing"#, r#"{"a":1}"#),
            ("{", "{}"),
        ] {
            assert_eq!(closed(cut).as_deref(), Some(want), "{cut}");
        }
        assert_eq!(closed("not json"), None);
        assert_eq!(closed(""), None);
    }

    fn json_object() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
            "[\"\\\\\\n\\t\u{1}é😀a]{0,6}".prop_map(serde_json::Value::from),
        ];
        let value = leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z\"\\\\é]{0,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z\"é]{0,4}", value, 0..5)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()).to_string())
    }

    proptest! {
        /// Every cut of a JSON object closes into valid JSON that starts with a prefix of
        /// the cut; cut after the object, it is the object.
        #[test]
        fn every_cut_closes_into_json(doc in json_object(), pretty in any::<bool>()) {
            let doc = if pretty {
                serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&doc).unwrap()).unwrap()
            } else {
                doc
            };
            for (cut, _) in doc.char_indices().skip(1) {
                let text = &doc[..cut];
                let out = close_cut_json(text);
                prop_assert!(out.is_some(), "{text:?}");
                let out = out.unwrap_or_default();
                prop_assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "{text:?} → {out:?}");
                // What is not the cut text's own is only closing quotes and brackets.
                let same = out.bytes().zip(text.bytes()).take_while(|(a, b)| a == b).count();
                prop_assert!(out[same..].bytes().all(|c| matches!(c, b'"' | b'}' | b']')), "{text:?} → {out:?}");
            }
            let whole = close_cut_json(&doc);
            prop_assert_eq!(whole.as_deref(), Some(doc.as_str()));
        }
    }
}
