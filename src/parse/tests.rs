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
