//! Lazy, zero-copy scanner for one-JSON-object-per-line logs.
//!
//! Role: [`parse_object`] checks the *structure* of a line once (balanced
//! braces/brackets, terminated strings, escape shapes, commas and colons in
//! place, only whitespace after the closing brace) without allocating and
//! without decoding anything. Afterwards the caller pulls out just the values
//! it needs through [`Raw`] accessors ([`Raw::get`], [`Raw::get_path`],
//! [`Raw::entries`]), which walk the bytes lazily and only decode what is
//! asked for ([`Raw::as_str`] borrows when the string has no escapes).
//!
//! Invariants and leniencies:
//! - A [`Raw`] is always a sub-slice of the input line; no accessor copies
//!   bytes except [`Raw::as_str`] on a string that contains a backslash.
//! - Nothing in this module panics or loops forever on any input bytes, and
//!   accessors on a [`Raw`] that was *not* produced by [`parse_object`]
//!   (e.g. `Raw(b"garbage")`) return `None`/empty rather than panicking.
//! - The scanner is deliberately looser than RFC 8259 where strictness would
//!   cost speed: raw control bytes and invalid UTF-8 inside strings are not
//!   rejected (invalid UTF-8 makes [`Raw::as_str`] return `None`), numbers may
//!   have leading zeros, duplicate keys are kept (lookups return the first).
//! - Nesting deeper than [`MAX_DEPTH`] is rejected with [`ScanError::TooDeep`]
//!   so that validation needs no heap and no recursion.
//!
//! With AVX2 (detected at run time) `blocks` indexes a line's quotes and skips containers 64
//! bytes at a time. The two calls into it are the crate's only `unsafe`; the byte-wise walk
//! runs without AVX2, and property tests hold the block code to it.

use std::borrow::Cow;
use std::fmt;

use memchr::{memchr, memchr2};

/// Maximum nesting depth of objects/arrays accepted by [`parse_object`].
pub const MAX_DEPTH: usize = 1024;

/// A raw JSON value: the exact byte slice of the value in the input (e.g. `"a\"b"`, `12.5`, `{"x":1}`, `null`).
///
/// Strings keep their surrounding quotes and escapes; objects and arrays
/// include their brackets and any inner whitespace. There is no leading or
/// trailing whitespace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Raw<'a>(pub &'a [u8]);

/// The JSON type of a [`Raw`] value, decided by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `"..."`
    String,
    /// `-?digits[.digits][e[+-]digits]`
    Number,
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// `true` / `false`
    Bool,
    /// `null`
    Null,
}

/// Why [`parse_object`] rejected a line. Offsets are byte offsets into the
/// line as passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The first non-whitespace byte is not `{` (or the line is blank).
    NotAnObject,
    /// The input ended inside the object (unclosed string, bracket, literal...).
    Truncated,
    /// A byte that is not allowed at this position.
    Unexpected {
        /// Byte offset of the offending byte.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// Something other than whitespace follows the closing brace.
    TrailingData {
        /// Byte offset of the first non-whitespace byte after the object.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Byte offset of the bracket that exceeded the limit.
        offset: usize,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScanError::NotAnObject => f.write_str("not a JSON object"),
            ScanError::Truncated => f.write_str("truncated JSON"),
            ScanError::Unexpected { offset, byte } => {
                if byte.is_ascii_graphic() {
                    write!(f, "unexpected byte '{}' at offset {offset}", byte as char)
                } else {
                    write!(f, "unexpected byte 0x{byte:02x} at offset {offset}")
                }
            }
            ScanError::TrailingData { offset } => {
                write!(f, "trailing data after JSON object at offset {offset}")
            }
            ScanError::TooDeep { offset } => {
                write!(f, "nesting deeper than {MAX_DEPTH} at offset {offset}")
            }
        }
    }
}

impl std::error::Error for ScanError {}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Scan a whole line as one JSON object: validates structure (balanced
/// braces/brackets, terminated strings, valid escape shapes, commas/colons in
/// place, only whitespace after the closing brace) and returns the object's
/// slice (without surrounding whitespace), or an error telling why.
///
/// Leading/trailing ASCII whitespace (including a trailing `\r`) is allowed.
/// Does not allocate; strings are skipped with `memchr2`.
pub fn parse_object(line: &[u8]) -> Result<Raw<'_>, ScanError> {
    let Some(start) = line.iter().position(|c| !c.is_ascii_whitespace()) else {
        return Err(ScanError::NotAnObject);
    };
    if line.get(start) != Some(&b'{') {
        return Err(ScanError::NotAnObject);
    }
    let end = scan_object(line, start)?;
    let rest = line.get(end..).unwrap_or(&[]);
    if let Some(p) = rest.iter().position(|c| !c.is_ascii_whitespace()) {
        return Err(ScanError::TrailingData { offset: end + p });
    }
    match line.get(start..end) {
        Some(obj) => Ok(Raw(obj)),
        None => Err(ScanError::Truncated),
    }
}

pub(crate) use blocks::Quotes;

/// Walk the top-level members of the object on `line`, calling `f(key, value)` for each, in
/// one pass. This is the fast path for callers that read members anyway: the walk itself checks
/// that the object is closed with only whitespace after it (so truncated lines are rejected),
/// while nested values are only bracket-matched, not validated (use [`parse_object`] for that).
/// Each string's end is found in `quotes` when given ([`Quotes::of`] the same line: a bit per
/// unescaped quote), else by searching the bytes.
///
/// # Errors
/// Why the line is not one complete object; `f` may have seen some members before.
// Inlined into its one hot caller: as a call, with `f` a call per member, it costs ~16 % more
// (callgrind, 50k-line corpus), and LLVM's own choice flips with unrelated changes.
#[inline(always)]
pub(crate) fn visit_object<'a>(
    line: &'a [u8],
    quotes: Option<&Quotes>,
    mut f: impl FnMut(Raw<'a>, Raw<'a>),
) -> Result<Raw<'a>, ScanError> {
    let string_end = |i: usize| match quotes {
        Some(q) => q.next(i + 1).map(|k| k + 1),
        None => skip_string(line, i),
    };
    let start = skip_ws(line, 0);
    if line.get(start) != Some(&b'{') {
        return Err(ScanError::NotAnObject);
    }
    let unexpected = |offset: usize| match line.get(offset) {
        Some(&byte) => ScanError::Unexpected { offset, byte },
        None => ScanError::Truncated,
    };
    let mut i = skip_ws(line, start + 1);
    if line.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if line.get(i) != Some(&b'"') {
                return Err(unexpected(i));
            }
            let kend = string_end(i).ok_or(ScanError::Truncated)?;
            let mut j = skip_ws(line, kend);
            if line.get(j) != Some(&b':') {
                return Err(unexpected(j));
            }
            j = skip_ws(line, j + 1);
            let vend = match line.get(j) {
                Some(b'"') => string_end(j),
                _ => skip_value(line, j),
            }
            .ok_or_else(|| unexpected(j))?;
            f(Raw(&line[i..kend]), Raw(&line[j..vend]));
            i = skip_ws(line, vend);
            match line.get(i) {
                Some(b',') => i = skip_ws(line, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(unexpected(i)),
            }
        }
    }
    let end = skip_ws(line, i);
    if end < line.len() {
        return Err(ScanError::TrailingData { offset: end });
    }
    Ok(Raw(&line[start..i]))
}

/// Fixed-size bit stack of open containers: bit set = object, clear = array.
struct Stack {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Stack {
    fn new() -> Self {
        Stack {
            bits: [0; MAX_DEPTH / 64],
            depth: 0,
        }
    }

    /// Returns false when the depth limit is reached.
    fn push(&mut self, is_obj: bool) -> bool {
        let d = self.depth;
        let Some(word) = self.bits.get_mut(d / 64) else {
            return false;
        };
        let mask = 1u64 << (d % 64);
        if is_obj {
            *word |= mask;
        } else {
            *word &= !mask;
        }
        self.depth += 1;
        true
    }

    fn top_is_obj(&self) -> bool {
        match self.depth.checked_sub(1) {
            Some(d) => self
                .bits
                .get(d / 64)
                .is_some_and(|w| (w >> (d % 64)) & 1 == 1),
            None => false,
        }
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

#[derive(Clone, Copy)]
enum State {
    /// Just after `{`: a key or `}`.
    ObjFirst,
    /// After `,` in an object: a key.
    ObjKey,
    /// After a key: `:`.
    Colon,
    /// After `:` or `,` in an array: a value.
    Value,
    /// Just after `[`: a value or `]`.
    ArrFirst,
    /// After a value: `,` or the matching closer.
    After,
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if !is_ws(c) {
            break;
        }
        i += 1;
    }
    i
}

#[inline]
fn unexpected(offset: usize, byte: u8) -> ScanError {
    ScanError::Unexpected { offset, byte }
}

/// Validates the object starting at `b[start] == b'{'`; returns the index just
/// past its closing brace.
fn scan_object(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut stack = Stack::new();
    stack.push(true);
    let mut i = start + 1;
    let mut st = State::ObjFirst;
    loop {
        i = skip_ws(b, i);
        let Some(&c) = b.get(i) else {
            return Err(ScanError::Truncated);
        };
        match st {
            State::ObjFirst | State::ObjKey => {
                if c == b'"' {
                    i = scan_string(b, i)?;
                    st = State::Colon;
                } else if c == b'}' && matches!(st, State::ObjFirst) {
                    stack.pop();
                    i += 1;
                    if stack.depth == 0 {
                        return Ok(i);
                    }
                    st = State::After;
                } else {
                    return Err(unexpected(i, c));
                }
            }
            State::Colon => {
                if c != b':' {
                    return Err(unexpected(i, c));
                }
                i += 1;
                st = State::Value;
            }
            State::ArrFirst if c == b']' => {
                stack.pop();
                i += 1;
                if stack.depth == 0 {
                    return Ok(i);
                }
                st = State::After;
            }
            State::Value | State::ArrFirst => {
                match c {
                    b'"' => i = scan_string(b, i)?,
                    b'{' | b'[' => {
                        if !stack.push(c == b'{') {
                            return Err(ScanError::TooDeep { offset: i });
                        }
                        i += 1;
                        st = if c == b'{' {
                            State::ObjFirst
                        } else {
                            State::ArrFirst
                        };
                        continue;
                    }
                    b'-' | b'0'..=b'9' => i = scan_number(b, i)?,
                    b't' => i = scan_literal(b, i, b"true")?,
                    b'f' => i = scan_literal(b, i, b"false")?,
                    b'n' => i = scan_literal(b, i, b"null")?,
                    _ => return Err(unexpected(i, c)),
                }
                st = State::After;
            }
            State::After => {
                let is_obj = stack.top_is_obj();
                match c {
                    b',' => {
                        i += 1;
                        st = if is_obj { State::ObjKey } else { State::Value };
                    }
                    b'}' | b']' if (c == b'}') == is_obj => {
                        stack.pop();
                        i += 1;
                        if stack.depth == 0 {
                            return Ok(i);
                        }
                    }
                    _ => return Err(unexpected(i, c)),
                }
            }
        }
    }
}

/// Position of the first `"` or `\` in `hay`.
#[inline]
pub(crate) fn find_quote_or_backslash(hay: &[u8]) -> Option<usize> {
    find_any(hay, [b'"', b'\\'], |tail| memchr2(b'"', b'\\', tail))
}

/// Whether `bytes` (a JSON string's contents) hold an escape, i.e. need decoding.
#[inline]
pub fn has_backslash(bytes: &[u8]) -> bool {
    find_any(bytes, [b'\\'], |tail| memchr::memchr(b'\\', tail)).is_some()
}

/// Position of the first byte of `hay` that is one of `needles`.
///
/// Most hops in log JSON are short (a string, or the `":"` / `,"` between two), so the first
/// bytes are checked 8 at a time with a SWAR test; past them `long` (a SIMD `memchr`) takes
/// over, whose set-up costs more than a short hop.
#[inline]
fn find_any<const N: usize>(
    hay: &[u8],
    needles: [u8; N],
    long: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    const INLINE: usize = 32;
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of the lowest zero byte of `v` (higher bits may be
    // false positives, which is fine since only the lowest one is used).
    #[inline]
    fn zero_bytes(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    let mut k = 0;
    while k < INLINE {
        let Some(chunk) = hay.get(k..k + 8) else {
            break;
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let m = needles
            .iter()
            .fold(0, |m, &n| m | zero_bytes(w ^ (LO * u64::from(n))));
        if m != 0 {
            return Some(k + (m.trailing_zeros() / 8) as usize);
        }
        k += 8;
    }
    let tail = hay.get(k..)?;
    if k < INLINE {
        // Fewer than 8 bytes left.
        return tail.iter().position(|c| needles.contains(c)).map(|p| p + k);
    }
    long(tail).map(|p| p + k)
}

/// Validates the string starting at `b[i] == b'"'`; returns the index just
/// past its closing quote.
fn scan_string(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let mut j = i + 1;
    loop {
        let rest = b.get(j..).unwrap_or(&[]);
        let Some(p) = find_quote_or_backslash(rest) else {
            return Err(ScanError::Truncated);
        };
        let k = j + p;
        if b.get(k) == Some(&b'"') {
            return Ok(k + 1);
        }
        // Backslash at k.
        match b.get(k + 1) {
            None => return Err(ScanError::Truncated),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j = k + 2,
            Some(b'u') => {
                for h in k + 2..k + 6 {
                    match b.get(h) {
                        None => return Err(ScanError::Truncated),
                        Some(x) if x.is_ascii_hexdigit() => {}
                        Some(&x) => return Err(unexpected(h, x)),
                    }
                }
                j = k + 6;
            }
            Some(&x) => return Err(unexpected(k + 1, x)),
        }
    }
}

/// Number of ASCII digits starting at `i`.
#[inline]
fn count_digits(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// Requires at least one digit at `i`; returns the index past the digits.
#[inline]
fn require_digits(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let n = count_digits(b, i);
    if n == 0 {
        return Err(match b.get(i) {
            None => ScanError::Truncated,
            Some(&x) => unexpected(i, x),
        });
    }
    Ok(i + n)
}

/// Validates a number (loose grammar `-?digits[.digits][e[+-]digits]`).
fn scan_number(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    j = require_digits(b, j)?;
    if b.get(j) == Some(&b'.') {
        j = require_digits(b, j + 1)?;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        j = require_digits(b, j)?;
    }
    Ok(j)
}

fn scan_literal(b: &[u8], i: usize, lit: &[u8]) -> Result<usize, ScanError> {
    for (k, &want) in lit.iter().enumerate() {
        match b.get(i + k) {
            None => return Err(ScanError::Truncated),
            Some(&x) if x == want => {}
            Some(&x) => return Err(unexpected(i + k, x)),
        }
    }
    Ok(i + lit.len())
}

// ---------------------------------------------------------------------------
// Lenient skipping (used by accessors; assumes but does not require validity)
// ---------------------------------------------------------------------------

/// Skips the string at `b[i] == b'"'`; returns the index past the closing
/// quote, or `None` if unterminated.
#[inline]
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let p = find_quote_or_backslash(b.get(j..)?)?;
        let k = j + p;
        if b.get(k) == Some(&b'"') {
            return Some(k + 1);
        }
        j = k + 2;
    }
}

/// Skips one value starting at `i` (no leading whitespace); returns the index
/// just past it, or `None` if there is no well-formed value there.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => match blocks::skip_container(b, i) {
            Some(end) => end,
            None => skip_container(b, i),
        },
        b'}' | b']' | b',' | b':' => None,
        _ => {
            let mut j = i;
            while let Some(&c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b':') || is_ws(c) {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Skips the object or array starting at `b[i]`, hopping between quotes and brackets; the
/// reference for [`blocks::skip_container`], and what runs when that one declines.
fn skip_container(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i) {
        Some(&open @ (b'{' | b'[')) => {
            // Only brackets of the opening kind change the depth of a well-formed value, so
            // jump between quotes and those brackets instead of stepping byte by byte.
            let close = if open == b'{' { b'}' } else { b']' };
            let mut depth = 0usize;
            let mut j = i;
            let next = |hay: &[u8]| {
                find_any(hay, [b'"', open, close], |t| {
                    memchr::memchr3(b'"', open, close, t)
                })
            };
            while let Some(off) = next(b.get(j..)?) {
                j += off;
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    c if c == open => depth += 1,
                    _ => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                }
                j += 1;
            }
            None
        }
        _ => None,
    }
}

/// Containers skipped 64 bytes at a time: bit masks of the quotes and brackets of a block
/// (AVX2 compares), the bytes inside strings from a prefix XOR of the quotes, then only the
/// brackets outside strings are visited. Log JSON nests small objects full of short strings
/// (`fields`, `span`, `spans`, `extra`), where hopping from quote to quote costs a search per
/// string.
mod blocks {
    /// [`super::skip_container`]'s answer for the object or array at `b[i]`, or `None` when
    /// not decided here: no AVX2, or a backslash in a block (escapes need the byte-wise walk).
    pub(super) fn skip_container(b: &[u8], i: usize) -> Option<Option<usize>> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the one `unsafe` of the library: calling a function compiled for AVX2,
            // which this CPU has (checked just above). The function itself is safe code.
            #[allow(unsafe_code)]
            return unsafe { x86::skip_container(b, i) };
        }
        let _ = (b, i);
        None
    }

    /// Lines up to this long get a [`Quotes`] index (longer ones are searched byte-wise).
    const QUOTES_MAX: usize = 1024;

    /// The unescaped quotes of a line, a bit per byte: the end of every string of the line is
    /// then a bit search away. Top-level JSON members are mostly short strings, whose ends a
    /// search per string found at several times the cost of indexing the line once.
    pub(crate) struct Quotes {
        words: [u64; QUOTES_MAX / 64],
        /// The line holds a backslash (anywhere).
        backslash: bool,
    }

    impl Quotes {
        /// The index of `line`, when it is short enough and the CPU has AVX2.
        pub(crate) fn of(line: &[u8]) -> Option<Quotes> {
            #[cfg(target_arch = "x86_64")]
            if line.len() <= QUOTES_MAX && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as in `skip_container`: AVX2 is available (checked just above).
                #[allow(unsafe_code)]
                return Some(unsafe { x86::quotes(line) });
            }
            let _ = line;
            None
        }

        /// Whether the line holds a backslash (so some string may need decoding).
        pub(crate) fn has_backslash(&self) -> bool {
            self.backslash
        }

        /// Position of the first unescaped quote at or after `from`.
        #[inline]
        pub(super) fn next(&self, from: usize) -> Option<usize> {
            let mut w = from / 64;
            let mut bits = self.words.get(w)? & (!0u64 << (from % 64));
            loop {
                if bits != 0 {
                    return Some(w * 64 + bits.trailing_zeros() as usize);
                }
                w += 1;
                bits = *self.words.get(w)?;
            }
        }
    }

    /// Bits of the bytes a backslash escapes, given a block's backslash bits and whether the
    /// previous block ended with an escaping backslash; also returns that for this block.
    /// Backslashes are rare in log lines, so they are walked one by one.
    pub(super) fn escaped(backslashes: u64, carry: bool) -> (u64, bool) {
        let mut escaped = u64::from(carry);
        let mut carry_out = false;
        let mut rest = backslashes;
        while rest != 0 {
            let p = rest.trailing_zeros();
            rest &= rest - 1;
            if escaped >> p & 1 == 0 {
                if p == 63 {
                    carry_out = true;
                } else {
                    escaped |= 1 << (p + 1);
                }
            }
        }
        (escaped, carry_out)
    }

    /// Bit `k` set for each byte of a 64-byte block from an opening quote (inclusive) to its
    /// closing quote (exclusive), given the quote bits.
    pub(super) fn inside_strings(quotes: u64) -> u64 {
        let mut x = quotes;
        for shift in [1, 2, 4, 8, 16, 32] {
            x ^= x << shift;
        }
        x
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_movemask_epi8, _mm256_set_epi64x, _mm256_set1_epi8,
        };

        /// Bytes `at..at + 32` of `block` as a vector (a plain load once optimized).
        #[target_feature(enable = "avx2")]
        fn load(block: &[u8; 64], at: usize) -> __m256i {
            let word = |k: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&block[at + 8 * k..at + 8 * k + 8]);
                i64::from_le_bytes(w)
            };
            _mm256_set_epi64x(word(3), word(2), word(1), word(0))
        }

        /// Bits of the bytes of `block` equal to `c`.
        #[target_feature(enable = "avx2")]
        fn eq_mask(lo: __m256i, hi: __m256i, c: u8) -> u64 {
            let needle = _mm256_set1_epi8(c as i8);
            let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, needle)) as u32;
            let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, needle)) as u32;
            u64::from(lo) | u64::from(hi) << 32
        }

        /// The 64-byte blocks of `b`, the last one padded with zeros (which match nothing).
        fn each_block(b: &[u8], mut f: impl FnMut(usize, &[u8; 64]) -> bool) {
            let mut at = 0;
            while let Some(rest) = b.get(at..).filter(|r| !r.is_empty()) {
                let mut tail = [0u8; 64];
                let block = match rest.first_chunk::<64>() {
                    Some(block) => block,
                    None => {
                        tail[..rest.len()].copy_from_slice(rest);
                        &tail
                    }
                };
                if !f(at, block) {
                    return;
                }
                at += 64;
            }
        }

        #[target_feature(enable = "avx2")]
        pub(super) fn quotes(line: &[u8]) -> super::Quotes {
            let mut words = [0u64; super::QUOTES_MAX / 64];
            let (mut carry, mut backslash) = (false, false);
            each_block(line, |at, block| {
                let (lo, hi) = (load(block, 0), load(block, 32));
                let mut quotes = eq_mask(lo, hi, b'"');
                let backslashes = eq_mask(lo, hi, b'\\');
                backslash |= backslashes != 0;
                if backslashes != 0 || carry {
                    let (escaped, next) = super::escaped(backslashes, carry);
                    quotes &= !escaped;
                    carry = next;
                }
                if let Some(w) = words.get_mut(at / 64) {
                    *w = quotes;
                }
                true
            });
            super::Quotes { words, backslash }
        }

        #[target_feature(enable = "avx2")]
        pub(super) fn skip_container(b: &[u8], i: usize) -> Option<Option<usize>> {
            let open = *b.get(i)?;
            let close = if open == b'{' { b'}' } else { b']' };
            let mut depth = 0usize;
            // All ones when the previous block ended inside a string.
            let mut carry = 0u64;
            // Running out inside the value: not well formed.
            let mut answer = Some(None);
            each_block(b.get(i..)?, |at, block| {
                let (lo, hi) = (load(block, 0), load(block, 32));
                if eq_mask(lo, hi, b'\\') != 0 {
                    answer = None;
                    return false;
                }
                let strings = super::inside_strings(eq_mask(lo, hi, b'"')) ^ carry;
                let opens = eq_mask(lo, hi, open) & !strings;
                let mut brackets = (opens | eq_mask(lo, hi, close)) & !strings;
                while brackets != 0 {
                    let k = brackets.trailing_zeros();
                    if opens >> k & 1 == 1 {
                        depth += 1;
                    } else {
                        let Some(d) = depth.checked_sub(1) else {
                            return false;
                        };
                        depth = d;
                        if depth == 0 {
                            answer = Some(Some(i + at + k as usize + 1));
                            return false;
                        }
                    }
                    brackets &= brackets - 1;
                }
                carry = (strings >> 63).wrapping_neg();
                true
            });
            answer
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------

/// Bytes between the quotes of a string slice.
#[inline]
fn string_inner(b: &[u8]) -> Option<&[u8]> {
    match b {
        [b'"', inner @ .., b'"'] => Some(inner),
        _ => None,
    }
}

/// Loose JSON number grammar, whole slice: `-?digits[.digits][e[+-]digits]`.
fn is_number(b: &[u8]) -> bool {
    !b.is_empty() && scan_number(b, 0) == Ok(b.len())
}

/// `-?digits`, whole slice.
fn is_integer(b: &[u8]) -> bool {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let h = b.get(at..at.checked_add(4)?)?;
    let mut v = 0u32;
    for &c in h {
        let d = (c as char).to_digit(16)?;
        v = v * 16 + d;
    }
    Some(v)
}

const REPLACEMENT: char = '\u{FFFD}';

/// Decodes the escapes of a string body that is already valid UTF-8.
///
/// `\uXXXX` surrogate pairs are combined; a lone surrogate, a malformed
/// `\u` escape, an unknown escape or a trailing backslash each become
/// U+FFFD (replacing only the backslash and, for `\u`, the `u` and any valid
/// hex digits; following characters are kept).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|r| memchr(b'\\', r)) {
        let k = i + p;
        // `i` and `k` are char boundaries: both follow/precede ASCII bytes.
        out.push_str(s.get(i..k).unwrap_or(""));
        let simple = match b.get(k + 1) {
            Some(b'"') => Some('"'),
            Some(b'\\') => Some('\\'),
            Some(b'/') => Some('/'),
            Some(b'b') => Some('\u{8}'),
            Some(b'f') => Some('\u{c}'),
            Some(b'n') => Some('\n'),
            Some(b'r') => Some('\r'),
            Some(b't') => Some('\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i = k + 2;
            continue;
        }
        if b.get(k + 1) != Some(&b'u') {
            out.push(REPLACEMENT);
            i = k + 1;
            continue;
        }
        let Some(u) = hex4(b, k + 2) else {
            out.push(REPLACEMENT);
            i = k + 2;
            continue;
        };
        i = k + 6;
        if (0xD800..0xDC00).contains(&u) {
            if b.get(i) == Some(&b'\\')
                && b.get(i + 1) == Some(&b'u')
                && let Some(lo) = hex4(b, i + 2)
                && (0xDC00..0xE000).contains(&lo)
            {
                let cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                out.push(char::from_u32(cp).unwrap_or(REPLACEMENT));
                i += 6;
                continue;
            }
            out.push(REPLACEMENT);
        } else {
            // Lone low surrogates are rejected by from_u32.
            out.push(char::from_u32(u).unwrap_or(REPLACEMENT));
        }
    }
    out.push_str(s.get(i..).unwrap_or(""));
    out
}

/// Does the string slice `k` (with quotes) decode to exactly `want`?
/// Allocates only when `k` contains a backslash.
#[inline]
fn string_eq(k: &[u8], want: &[u8]) -> bool {
    let Some(inner) = string_inner(k) else {
        return false;
    };
    // Escapes only ever shrink the text, so an escaped key can only match a
    // strictly shorter `want`; an unescaped one must be byte-identical.
    match inner.len().cmp(&want.len()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => inner == want && !inner.contains(&b'\\'),
        std::cmp::Ordering::Greater => {
            inner.contains(&b'\\') && Raw(k).as_str().is_some_and(|s| s.as_bytes() == want)
        }
    }
}

// ---------------------------------------------------------------------------
// Raw accessors
// ---------------------------------------------------------------------------

impl<'a> Raw<'a> {
    /// The JSON type, decided by the first byte. For bytes that were not
    /// produced by the scanner the answer is a best guess (anything
    /// unrecognised reports [`Kind::Number`]; the numeric accessors then
    /// return `None`).
    pub fn kind(&self) -> Kind {
        match self.0.first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// The raw bytes of the value.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Decodes a JSON string (all escapes incl. `\uXXXX` surrogate pairs;
    /// invalid escapes and lone surrogates become U+FFFD). Returns
    /// `Cow::Borrowed` (no allocation) when the string has no backslash.
    /// `None` if the value is not a string or is not valid UTF-8.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let inner = string_inner(self.0)?;
        let s = std::str::from_utf8(inner).ok()?;
        if memchr(b'\\', inner).is_none() {
            Some(Cow::Borrowed(s))
        } else {
            Some(Cow::Owned(unescape(s)))
        }
    }

    /// True if this is a string that decodes to exactly `want`. Does not
    /// allocate unless the string contains escapes.
    pub fn str_eq(&self, want: &str) -> bool {
        string_eq(self.0, want.as_bytes())
    }

    /// Numbers, and strings whose whole content is a JSON number
    /// (`"18.06"` -> `Some(18.06)`). Non-finite results (e.g. `1e999`) -> `None`.
    pub fn as_f64(&self) -> Option<f64> {
        let v: f64 = match self.0.first()? {
            b'"' => {
                let s = self.as_str()?;
                if !is_number(s.as_bytes()) {
                    return None;
                }
                s.parse().ok()?
            }
            _ => {
                if !is_number(self.0) {
                    return None;
                }
                std::str::from_utf8(self.0).ok()?.parse().ok()?
            }
        };
        v.is_finite().then_some(v)
    }

    /// Integers (`-?digits`, no fraction or exponent) and strings holding
    /// one (`"42"`). `None` on overflow or anything else.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0.first()? {
            b'"' => {
                let s = self.as_str()?;
                if !is_integer(s.as_bytes()) {
                    return None;
                }
                s.parse().ok()
            }
            _ => {
                if !is_integer(self.0) {
                    return None;
                }
                std::str::from_utf8(self.0).ok()?.parse().ok()
            }
        }
    }

    /// `true` / `false` literals.
    pub fn as_bool(&self) -> Option<bool> {
        match self.0 {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// True for the `null` literal.
    pub fn is_null(&self) -> bool {
        self.0 == b"null"
    }

    /// If this is an object: the value of the first top-level key equal to
    /// `key` (keys are unescaped for comparison only if they contain a
    /// backslash). `None` if absent or not an object.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        let want = key.as_bytes();
        self.entries()
            .find(|(k, _)| string_eq(k.0, want))
            .map(|(_, v)| v)
    }

    /// Looks up a dotted path such as `fields.message` or `span.uri`.
    ///
    /// Rule, at each level: if the whole remaining path is a literal key
    /// (tracing emits `"sampling.error"` as one key), that wins; otherwise the
    /// path is split at its first dot and the lookup continues in the value of
    /// the first segment. Each level is a single pass over the object.
    pub fn get_path(&self, dotted: &str) -> Option<Raw<'a>> {
        let mut cur = *self;
        let mut rest = dotted;
        loop {
            let split = rest.split_once('.');
            let mut head_hit = None;
            for (k, v) in cur.entries() {
                if string_eq(k.0, rest.as_bytes()) {
                    return Some(v);
                }
                if let Some((head, _)) = split
                    && head_hit.is_none()
                    && string_eq(k.0, head.as_bytes())
                {
                    head_hit = Some(v);
                }
            }
            let (_, tail) = split?;
            cur = head_hit?;
            rest = tail;
        }
    }

    /// Iterates the top-level `(key, value)` pairs of an object, in input
    /// order. The key is the raw string slice *including its quotes* (zero
    /// copy; decode it with [`Raw::as_str`] or compare with [`Raw::str_eq`]).
    /// Empty if this is not an object; stops at the first malformed entry.
    pub fn entries(&self) -> ObjectIter<'a> {
        let pos = if self.0.first() == Some(&b'{') {
            1
        } else {
            self.0.len()
        };
        ObjectIter { b: self.0, pos }
    }
}

/// Iterator over the `(key, value)` pairs of an object; see [`Raw::entries`].
#[derive(Clone, Debug)]
pub struct ObjectIter<'a> {
    b: &'a [u8],
    /// Next position to read; `b.len()` once finished.
    pos: usize,
}

impl<'a> ObjectIter<'a> {
    fn step(&mut self) -> Option<(Raw<'a>, Raw<'a>)> {
        let b = self.b;
        let mut i = skip_ws(b, self.pos);
        if *b.get(i)? == b',' {
            i = skip_ws(b, i + 1);
        }
        if *b.get(i)? != b'"' {
            return None;
        }
        let kend = skip_string(b, i)?;
        let key = Raw(b.get(i..kend)?);
        let mut j = skip_ws(b, kend);
        if *b.get(j)? != b':' {
            return None;
        }
        j = skip_ws(b, j + 1);
        let vend = skip_value(b, j)?;
        let val = Raw(b.get(j..vend)?);
        self.pos = vend;
        Some((key, val))
    }
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (Raw<'a>, Raw<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.step();
        if r.is_none() {
            self.pos = self.b.len();
        }
        r
    }
}

impl std::iter::FusedIterator for ObjectIter<'_> {}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const TRACING: &str = r#"{"timestamp":"2026-11-22T07:08:59.290935Z","level":"DEBUG","fields":{"message":"finished processing request","latency":"20 ms","status":200},"target":"tower_http::trace::on_response","span":{"method":"GET","uri":"/health","version":"HTTP/1.1","name":"request"},"spans":[{"method":"GET","uri":"/health","version":"HTTP/1.1","name":"request"}]}"#;

    const PYTHON: &str = r#"{"timestamp": "2026-11-22T06:57:50.391491", "level": "ERROR", "logger": "app.worker", "message": "caf\u00e9 \ud83d\ude00 done", "exception": "Traceback (most recent call last):\n  File \"x\", line 3, in <module>\nValueError: bad", "user_id": null, "extra": {"duration_ms": 18.06, "attempt": "3", "ok": true}, "sampling.error": 1, "sampling": {"rate": 0.5}}"#;

    fn s(r: Option<Raw<'_>>) -> Option<String> {
        r.and_then(|r| r.as_str()).map(|c| c.into_owned())
    }

    #[test]
    fn tracing_line() {
        let o = parse_object(TRACING.as_bytes()).expect("valid");
        assert_eq!(o.0, TRACING.as_bytes());
        assert_eq!(o.kind(), Kind::Object);
        assert_eq!(s(o.get("level")).as_deref(), Some("DEBUG"));
        assert_eq!(
            s(o.get_path("fields.message")).as_deref(),
            Some("finished processing request")
        );
        assert_eq!(
            o.get_path("fields.status").and_then(|v| v.as_i64()),
            Some(200)
        );
        assert_eq!(
            o.get_path("fields.status").and_then(|v| v.as_f64()),
            Some(200.0)
        );
        assert_eq!(s(o.get_path("span.uri")).as_deref(), Some("/health"));
        assert_eq!(o.get("spans").map(|v| v.kind()), Some(Kind::Array));
        assert_eq!(o.get("fields").map(|v| v.kind()), Some(Kind::Object));
        assert_eq!(
            o.get("span").map(|v| v.0),
            Some(&br#"{"method":"GET","uri":"/health","version":"HTTP/1.1","name":"request"}"#[..])
        );
        assert!(o.get("nope").is_none());
        assert!(o.get_path("fields.nope").is_none());
        assert!(o.get_path("level.x").is_none());
        let keys: Vec<String> = o.entries().filter_map(|(k, _)| s(Some(k))).collect();
        assert_eq!(
            keys,
            ["timestamp", "level", "fields", "target", "span", "spans"]
        );
        assert!(o.entries().all(|(k, _)| k.kind() == Kind::String));
    }

    #[test]
    fn python_line() {
        let o = parse_object(PYTHON.as_bytes()).expect("valid");
        assert_eq!(s(o.get("message")).as_deref(), Some("café 😀 done"));
        assert_eq!(
            s(o.get("exception")).as_deref(),
            Some(
                "Traceback (most recent call last):\n  File \"x\", line 3, in <module>\nValueError: bad"
            )
        );
        assert!(o.get("user_id").is_some_and(|v| v.is_null()));
        assert_eq!(o.get("user_id").map(|v| v.kind()), Some(Kind::Null));
        assert_eq!(
            o.get_path("extra.duration_ms").and_then(|v| v.as_f64()),
            Some(18.06)
        );
        assert_eq!(
            o.get_path("extra.duration_ms").and_then(|v| v.as_i64()),
            None
        );
        assert_eq!(
            o.get_path("extra.attempt").and_then(|v| v.as_i64()),
            Some(3)
        );
        assert_eq!(
            o.get_path("extra.attempt").and_then(|v| v.as_f64()),
            Some(3.0)
        );
        assert_eq!(o.get_path("extra.ok").and_then(|v| v.as_bool()), Some(true));
        assert_eq!(o.get_path("extra.ok").map(|v| v.kind()), Some(Kind::Bool));
        // Literal dotted key wins over the nested path.
        assert_eq!(
            o.get_path("sampling.error").and_then(|v| v.as_i64()),
            Some(1)
        );
        assert_eq!(o.get("sampling.error").and_then(|v| v.as_i64()), Some(1));
        assert_eq!(
            o.get_path("sampling.rate").and_then(|v| v.as_f64()),
            Some(0.5)
        );
        assert!(o.get("level").is_some_and(|v| v.str_eq("ERROR")));
        assert!(!o.get("level").is_some_and(|v| v.str_eq("ERRO")));
    }

    #[test]
    fn dotted_key_deeper_and_literal_priority() {
        let o = parse_object(br#"{"a":{"b.c":1,"b":{"c":2}},"a.b":{"c":3}}"#).expect("valid");
        // whole "a.b.c" not literal -> split "a" / "b.c" -> literal "b.c" = 1
        assert_eq!(o.get_path("a.b.c").and_then(|v| v.as_i64()), Some(1));
        assert_eq!(o.get_path("a.b").map(|v| v.0), Some(&br#"{"c":3}"#[..]));
        let o = parse_object(br#"{"x":{"y":1},"x.y":2}"#).expect("valid");
        assert_eq!(o.get_path("x.y").and_then(|v| v.as_i64()), Some(2));
    }

    #[test]
    fn escaped_keys() {
        let o = parse_object(br#"{"a\"b":1,"caf\u00e9":2,"\/x":3,"plain":4}"#).expect("valid");
        assert_eq!(o.get("a\"b").and_then(|v| v.as_i64()), Some(1));
        assert_eq!(o.get("café").and_then(|v| v.as_i64()), Some(2));
        assert_eq!(o.get("/x").and_then(|v| v.as_i64()), Some(3));
        assert_eq!(o.get("plain").and_then(|v| v.as_i64()), Some(4));
        assert!(o.get("a\\\"b").is_none());
    }

    #[test]
    fn whitespace_and_cr() {
        assert!(parse_object(b"  {\"a\" : [ 1 , 2 ] }\r").is_ok());
        assert!(parse_object(b"{}\r\n").is_ok());
        assert!(parse_object(b"\t{ }  ").is_ok());
        let o = parse_object(b" {\n \"a\" :\n  \"x\"\n}\r").expect("valid");
        assert_eq!(s(o.get("a")).as_deref(), Some("x"));
    }

    #[test]
    fn errors() {
        use ScanError::*;
        assert_eq!(parse_object(b""), Err(NotAnObject));
        assert_eq!(parse_object(b"   "), Err(NotAnObject));
        assert_eq!(parse_object(b"[1]"), Err(NotAnObject));
        assert_eq!(parse_object(b"plain text log"), Err(NotAnObject));
        assert_eq!(parse_object(b"{"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":1"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":\"x"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":\"x\\"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":\"\\u12"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":tr"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":-"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":[1,{}"), Err(Truncated));
        assert_eq!(parse_object(b"{\"a\":1}x"), Err(TrailingData { offset: 7 }));
        assert_eq!(parse_object(b"{} {}"), Err(TrailingData { offset: 3 }));
        assert_eq!(
            parse_object(b"{\"a\" 1}"),
            Err(Unexpected {
                offset: 5,
                byte: b'1'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":1,}"),
            Err(Unexpected {
                offset: 7,
                byte: b'}'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":[1,]}"),
            Err(Unexpected {
                offset: 8,
                byte: b']'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":[1}"),
            Err(Unexpected {
                offset: 7,
                byte: b'}'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":{]}"),
            Err(Unexpected {
                offset: 6,
                byte: b']'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":\"\\x\"}"),
            Err(Unexpected {
                offset: 7,
                byte: b'x'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":\"\\u12g4\"}"),
            Err(Unexpected {
                offset: 10,
                byte: b'g'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":truex}"),
            Err(Unexpected {
                offset: 9,
                byte: b'x'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":nul}"),
            Err(Unexpected {
                offset: 8,
                byte: b'}'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":1.}"),
            Err(Unexpected {
                offset: 7,
                byte: b'}'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":1e}"),
            Err(Unexpected {
                offset: 7,
                byte: b'}'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":1 2}"),
            Err(Unexpected {
                offset: 7,
                byte: b'2'
            })
        );
        assert_eq!(
            parse_object(b"{1:2}"),
            Err(Unexpected {
                offset: 1,
                byte: b'1'
            })
        );
        assert_eq!(
            parse_object(b"{\"a\":'x'}"),
            Err(Unexpected {
                offset: 5,
                byte: b'\''
            })
        );
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(matches!(parse_object(deep.as_bytes()), Err(TooDeep { .. })));
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_object(ok.as_bytes()).is_ok());
        // Display never panics and mentions the offset.
        assert!(Unexpected { offset: 3, byte: 0 }.to_string().contains('3'));
    }

    #[test]
    fn numbers() {
        let o = parse_object(
            br#"{"a":-0,"b":1.5e3,"c":-2E-2,"d":9223372036854775807,"e":9223372036854775808,"f":"18.06","g":" 1","h":"1e999","i":"-12","j":"abc","k":1e999}"#,
        )
        .expect("valid");
        let g = |k: &str| o.get(k).expect(k);
        assert_eq!(g("a").as_i64(), Some(0));
        assert_eq!(g("b").as_f64(), Some(1500.0));
        assert_eq!(g("b").as_i64(), None);
        assert_eq!(g("c").as_f64(), Some(-0.02));
        assert_eq!(g("d").as_i64(), Some(i64::MAX));
        assert_eq!(g("e").as_i64(), None);
        assert_eq!(g("e").as_f64(), Some(9223372036854775808.0));
        assert_eq!(g("f").as_f64(), Some(18.06));
        assert_eq!(g("g").as_f64(), None);
        assert_eq!(g("h").as_f64(), None);
        assert_eq!(g("i").as_i64(), Some(-12));
        assert_eq!(g("j").as_f64(), None);
        assert_eq!(g("k").as_f64(), None);
        assert_eq!(g("a").as_str(), None);
        assert_eq!(Raw(b"inf").as_f64(), None);
        assert_eq!(Raw(b"+1").as_i64(), None);
        assert_eq!(Raw(b"\"+1\"").as_i64(), None);
        assert_eq!(Raw(b"").as_f64(), None);
    }

    #[test]
    fn unescape_cases() {
        let dec = |raw: &[u8]| Raw(raw).as_str().map(|c| c.into_owned());
        assert_eq!(
            dec(br#""a\"b\\c\/d\b\f\n\r\t""#).as_deref(),
            Some("a\"b\\c/d\u{8}\u{c}\n\r\t")
        );
        assert_eq!(dec(br#""\u00e9\u20AC""#).as_deref(), Some("é€"));
        assert_eq!(dec(br#""\ud83d\ude00x""#).as_deref(), Some("😀x"));
        // Lone surrogates and bad escapes become U+FFFD, rest is kept.
        assert_eq!(dec(br#""\ud83dx""#).as_deref(), Some("\u{FFFD}x"));
        assert_eq!(dec(br#""\ude00""#).as_deref(), Some("\u{FFFD}"));
        assert_eq!(dec(br#""\ud83d\u0041""#).as_deref(), Some("\u{FFFD}A"));
        assert_eq!(
            dec(br#""\ud83d\ud83d\ude00""#).as_deref(),
            Some("\u{FFFD}😀")
        );
        assert_eq!(dec("\"\\xé\"".as_bytes()).as_deref(), Some("\u{FFFD}xé"));
        assert_eq!(dec(br#""\u12""#).as_deref(), Some("\u{FFFD}12"));
        assert_eq!(dec(b"\"ab\\\"").as_deref(), Some("ab\u{FFFD}"));
        assert_eq!(dec("\"é\\u00e9é\"".as_bytes()).as_deref(), Some("ééé"));
        // Not a string / bad UTF-8.
        assert_eq!(dec(b"12"), None);
        assert_eq!(dec(b"\""), None);
        assert_eq!(dec(b"\"\xff\""), None);
        assert_eq!(dec(b"\"\"").as_deref(), Some(""));
    }

    #[test]
    fn borrowed_strings_do_not_allocate() {
        let line = TRACING.as_bytes();
        let o = parse_object(line).expect("valid");
        let lvl = o.get("level").and_then(|v| v.as_str()).expect("level");
        match lvl {
            Cow::Borrowed(b) => {
                // Points into the original line: zero copy.
                let lp = line.as_ptr() as usize;
                let bp = b.as_ptr() as usize;
                assert!(bp >= lp && bp + b.len() <= lp + line.len());
            }
            Cow::Owned(_) => panic!("expected Cow::Borrowed"),
        }
        let msg = o
            .get_path("fields.message")
            .and_then(|v| v.as_str())
            .expect("msg");
        assert!(matches!(msg, Cow::Borrowed(_)));
        let esc = parse_object(br#"{"a":"x\ny"}"#).expect("valid");
        assert!(matches!(
            esc.get("a").and_then(|v| v.as_str()),
            Some(Cow::Owned(_))
        ));
    }

    #[test]
    fn find_any_and_has_backslash_all_positions() {
        let needles = [b'"', b'{', b'}'];
        let naive = |h: &[u8]| h.iter().position(|c| needles.contains(c));
        let find = |h: &[u8]| find_any(h, needles, |t| memchr::memchr3(b'"', b'{', b'}', t));
        for len in 0..80 {
            let base = vec![b'a'; len];
            assert_eq!(find(&base), None);
            assert!(!has_backslash(&base));
            for p in 0..len {
                for t in [b'"', b'{', b'}', b'\\'] {
                    let mut h = base.clone();
                    h[p] = t;
                    assert_eq!(find(&h), naive(&h), "{len} {p} {t}");
                    assert_eq!(has_backslash(&h), t == b'\\', "{len} {p} {t}");
                }
            }
        }
    }

    #[test]
    fn find_quote_or_backslash_all_positions() {
        let naive = |h: &[u8]| h.iter().position(|&c| c == b'"' || c == b'\\');
        for fill in [b'a', 0x00, 0x01, 0x21, 0x23, 0x5b, 0x5d, 0x80, 0xdc, 0xff] {
            for len in 0..80 {
                let base = vec![fill; len];
                assert_eq!(find_quote_or_backslash(&base), naive(&base));
                for p in 0..len {
                    for t in [b'"', b'\\'] {
                        let mut h = base.clone();
                        h[p] = t;
                        if p + 1 < len {
                            h[p + 1] = b'"';
                        }
                        assert_eq!(find_quote_or_backslash(&h), Some(p), "{fill} {len} {p}");
                    }
                }
            }
        }
    }

    #[test]
    fn accessors_on_garbage() {
        for raw in [
            &b""[..],
            b"{",
            b"}",
            b"{\"",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":}",
            b"{\"a\":[",
            b"{\"a\":\"",
            b"{,,}",
            b"[",
            b"\"",
            b"\\",
            b"{\"a\":1,\"b\"",
            b"{\"\\",
            b"{\"a\":]]]}",
            b"{:::}",
            b"{\"a\":\"\\",
            b"\"\\u\"",
            b"\"\\ud800\\u\"",
        ] {
            let r = Raw(raw);
            let _ = (
                r.kind(),
                r.as_str(),
                r.as_f64(),
                r.as_i64(),
                r.is_null(),
                r.as_bool(),
            );
            let _ = (r.get("a"), r.get_path("a.b"), r.entries().count());
        }
    }

    #[test]
    fn entries_values() {
        let o = parse_object(br#"{ "a" : 1 , "b":"x" ,"c":[1,{"d":"}"}], "e":{} ,"f":null}"#)
            .expect("valid");
        let got: Vec<(&[u8], &[u8])> = o.entries().map(|(k, v)| (k.0, v.0)).collect();
        assert_eq!(
            got,
            vec![
                (&b"\"a\""[..], &b"1"[..]),
                (b"\"b\"", b"\"x\""),
                (b"\"c\"", br#"[1,{"d":"}"}]"#),
                (b"\"e\"", b"{}"),
                (b"\"f\"", b"null"),
            ]
        );
        assert_eq!(Raw(b"[1,2]").entries().count(), 0);
        assert_eq!(Raw(b"{}").entries().count(), 0);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value};

    /// Exercises every accessor, recursing into containers (bounded).
    fn poke(r: Raw<'_>, depth: u32) {
        let _ = (
            r.kind(),
            r.as_str(),
            r.as_f64(),
            r.as_i64(),
            r.is_null(),
            r.as_bool(),
        );
        let _ = (
            r.get("a"),
            r.get_path("a.b"),
            r.get_path("a"),
            r.str_eq("x"),
        );
        if depth < 8 {
            for (k, v) in r.entries() {
                let _ = k.as_str();
                poke(v, depth + 1);
            }
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| Value::Number(i.into())),
            any::<u64>().prop_map(|u| Value::Number(u.into())),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            (-1e6f64..1e6).prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            any::<String>().prop_map(Value::String),
            "[a-z0-9.\"\\\\ ]{0,12}".prop_map(Value::String),
            "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(Value::String),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,8}",
            "[a-z]{1,4}\\.[a-z]{1,4}",
            any::<String>(),
            "[a-z\"\\\\/\u{e9}\u{1F600}\n]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(key(), value(), 0..10).prop_map(|m| m.into_iter().collect())
    }

    /// Bytes biased towards JSON syntax so that some inputs get deep into the scanner.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: &[u8] = b"{}[]\":,\\ \t\r\n0123456789-+.eEtrufalsnbx/\xc3\xa9\xff";
        prop::collection::vec(prop::sample::select(alphabet.to_vec()), 0..96)
    }

    fn check_value(raw: Raw<'_>, v: &Value) {
        match v {
            Value::Null => assert!(raw.is_null()),
            Value::Bool(b) => assert_eq!(raw.as_bool(), Some(*b)),
            Value::Number(n) => {
                assert_eq!(raw.kind(), Kind::Number);
                assert_eq!(raw.as_f64(), n.as_f64());
                assert_eq!(raw.as_i64(), n.as_i64());
            }
            Value::String(s) => {
                assert_eq!(raw.as_str().as_deref(), Some(s.as_str()));
                assert!(raw.str_eq(s));
                if !s.is_empty()
                    && s.bytes()
                        .all(|c| c.is_ascii_digit() || c == b'-' || c == b'.')
                {
                    assert_eq!(
                        raw.as_f64(),
                        s.parse::<f64>().ok().filter(|_| is_number(s.as_bytes()))
                    );
                }
            }
            Value::Array(_) => assert_eq!(raw.kind(), Kind::Array),
            Value::Object(m) => {
                assert_eq!(raw.kind(), Kind::Object);
                assert_eq!(raw.entries().count(), m.len());
                for (k, inner) in m {
                    check_value(raw.get(k).expect("nested key"), inner);
                }
            }
        }
        // The slice boundaries are exact: serde_json reads the same value back.
        let back: Value = serde_json::from_slice(raw.0).expect("slice is a JSON value");
        let expect: Value =
            serde_json::from_str(&serde_json::to_string(v).expect("ser")).expect("de");
        assert_eq!(back, expect);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_arbitrary(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(o) = parse_object(&bytes) { poke(o, 0); }
            poke(Raw(&bytes), 0);
        }

        /// The 64-byte block skipper gives the byte-wise walk's answer, or declines (only on
        /// a backslash), on containers longer than a block and cut at any point.
        #[test]
        fn block_skip_agrees_with_byte_walk(
            open in prop::sample::select(vec![b'{', b'[']),
            body in prop::collection::vec(
                prop::sample::select(b"{}[]\"\"\"aaaaaaaaaaaa:,".to_vec()),
                0..300,
            ),
            backslash in prop::option::weighted(0.2, any::<prop::sample::Index>()),
            lead in 0usize..3,
        ) {
            let mut b = vec![b' '; lead];
            b.push(open);
            b.extend_from_slice(&body);
            if let Some(at) = backslash {
                let at = lead + 1 + at.index(body.len() + 1);
                b.insert(at, b'\\');
            }
            let walk = skip_container(&b, lead);
            match blocks::skip_container(&b, lead) {
                Some(got) => prop_assert_eq!(got, walk, "{:?}", String::from_utf8_lossy(&b)),
                None => prop_assert!(
                    cfg!(not(target_arch = "x86_64")) || b.contains(&b'\\'),
                    "declined without a backslash"
                ),
            }
            prop_assert_eq!(skip_value(&b, lead), walk);
        }

        /// With the quote index, the top-level walk sees the same members and gives the same
        /// answer as with a search per string, on JSON-like bytes full of escapes, and on real
        /// objects with escaped strings longer than a block.
        #[test]
        fn quote_index_walk_agrees_with_searching(
            mut bytes in jsonish(),
            obj in object(),
            pad in 0usize..130,
        ) {
            bytes.insert(0, b'{');
            let text = serde_json::to_string(&Value::Object(obj)).expect("ser");
            let long = format!("{{\"pad\":\"{}\\\\\",\"x\":{text}}}", "a\\\"".repeat(pad));
            for line in [&bytes[..], text.as_bytes(), long.as_bytes()] {
                let walk = |quotes: Option<&blocks::Quotes>| {
                    let mut seen = Vec::new();
                    let r = visit_object(line, quotes, |k, v| seen.push((k, v)));
                    (r, seen)
                };
                if let Some(q) = blocks::Quotes::of(line) {
                    prop_assert_eq!(walk(Some(&q)), walk(None), "{:?}", String::from_utf8_lossy(line));
                }
            }
        }

        #[test]
        fn never_panics_jsonish(mut bytes in jsonish()) {
            bytes.insert(0, b'{');
            if let Ok(o) = parse_object(&bytes) { poke(o, 0); }
            poke(Raw(&bytes), 0);
        }

        #[test]
        fn agrees_with_serde_json(obj in object()) {
            let v = Value::Object(obj.clone());
            for text in [serde_json::to_string(&v).expect("ser"), serde_json::to_string_pretty(&v).expect("ser")] {
                let o = parse_object(text.as_bytes());
                prop_assert!(o.is_ok(), "rejected {:?}: {:?}", text, o);
                let o = o.expect("checked");
                prop_assert_eq!(o.entries().count(), obj.len());
                for (k, val) in &obj {
                    let got = o.get(k);
                    prop_assert!(got.is_some(), "missing key {:?}", k);
                    check_value(got.expect("checked"), val);
                    if !k.contains('.') {
                        prop_assert_eq!(o.get_path(k), got);
                    }
                }
                let with_cr = format!("  {text}\r\n");
                prop_assert_eq!(parse_object(with_cr.as_bytes()), Ok(o));
            }
        }

        #[test]
        fn strict_prefixes_rejected(obj in object()) {
            let text = serde_json::to_string(&Value::Object(obj)).expect("ser");
            let b = text.as_bytes();
            for cut in 0..b.len() {
                prop_assert!(parse_object(&b[..cut]).is_err(), "accepted prefix of length {} of {:?}", cut, text);
            }
        }

        /// Whatever serde_json accepts as an object, we accept too (the scanner
        /// is a superset), after random single-byte mutations.
        #[test]
        fn mutations_superset_of_serde(obj in object(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut b = serde_json::to_vec(&Value::Object(obj)).expect("ser");
            let i = pos.index(b.len());
            b[i] = byte;
            let ours = parse_object(&b);
            if let Ok(o) = ours { poke(o, 0); }
            if let Ok(Value::Object(_)) = serde_json::from_slice::<Value>(&b) {
                prop_assert!(ours.is_ok(), "serde accepted, we rejected: {:?}", ours);
            }
        }
    }
}
