use super::*;

#[test]
fn first_bytes_of_anchored_formats() {
    let skreaver = r"^(?P<ts>[0-9]{4}-[0-9]{2}-[0-9]{2}T) +(?P<level>INFO|WARN) (?P<message>.*)$";
    let set = first_bytes(skreaver).expect("timestamp regex starts with a digit");
    let allowed: Vec<u8> = (0..=255u8).filter(|&b| set[usize::from(b)]).collect();
    assert_eq!(allowed, b"0123456789");

    let set = first_bytes(r"^(?P<level>DEBUG|INFO|WARNING):").expect("alternation of literals");
    assert!(set[usize::from(b'D')] && set[usize::from(b'I')] && set[usize::from(b'W')]);
    assert!(!set[usize::from(b'E')]);

    let set = first_bytes(r"(?i)^info").expect("case-insensitive literal");
    assert!(set[usize::from(b'i')] && set[usize::from(b'I')]);

    // Unknown first byte, or not anchored: every line must still be tried.
    assert!(first_bytes(r"^(?P<file>[^ ]+\.py):").is_none());
    assert!(first_bytes(r"panicked at").is_none());
    assert!(first_bytes(r"^(?:x)?y").is_some_and(|s| s[usize::from(b'x')] && s[usize::from(b'y')]));
}

/// Escapes are decoded wherever they are — in a mapped key, in a value — whether the line has
/// other backslashes or none (lines without any skip the per-key and per-value checks).
#[test]
fn escaped_keys_and_values() {
    let reg = Registry::load(None).expect("built-in parsers");
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: false,
    };
    let base = r#""level":"INFO","logger":"a","module":"m","function":"f","line":1"#;
    let cases = [
        // An escaped mapped key, nothing else escaped.
        (
            format!(r#"{{"\u0074imestamp":"2026-11-22T07:00:00Z",{base},"message":"plain"}}"#),
            "plain",
        ),
        // An escaped value, plain keys.
        (
            format!(r#"{{"timestamp":"2026-11-22T07:00:00Z",{base},"message":"a\"b"}}"#),
            "a\"b",
        ),
        // Both, and a backslash elsewhere in the line.
        (
            format!(
                r#"{{"\u0074imestamp":"2026-11-22T07:00:00Z",{base},"message":"c\\d","x":"\n"}}"#
            ),
            "c\\d",
        ),
        // No backslash at all.
        (
            format!(r#"{{"timestamp":"2026-11-22T07:00:00Z",{base},"message":"e"}}"#),
            "e",
        ),
    ];
    for (line, message) in &cases {
        let Parsed::Event { ev, .. } = reg.parse(line, &opts, &mut reg.scratch()) else {
            panic!("{line}")
        };
        assert_eq!(ev.ts, Some(1_795_330_800_000_000_000), "{line}");
        assert_eq!(ev.get(Slot::Message), Some(*message), "{line}");
    }
}

/// Key lookups compare integer fingerprints (first and last 8 bytes): keys of every length
/// that differ in any one byte stay apart, and each finds its own slot.
#[test]
fn key_table_tells_apart_keys_differing_in_one_byte() {
    let mut table = KeyTable::default();
    let mut keys = Vec::new();
    for len in 0..20usize {
        let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        keys.push(base.clone());
        for at in 0..len {
            let mut k = base.clone();
            k[at] = b'_';
            keys.push(k);
        }
    }
    for (slot, k) in keys.iter().enumerate() {
        let name = std::str::from_utf8(k).expect("ascii");
        assert_eq!(
            table.slot(name, slot as u8),
            slot as u8,
            "{name:?} collided"
        );
    }
    for (slot, k) in keys.iter().enumerate() {
        assert_eq!(
            table.get(k),
            Some(slot as u8),
            "{:?}",
            String::from_utf8_lossy(k)
        );
    }
    assert_eq!(table.get(b"not a key at all"), None);
}

/// Epoch numbers are read exactly as written (through `f64`, `.123` s became `.122999808`), in
/// any unit the magnitude implies; what is not plain digits falls back to `f64`.
#[test]
fn epoch_numbers_are_exact() {
    let cases: [(&str, Option<Nanos>); 9] = [
        ("1795000000.123", Some(1_795_000_000_123_000_000)),
        ("1795000000", Some(1_795_000_000_000_000_000)),
        ("1795000000.123456789123", Some(1_795_000_000_123_456_789)),
        ("1795000000123", Some(1_795_000_000_123_000_000)),
        ("1795000000123.5", Some(1_795_000_000_123_500_000)),
        ("1795000000123456", Some(1_795_000_000_123_456_000)),
        ("1795000000123456789", Some(1_795_000_000_123_456_789)),
        ("1.795e9", None),
        ("-5", None),
    ];
    for (text, want) in cases {
        assert_eq!(epoch_text_to_nanos(text.as_bytes()), want, "{text}");
    }
    // Through a JSON line of a format that maps `ts`.
    let reg = Registry::load(None).expect("built-in parsers");
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: false,
    };
    let line = r#"{"time":1795000000.123,"level":"info","msg":"m"}"#;
    let mut scratch = reg.scratch();
    let mut ev = Event::default();
    reg.parse_into(line, &opts, &mut scratch, &mut ev);
    assert_eq!(ev.ts, Some(1_795_000_000_123_000_000));
}

#[test]
fn client_addresses_lose_their_port_not_their_address() {
    for (addr, ip) in [
        ("10.0.0.5:50000", "10.0.0.5"),
        ("[::1]:60902", "::1"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7:48001", "2001:db8::7"),
        ("host.example:8080", "host.example"),
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.5:", "10.0.0.5:"),
        (":80", ":80"),
        ("", ""),
    ] {
        assert_eq!(without_port(addr), ip, "{addr}");
    }
}
