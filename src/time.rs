//! Timestamp parsing to UTC nanoseconds, and RFC 3339 formatting.
//!
//! Role: turn the timestamps found in log lines (`2026-11-22T07:08:59.290935Z`,
//! Python's naive `2026-11-22 07:00:00,432`, `...+02:00`) into [`Nanos`] since
//! the Unix epoch, fast and without allocation, and format them back.
//!
//! Invariants:
//! - Hand-written fixed-position parser: no regex, no allocation, never panics.
//! - Range: every instant representable as `i64` nanoseconds is accepted,
//!   i.e. 1677-09-21T00:12:43.145224192Z ..= 2262-04-11T23:47:16.854775807Z
//!   (including instants before 1970, as negative values). Well-formed
//!   timestamps outside that range (e.g. year 9999) return `None`: they cannot
//!   be represented, not because they are malformed.
//! - Leap seconds: `:60` is accepted and clamped to `:59.999999999` of the same
//!   minute (any fraction is dropped), so ordering is preserved and the
//!   result stays inside the minute.
//! - [`format_rfc3339_nanos`] and [`parse_timestamp`] round-trip exactly.

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 for a proleptic Gregorian date (month 1..=12,
/// day 1..=31). Works for any year; computed via 400-year eras whose years
/// start on March 1st so that the leap day is the last day of the year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year so it starts in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let month_from_march = i64::from((month + 9) % 12); // Mar=0 .. Feb=11
    // Day of the (March-based) year: month lengths 31,30,31,30,31 repeat,
    // which (153*m + 2) / 5 reproduces.
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 = days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // Mar=0 .. Feb=11
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses exactly `n` ASCII digits at `s[at..at+n]`.
#[inline]
fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let d = s.get(at..at + n)?;
    let mut v = 0u32;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses the zone after its sign: `HH:MM`, `HHMM` or `HH`. Returns the
/// offset in seconds (unsigned) and the number of bytes used.
fn zone_after_sign(s: &[u8]) -> Option<(i64, usize)> {
    let h = digits(s, 0, 2)?;
    let (m, used) = match s.get(2) {
        None => (0, 2),
        Some(b':') => (digits(s, 3, 2)?, 5),
        Some(_) => (digits(s, 2, 2)?, 4),
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((i64::from(h) * 3600 + i64::from(m) * 60, used))
}

/// Seconds since the epoch at the start of the minute `s` begins with (`2026-11-22T06:57`,
/// `T`, `t` or a space between date and time), validated. Consecutive lines nearly always share
/// it, so each thread remembers the last one: the date is parsed once a minute, not per line.
fn minute_start(s: &[u8]) -> Option<i64> {
    thread_local! {
        // `None` until a minute was validated: no key matches an untouched memo.
        static LAST: std::cell::Cell<Option<([u8; 16], i64)>> = const { std::cell::Cell::new(None) };
    }
    let key: [u8; 16] = s.get(..16)?.try_into().ok()?;
    if let Some((last_key, last)) = LAST.get()
        && key == last_key
    {
        return Some(last);
    }
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    let hour = digits(s, 11, 2)?;
    let minute = digits(s, 14, 2)?;
    if s.get(4) != Some(&b'-')
        || s.get(7) != Some(&b'-')
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
        || s.get(13) != Some(&b':')
    {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
    {
        return None;
    }
    let start = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60;
    LAST.set(Some((key, start)));
    Some(start)
}

/// Parses a timestamp to UTC nanoseconds.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS` (separator `T`, `t` or one space), an
/// optional fraction introduced by `.` or `,` with 1+ digits (only the first
/// 9 are used, the rest truncated), and an optional zone `Z`/`z`, `±HH:MM`,
/// `±HHMM` or `±HH`. Without a zone, `assume_offset_secs` (a fixed UTC offset
/// in seconds, e.g. for Python's naive `2026-11-22 07:00:00,432`) is applied:
/// local = UTC + offset. Anything else, including trailing bytes, an invalid
/// month/day/hour/minute/second, or an out-of-range result, gives `None`.
/// `:60` leap seconds become `:59.999999999`.
pub fn parse_timestamp(s: &[u8], assume_offset_secs: i32) -> Option<Nanos> {
    let minute_start = minute_start(s)?;
    let mut second = digits(s, 17, 2)?;
    if s.get(16) != Some(&b':') || second > 60 {
        return None;
    }

    let mut i = 19;
    let mut frac: i64 = 0;
    if matches!(s.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        let mut used = 0u32;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if used < 9 {
                frac = frac * 10 + i64::from(c - b'0');
                used += 1;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        frac *= 10i64.pow(9 - used);
    }

    let offset: i64 = match s.get(i) {
        None => i64::from(assume_offset_secs),
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (off, used) = zone_after_sign(s.get(i + 1..)?)?;
            i += 1 + used;
            if sign == b'-' { -off } else { off }
        }
        Some(_) => return None,
    };
    if i != s.len() {
        return None;
    }

    if second == 60 {
        second = 59;
        frac = NANOS_PER_SEC - 1;
    }
    let secs = minute_start + i64::from(second) - offset;
    let ns = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(frac);
    i64::try_from(ns).ok()
}

/// Whether a time [`parse_timestamp`] accepted names its zone (`Z`, `+02:00`, `-0500`…); the
/// zone, when there is one, follows the seconds (`YYYY-MM-DDTHH:MM:SS` is 19 bytes).
pub fn has_zone(s: &[u8]) -> bool {
    s.get(19..)
        .is_some_and(|rest| rest.iter().any(|&b| matches!(b, b'Z' | b'z' | b'+' | b'-')))
}

/// Appends `ns` as RFC 3339 UTC with exactly 9 fraction digits and `Z`,
/// e.g. `2026-11-22T07:08:59.290935000Z`, to `out` (no intermediate allocation).
pub fn write_rfc3339_nanos(ns: Nanos, out: &mut String) {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let sub = ns.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);

    // Every i64 instant falls in years 1677..=2262: always 4 digits.
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for k in (at..at + width).rev() {
            if let Some(slot) = buf.get_mut(k) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, u64::from(month));
    put(8, 2, u64::from(day));
    put(11, 2, (sod / 3600) as u64);
    put(14, 2, (sod / 60 % 60) as u64);
    put(17, 2, (sod % 60) as u64);
    put(20, 9, sub as u64);
    // The buffer only ever holds ASCII.
    out.extend(buf.iter().map(|&c| c as char));
}

/// Formats `ns` as RFC 3339 UTC with exactly 9 fraction digits and `Z`,
/// e.g. `2026-11-22T07:08:59.290935000Z`.
pub fn format_rfc3339_nanos(ns: Nanos) -> String {
    let mut s = String::with_capacity(30);
    write_rfc3339_nanos(ns, &mut s);
    s
}

/// Parses a fixed UTC offset to seconds: `UTC`, `GMT`, `Z` (any case) -> 0;
/// `+02:00`, `-0530`, `+2`, `+05`, `-5:30`, optionally prefixed by
/// `UTC`/`GMT` (`UTC+2`). Hours up to 23, minutes up to 59; surrounding
/// whitespace is ignored. `None` for anything else.
pub fn parse_offset(s: &str) -> Option<i32> {
    let t = s.trim();
    let b = t.as_bytes();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let b = match b.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"utc") || p.eq_ignore_ascii_case(b"gmt") => {
            b.get(3..)?
        }
        _ => b,
    };
    let (&sign, rest) = b.split_first()?;
    let neg = match sign {
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    let num = |d: &[u8]| -> Option<u32> {
        if d.is_empty() || d.len() > 2 || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0, |v, &c| v * 10 + u32::from(c - b'0')))
    };
    let (h, m) = if let Some(colon) = rest.iter().position(|&c| c == b':') {
        let (hh, mm) = (rest.get(..colon)?, rest.get(colon + 1..)?);
        if mm.len() != 2 {
            return None;
        }
        (num(hh)?, num(mm)?)
    } else {
        match rest.len() {
            1 | 2 => (num(rest)?, 0),
            3 | 4 => {
                let split = rest.len() - 2;
                (num(rest.get(..split)?)?, num(rest.get(split..)?)?)
            }
            _ => return None,
        }
    };
    if h > 23 || m > 59 {
        return None;
    }
    let secs = (h * 3600 + m * 60) as i32;
    Some(if neg { -secs } else { secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<Nanos> {
        parse_timestamp(s.as_bytes(), 0)
    }

    fn f(ns: Option<Nanos>) -> Option<String> {
        ns.map(format_rfc3339_nanos)
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            (
                "2026-11-22T06:57:50.391491",
                "2026-11-22T06:57:50.391491000Z",
            ),
            ("2026-11-22T06:57:50", "2026-11-22T06:57:50.000000000Z"),
            (
                "2026-11-22T07:01:14.137850Z",
                "2026-11-22T07:01:14.137850000Z",
            ),
            ("2026-11-22 07:00:00,432", "2026-11-22T07:00:00.432000000Z"),
            (
                "2025-10-27T12:00:00.123456789Z",
                "2025-10-27T12:00:00.123456789Z",
            ),
            (
                "2026-11-22T06:54:16.379285856+00:00",
                "2026-11-22T06:54:16.379285856Z",
            ),
            (
                "2026-11-22T06:55:36.76989152Z",
                "2026-11-22T06:55:36.769891520Z",
            ),
            (
                "2026-11-22T07:00:00.5+07:00",
                "2026-11-22T00:00:00.500000000Z",
            ),
            (
                "2026-11-22T07:00:00.5+0700",
                "2026-11-22T00:00:00.500000000Z",
            ),
            ("2026-11-22T07:00:00.5+07", "2026-11-22T00:00:00.500000000Z"),
            (
                "2026-11-22T07:00:00-05:30",
                "2026-11-22T12:30:00.000000000Z",
            ),
            (
                "2026-01-01T01:00:00+02:00",
                "2025-12-31T23:00:00.000000000Z",
            ),
            ("2026-11-22t07:00:00z", "2026-11-22T07:00:00.000000000Z"),
            (
                "2026-11-22T07:00:00.1234567891234Z",
                "2026-11-22T07:00:00.123456789Z",
            ),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000000Z"),
            (
                "2024-02-29T23:59:59.999999999Z",
                "2024-02-29T23:59:59.999999999Z",
            ),
            ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000000Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000000Z"),
            (
                "2262-04-11T23:47:16.854775807Z",
                "2262-04-11T23:47:16.854775807Z",
            ),
            (
                "1677-09-21T00:12:43.145224192Z",
                "1677-09-21T00:12:43.145224192Z",
            ),
            // Leap second clamps to the end of :59.
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999999Z"),
            ("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999999999Z"),
        ];
        for (input, want) in cases {
            assert_eq!(f(p(input)).as_deref(), Some(want), "{input}");
        }
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(p("1969-12-31T23:59:59.5Z"), Some(-500_000_000));
        assert_eq!(p("2262-04-11T23:47:16.854775807Z"), Some(i64::MAX));
        assert_eq!(p("1677-09-21T00:12:43.145224192Z"), Some(i64::MIN));
    }

    #[test]
    fn assumed_offset_only_without_zone() {
        let naive = parse_timestamp(b"2026-11-22 07:00:00,432", 3600);
        assert_eq!(f(naive).as_deref(), Some("2026-11-22T06:00:00.432000000Z"));
        let zoned = parse_timestamp(b"2026-11-22T07:00:00.432Z", 3600);
        assert_eq!(f(zoned).as_deref(), Some("2026-11-22T07:00:00.432000000Z"));
        let zoned = parse_timestamp(b"2026-11-22T07:00:00+00:00", -7200);
        assert_eq!(f(zoned).as_deref(), Some("2026-11-22T07:00:00.000000000Z"));
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "",
            "2026",
            "2026-11-22",
            "2026-11-22T07:00",
            "2026-11-22T07:00:0",
            "2026-13-01T00:00:00",
            "2026-00-01T00:00:00",
            "2026-11-00T00:00:00",
            "2026-11-31T00:00:00",
            "2026-02-29T00:00:00",
            "1900-02-29T00:00:00",
            "2026-11-22T24:00:00",
            "2026-11-22T23:60:00",
            "2026-11-22T23:59:61",
            "2026-11-22X07:00:00",
            "2026-11-22  07:00:00",
            "2026/11/22T07:00:00",
            "2026-11-22T07:00:00.",
            "2026-11-22T07:00:00,Z",
            "2026-11-22T07:00:00.5ZZ",
            "2026-11-22T07:00:00Z ",
            "2026-11-22T07:00:00 ",
            "2026-11-22T07:00:00.5 extra",
            "2026-11-22T07:00:00+7",
            "2026-11-22T07:00:00+07:0",
            "2026-11-22T07:00:00+07:000",
            "2026-11-22T07:00:00+070",
            "2026-11-22T07:00:00+24:00",
            "2026-11-22T07:00:00+07:60",
            "2026-11-22T07:00:00+",
            "+026-11-22T07:00:00",
            "2026-1a-22T07:00:00",
            "९९९९-11-22T07:00:00",
            // Well-formed but not representable in i64 nanoseconds.
            "9999-12-31T23:59:59Z",
            "2262-04-11T23:47:16.854775808Z",
            "1677-09-21T00:12:43.145224191Z",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
        assert_eq!(parse_timestamp(b"2026-11-22T07:00:00\xff", 0), None);
    }

    #[test]
    fn offsets() {
        let cases = [
            ("UTC", Some(0)),
            ("utc", Some(0)),
            ("Z", Some(0)),
            ("GMT", Some(0)),
            ("+02:00", Some(7200)),
            ("-0530", Some(-19800)),
            ("+2", Some(7200)),
            ("-2", Some(-7200)),
            ("+05", Some(18000)),
            ("+530", Some(19800)),
            ("-5:30", Some(-19800)),
            ("UTC+2", Some(7200)),
            ("utc-03:30", Some(-12600)),
            (" +01:00 ", Some(3600)),
            ("+00:00", Some(0)),
            ("", None),
            ("+", None),
            ("2", None),
            ("+24", None),
            ("+02:60", None),
            ("+02:0", None),
            ("+02:", None),
            ("+123456", None),
            ("+ab", None),
            ("EST", None),
            ("UTC+", None),
            ("++2", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_offset(input), want, "{input:?}");
        }
    }

    #[test]
    fn civil_days_consistency() {
        // Walk every day from 1600 to 2400 and check both directions against a
        // simple day counter.
        let mut expect = days_from_civil(1600, 1, 1);
        for year in 1600..2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expect);
                    assert_eq!(civil_from_days(expect), (year, month, day));
                    expect += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    /// A fresh thread's minute memo matches nothing, not even sixteen zero bytes.
    #[test]
    fn the_minute_memo_starts_empty() {
        let s = [&[0u8; 16][..], b":00Z"].concat();
        let got = std::thread::spawn(move || parse_timestamp(&s, 0))
            .join()
            .unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn write_appends() {
        let mut s = String::from("t=");
        write_rfc3339_nanos(1, &mut s);
        assert_eq!(s, "t=1970-01-01T00:00:00.000000001Z");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Independent reference: count days year by year.
        fn ref_days(year: i64, month: u32, day: u32) -> i64 {
            let mut d = 0;
            for y in 1970..year {
                d += if is_leap(y) { 366 } else { 365 };
            }
            for m in 1..month {
                d += i64::from(days_in_month(year, m));
            }
            d + i64::from(day) - 1
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

            #[test]
            fn roundtrip(ns in any::<i64>()) {
                let s = format_rfc3339_nanos(ns);
                prop_assert_eq!(s.len(), 30);
                prop_assert_eq!(parse_timestamp(s.as_bytes(), 12345), Some(ns), "{}", s);
            }

            #[test]
            fn components_match_reference(
                year in 1970i64..2262,
                month in 1u32..=12,
                day_seed in 0u32..31,
                hour in 0u32..24,
                minute in 0u32..60,
                second in 0u32..60,
                frac in prop::collection::vec(0u8..10, 0..12),
                comma in any::<bool>(),
                space in any::<bool>(),
                zone in 0u8..5,
                off_min in -1439i32..=1439,
            ) {
                let day = day_seed % days_in_month(year, month) + 1;
                let mut s = format!(
                    "{year:04}-{month:02}-{day:02}{}{hour:02}:{minute:02}:{second:02}",
                    if space { ' ' } else { 'T' }
                );
                let mut frac_ns = 0i64;
                if !frac.is_empty() {
                    s.push(if comma { ',' } else { '.' });
                    for (k, d) in frac.iter().enumerate() {
                        s.push(char::from(b'0' + d));
                        if k < 9 {
                            frac_ns += i64::from(*d) * 10i64.pow(8 - k as u32);
                        }
                    }
                }
                let (oh, om) = (off_min.unsigned_abs() / 60, off_min.unsigned_abs() % 60);
                let sign = if off_min < 0 { '-' } else { '+' };
                let offset_secs = match zone {
                    0 => { s.push('Z'); 0 }
                    1 => { s.push_str(&format!("{sign}{oh:02}:{om:02}")); off_min * 60 }
                    2 => { s.push_str(&format!("{sign}{oh:02}{om:02}")); off_min * 60 }
                    3 => { s.push_str(&format!("{sign}{oh:02}")); (off_min / 60) * 3600 }
                    _ => off_min * 60, // naive: assumed offset
                };
                let secs = ref_days(year, month, day) * 86_400
                    + i64::from(hour * 3600 + minute * 60 + second)
                    - i64::from(offset_secs);
                let want = i64::try_from(i128::from(secs) * 1_000_000_000 + i128::from(frac_ns)).ok();
                let assume = if zone == 4 { off_min * 60 } else { -999 };
                prop_assert_eq!(parse_timestamp(s.as_bytes(), assume), want, "{}", s);
            }

            /// The per-thread memo of the last minute: a timestamp parses the same whether its
            /// minute was just seen (even in an invalid timestamp) or not.
            #[test]
            fn the_minute_memo_changes_no_result(
                minute in "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]",
                tails in prop::collection::vec(":[0-6][0-9]([.,][0-9]{0,4})?(Z|[+-][0-9]{2})?x?", 1..5),
            ) {
                for tail in &tails {
                    let s = format!("{minute}{tail}");
                    let _ = parse_timestamp(b"1999-01-01T00:00:00Z", 0);
                    let fresh = parse_timestamp(s.as_bytes(), 3600);
                    let _ = parse_timestamp(format!("{minute}{}", tails[0]).as_bytes(), 0);
                    prop_assert_eq!(parse_timestamp(s.as_bytes(), 3600), fresh, "{}", s);
                }
            }

            #[test]
            fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..48), off in any::<i32>()) {
                let _ = parse_timestamp(&bytes, off);
                let _ = parse_offset(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn never_panics_near_valid(
                base in "(19|20|22)[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]:[0-6][0-9]([.,][0-9]{0,12})?([Zz]|[+-][0-9]{1,2}(:?[0-9]{0,3}))?",
            ) {
                if let Some(ns) = parse_timestamp(base.as_bytes(), 0) {
                    let back = format_rfc3339_nanos(ns);
                    prop_assert_eq!(parse_timestamp(back.as_bytes(), 0), Some(ns));
                }
            }
        }
    }
}
