//! Record filtering for `logsleuth`: the `--where` expression language and the
//! time/duration arguments (`--since`, `--until`, `--bucket`,
//! `--correlation-window`).
//!
//! # `--where` grammar
//!
//! Keywords (`and`, `or`, `not`) are case-insensitive; whitespace is free.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | cmp
//! cmp     := field op value | field set | field          // bare field: "field is present"
//! op      := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
//! set     := ["not"] "in" "(" value ("," value)* [","] ")"   // status in (401, 403)
//! value   := number | "double quoted" | 'single quoted' | bareword
//! number  := -?[0-9]+(.[0-9]+)?([eE]-?[0-9]+)?   // an unquoted bareword of this shape
//! bareword:= [A-Za-z0-9_./:{}-]+                 // error, GET, /health, 2xx
//! field   := [A-Za-z_][A-Za-z0-9_.]*             // status, fields.tool_name
//! ```
//!
//! Precedence is `not` > `and` > `or`. Double-quoted strings understand the
//! escapes `\"` and `\\`; any other backslash is kept as written, so regexes
//! such as `"\d+"` need no doubling. Single-quoted strings are raw (no escapes).
//! The keywords (and `in`) cannot be used as field names. Quoting a value forces it to be
//! a string: `status = 500` is a numeric comparison, `status = "500"` is not.
//!
//! Regexes (`~`, `!~`) are compiled while parsing; an invalid one is a parse
//! error naming the regex and the reason. Every parse error carries the
//! 1-based column (in characters) at which the problem was found. Nesting of
//! parentheses and `not` is limited to [`MAX_DEPTH`] levels, so no input can
//! exhaust the stack.
//!
//! # Evaluation
//!
//! An [`Expr`] is evaluated against any record implementing [`Fields`].
//! Comparison rules, for a field value `v` and a literal `lit`:
//!
//! * **missing field** (`Fields::field` returns `None`): every comparison is
//!   false, except `!=` and `!~`, which are true.
//! * `Num` vs a number literal: numeric comparison.
//! * `Num` vs a quoted literal that reads as a finite number (`"100"`): numeric too.
//! * `Num` vs any other literal: the number is formatted (integers without a
//!   trailing `.0`) and compared as a string.
//! * `Str` vs a number literal: the string (trimmed) is parsed as `f64`; if it
//!   does not parse the values are *incomparable*.
//! * `Str` vs any other literal: exact, case-sensitive; `<`, `<=`, `>`, `>=`
//!   compare lexicographically (byte order).
//! * `Level` vs a literal: the literal is read with [`parse_level`]
//!   (`level >= warn`, `level = WARNING`); a literal that is no level name
//!   makes the values incomparable.
//! * `Time` vs a literal: an RFC3339 literal (`2026-11-22T07:02:00Z`, quoted when it has an
//!   offset such as `+02:00`) is compared as a time (one without a zone, `2026-11-22T09:02:00`,
//!   is read at the offset given to [`Expr::parse_in`]; [`Expr::parse`]: UTC); any other literal makes the values
//!   incomparable (and `~` reads the time as RFC3339 with 9 digits).
//! * `field in (a, b, …)` is `field = a or field = b or …`, and `field not in (…)` is
//!   exactly `not (field in (…))` (true when the field is missing).
//! * `~` / `!~` apply the regex to the string form of the value (numbers as
//!   above, levels as their lowercase name).
//!
//! Incomparable values make `=`, `<`, `<=`, `>`, `>=` false and `!=` true.
//!
//! # Invariants
//!
//! * `a != b` is always exactly `not (a = b)`, and `a !~ r` is `not (a ~ r)`,
//!   including for missing fields and incomparable values.
//! * [`Expr::parse`] and the time/duration parsers never panic, on any input.
//! * [`Expr::matches`] does not allocate when the record hands out borrowed
//!   strings: literals are parsed to numbers and levels at parse time and
//!   numbers are formatted into a stack buffer.
//! * `Expr::parse(&e.to_string())` yields an expression equal to `e`.
//!
//! # Times and durations
//!
//! [`parse_duration`] accepts positive durations such as `90s`, `1h30m`,
//! `500ms`, `1.5h` (units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`).
//! [`parse_time_bound_in`] accepts RFC3339 timestamps (with `T`, `t` or a space
//! between date and time; no offset means the offset it is given — the one the
//! log's own zone-less times are read at; date-only means midnight there), `now`,
//! or a duration that is taken back from the given "now".
//! All times are nanoseconds since the Unix epoch, UTC, in an `i64`
//! (representable range 1677-09-21 to 2262-04-11).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char as nom_char, multispace0, satisfy};
use nom::combinator::{recognize, verify};
use nom::error::ErrorKind;
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};
use regex::Regex;

/// Maximum nesting depth of parentheses and `not` in a `--where` expression.
pub const MAX_DEPTH: usize = 64;

/// A field value handed out by a record for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string value; borrow it where possible to keep evaluation allocation-free.
    Str(Cow<'a, str>),
    /// A numeric value.
    Num(f64),
    /// A severity ordinal: 0=trace 1=debug 2=info 3=warn 4=error 5=fatal.
    Level(u8),
    /// A time, UTC ns: compared with RFC3339 literals as times (`ts >= 2026-11-22T07:02:00Z`
    /// holds at 07:02:00.5, which a text comparison of `…00.5…Z` with `…00Z` gets wrong).
    Time(i64),
}

/// Access to a record's fields by name; implemented by the caller for its event type.
pub trait Fields {
    /// The value of `name`, or `None` if the field is absent or null.
    fn field(&self, name: &str) -> Option<Value<'_>>;
}

/// Errors from parsing `--where` expressions, durations and time bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A syntax error in a `--where` expression.
    #[error("--where: {message} at column {column}: {input}")]
    Syntax {
        /// What was expected or what went wrong.
        message: String,
        /// 1-based column, in characters, where the problem was found.
        column: usize,
        /// The whole expression as given.
        input: String,
    },
    /// A regex in a `--where` expression that does not compile.
    #[error("--where: invalid regex {pattern:?} at column {column}: {reason}")]
    Regex {
        /// The regex as written (after unquoting).
        pattern: String,
        /// 1-based column of the regex literal.
        column: usize,
        /// The regex compiler's explanation.
        reason: String,
        /// The whole expression as given.
        input: String,
    },
    /// An invalid duration (`--bucket`, `--correlation-window`, ...).
    #[error("invalid duration {input:?}: {reason}")]
    Duration {
        /// The argument as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An invalid time bound (`--since`, `--until`).
    #[error("invalid time {input:?}: {reason}")]
    Time {
        /// The argument as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
}

// ---------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to the result of a comparison; `None` = incomparable.
    fn test(self, ord: Option<Ordering>) -> bool {
        match self {
            CmpOp::Eq => ord == Some(Ordering::Equal),
            CmpOp::Ne => ord != Some(Ordering::Equal),
            CmpOp::Lt => ord == Some(Ordering::Less),
            CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            CmpOp::Gt => ord == Some(Ordering::Greater),
            CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        }
    }
}

/// A comparison literal with its numeric and level readings precomputed.
#[derive(Debug, Clone, PartialEq)]
struct Literal {
    text: String,
    /// Set only for unquoted number tokens.
    num: Option<f64>,
    level: Option<u8>,
    /// An RFC3339 time (UTC ns).
    time: Option<i64>,
    /// The time named no zone (`2026-11-22T07:02:00`): [`Expr::parse_in`] reads it at its offset.
    naive: bool,
}

impl Literal {
    fn new(text: String, quoted: bool) -> Literal {
        let num = if !quoted && is_number_token(&text) {
            text.parse::<f64>().ok().filter(|n| n.is_finite())
        } else {
            None
        };
        let level = parse_level(&text);
        let b = text.trim().as_bytes();
        let (time, naive) =
            match (b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-')
                .then(|| parse_rfc3339_in(text.trim(), 0).ok())
                .flatten()
            {
                Some((ns, naive)) => (Some(ns), naive),
                None => (None, false),
            };
        Literal {
            text,
            num,
            level,
            time,
            naive,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Present(String),
    Cmp {
        field: String,
        op: CmpOp,
        lit: Literal,
    },
    Match {
        field: String,
        negate: bool,
        re: Regex,
    },
    /// `field in (…)`: equal to any of the literals (`not in` is `Not(In)`).
    In {
        field: String,
        lits: Vec<Literal>,
    },
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Or(a), Node::Or(b)) | (Node::And(a), Node::And(b)) => a == b,
            (Node::Not(a), Node::Not(b)) => a == b,
            (Node::Present(a), Node::Present(b)) => a == b,
            (
                Node::Cmp {
                    field: f1,
                    op: o1,
                    lit: l1,
                },
                Node::Cmp {
                    field: f2,
                    op: o2,
                    lit: l2,
                },
            ) => f1 == f2 && o1 == o2 && l1 == l2,
            (
                Node::Match {
                    field: f1,
                    negate: n1,
                    re: r1,
                },
                Node::Match {
                    field: f2,
                    negate: n2,
                    re: r2,
                },
            ) => f1 == f2 && n1 == n2 && r1.as_str() == r2.as_str(),
            (
                Node::In {
                    field: f1,
                    lits: l1,
                },
                Node::In {
                    field: f2,
                    lits: l2,
                },
            ) => f1 == f2 && l1 == l2,
            _ => false,
        }
    }
}

/// What a field holds, for [`Expr::mismatches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `status`, `duration_ms`, `line`.
    Number,
    /// `level`.
    Level,
    /// `ts`, `runtime_ts`.
    Time,
}

/// A compiled `--where` expression.
///
/// Build one with [`Expr::parse`] (or `str::parse`), test records with
/// [`Expr::matches`]. `Display` prints a canonical form that parses back to an
/// equal expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: Node,
}

impl Expr {
    /// Parses and compiles a `--where` expression (see the module docs for the grammar).
    ///
    /// Errors carry the 1-based column of the problem, e.g.
    /// `--where: expected a value after '>=' at column 11: status >= `.
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        Expr::parse_in(src, 0)
    }

    /// [`Expr::parse`], reading a time literal without a zone (`ts >= 2026-11-22T09:02:00`,
    /// `2026-11-22`: midnight) at `naive_offset_secs` east of UTC — the offset the log's own
    /// zone-less times are read at (`--assume-tz`, else 0), as [`parse_time_bound_in`] does.
    ///
    /// # Errors
    /// As [`Expr::parse`].
    pub fn parse_in(src: &str, naive_offset_secs: i32) -> Result<Expr, ParseError> {
        fn shift(n: &mut Node, by_ns: i64) {
            let lit = |l: &mut Literal| {
                if l.naive {
                    l.time = l.time.and_then(|t| t.checked_sub(by_ns));
                }
            };
            match n {
                Node::Or(v) | Node::And(v) => v.iter_mut().for_each(|c| shift(c, by_ns)),
                Node::Not(c) => shift(c, by_ns),
                Node::Present(_) | Node::Match { .. } => {}
                Node::Cmp { lit: l, .. } => lit(l),
                Node::In { lits, .. } => lits.iter_mut().for_each(lit),
            }
        }
        let mut e = Expr::parse_utc(src)?;
        if naive_offset_secs != 0 {
            shift(&mut e.root, i64::from(naive_offset_secs) * 1_000_000_000);
        }
        Ok(e)
    }

    fn parse_utc(src: &str) -> Result<Expr, ParseError> {
        match or_expr(src, 0, After::Start) {
            Ok((rest, root)) => {
                let rest = skip_ws(rest);
                if rest.is_empty() {
                    Ok(Expr { root })
                } else {
                    let message = if rest.starts_with(')') {
                        "unmatched ')'".to_string()
                    } else {
                        format!(
                            "expected 'and', 'or' or end of input, found '{}'",
                            token_at(rest)
                        )
                    };
                    Err(syntax_error(src, rest, message))
                }
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.into_parse_error(src)),
            Err(nom::Err::Incomplete(_)) => {
                Err(syntax_error(src, "", "unexpected end of input".to_string()))
            }
        }
    }

    /// Whether `rec` satisfies the expression. See the module docs for the
    /// comparison rules. Does not allocate when `rec` hands out borrowed strings.
    pub fn matches(&self, rec: &impl Fields) -> bool {
        eval(&self.root, rec)
    }

    /// Every comparison with a literal: its field, how it is written (`ts >= 2026-…`, or
    /// `field in (… v …)` for each value of a set) and the literal.
    fn each_comparison(&self, f: &mut dyn FnMut(&str, String, &Literal)) {
        fn walk(n: &Node, f: &mut dyn FnMut(&str, String, &Literal)) {
            match n {
                Node::Or(v) | Node::And(v) => v.iter().for_each(|c| walk(c, f)),
                Node::Not(c) => walk(c, f),
                Node::Present(_) | Node::Match { .. } => {}
                Node::Cmp { field, op, lit } => {
                    f(field, format!("{field} {} {}", op.as_str(), lit.text), lit);
                }
                Node::In { field, lits } => {
                    for lit in lits {
                        f(field, format!("{field} in (… {} …)", lit.text), lit);
                    }
                }
            }
        }
        walk(&self.root, f);
    }

    /// Comparisons that can never hold as meant: a number field against a value that is no
    /// number (`duration_ms > 100ms` would compare text), a level against a word that is no
    /// level name (`level >= warnn`). `type_of` says which fields hold numbers and levels.
    pub fn mismatches(&self, type_of: &dyn Fn(&str) -> Option<FieldType>) -> Vec<String> {
        fn fits(t: FieldType, lit: &Literal) -> bool {
            match t {
                FieldType::Number => lit.num.is_some() || quoted_number(&lit.text).is_some(),
                FieldType::Level => lit.level.is_some(),
                FieldType::Time => lit.time.is_some(),
            }
        }
        let mut out = Vec::new();
        self.each_comparison(&mut |field, shown, lit| {
            let Some(t) = type_of(field) else { return };
            if !fits(t, lit) {
                let what = match t {
                    FieldType::Number => "a number",
                    FieldType::Level => "a level name (trace, debug, info, warn, error, fatal)",
                    FieldType::Time => "an RFC3339 time (2026-11-22T07:02:00Z)",
                };
                out.push(format!("'{shown}': {:?} is not {what}", lit.text));
            }
        });
        out
    }

    /// The comparisons of a time field (`type_of` says which) with a time that names no zone,
    /// as written (`ts >= 2026-11-22T09:02:00`), each with the time it was read as (UTC ns).
    pub fn naive_times(&self, type_of: &dyn Fn(&str) -> Option<FieldType>) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        self.each_comparison(&mut |field, shown, lit| {
            if let (true, Some(FieldType::Time), Some(t)) = (lit.naive, type_of(field), lit.time) {
                out.push((shown, t));
            }
        });
        out
    }

    /// Does the expression read this field?
    pub fn reads(&self, field: &str) -> bool {
        fn walk(n: &Node, field: &str) -> bool {
            match n {
                Node::Or(v) | Node::And(v) => v.iter().any(|c| walk(c, field)),
                Node::Not(c) => walk(c, field),
                Node::Present(f)
                | Node::Cmp { field: f, .. }
                | Node::Match { field: f, .. }
                | Node::In { field: f, .. } => f == field,
            }
        }
        walk(&self.root, field)
    }

    /// The distinct field names the expression refers to, in order of first appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_fields(&self.root, &mut out);
        out
    }
}

impl FromStr for Expr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Expr, ParseError> {
        Expr::parse(s)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_node(&self.root, f, 0)
    }
}

fn collect_fields<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Or(v) | Node::And(v) => v.iter().for_each(|c| collect_fields(c, out)),
        Node::Not(c) => collect_fields(c, out),
        Node::Present(field)
        | Node::Cmp { field, .. }
        | Node::Match { field, .. }
        | Node::In { field, .. } => {
            if !out.contains(&field.as_str()) {
                out.push(field);
            }
        }
    }
}

/// `ctx`: 0 = top level, 1 = operand of `or`, 2 = operand of `and`/`not`.
fn fmt_node(n: &Node, f: &mut fmt::Formatter<'_>, ctx: u8) -> fmt::Result {
    match n {
        Node::Or(items) => fmt_list(items, " or ", f, ctx > 0, 1),
        Node::And(items) => fmt_list(items, " and ", f, ctx > 1, 2),
        Node::Not(c) => match &**c {
            // `not in` reads better and parses back to the same `Not(In)`.
            Node::In { field, lits } => fmt_in(field, " not in (", lits, f),
            c => {
                f.write_str("not ")?;
                fmt_node(c, f, 2)
            }
        },
        Node::Present(field) => f.write_str(field),
        Node::Cmp { field, op, lit } => {
            write!(f, "{field} {} ", op.as_str())?;
            write_literal(f, lit)
        }
        Node::In { field, lits } => fmt_in(field, " in (", lits, f),
        Node::Match { field, negate, re } => {
            write!(f, "{field} {} ", if *negate { "!~" } else { "~" })?;
            write_quoted(f, re.as_str())
        }
    }
}

fn fmt_list(
    items: &[Node],
    sep: &str,
    f: &mut fmt::Formatter<'_>,
    parens: bool,
    child_ctx: u8,
) -> fmt::Result {
    if parens {
        f.write_char('(')?;
    }
    for (i, c) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        fmt_node(c, f, child_ctx)?;
    }
    if parens {
        f.write_char(')')?;
    }
    Ok(())
}

fn fmt_in(field: &str, open: &str, lits: &[Literal], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(field)?;
    f.write_str(open)?;
    for (i, lit) in lits.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_literal(f, lit)?;
    }
    f.write_char(')')
}

fn write_literal(f: &mut fmt::Formatter<'_>, lit: &Literal) -> fmt::Result {
    if lit.num.is_some() {
        f.write_str(&lit.text)
    } else {
        write_quoted(f, &lit.text)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

fn eval<F: Fields + ?Sized>(n: &Node, rec: &F) -> bool {
    match n {
        Node::Or(items) => items.iter().any(|c| eval(c, rec)),
        Node::And(items) => items.iter().all(|c| eval(c, rec)),
        Node::Not(c) => !eval(c, rec),
        Node::Present(field) => rec.field(field).is_some(),
        Node::Cmp { field, op, lit } => match rec.field(field) {
            None => *op == CmpOp::Ne,
            Some(v) => op.test(compare(&v, lit)),
        },
        Node::Match { field, negate, re } => match rec.field(field) {
            None => *negate,
            Some(v) => with_str_form(&v, |s| re.is_match(s)) != *negate,
        },
        Node::In { field, lits } => rec.field(field).is_some_and(|v| {
            lits.iter()
                .any(|lit| compare(&v, lit) == Some(Ordering::Equal))
        }),
    }
}

/// Orders a field value against a literal; `None` means incomparable.
fn compare(v: &Value<'_>, lit: &Literal) -> Option<Ordering> {
    match v {
        Value::Num(x) => match lit.num.or_else(|| quoted_number(&lit.text)) {
            Some(n) => x.partial_cmp(&n),
            None => with_num_str(*x, |s| Some(s.cmp(lit.text.as_str()))),
        },
        Value::Str(s) => match lit.num {
            Some(n) => s.trim().parse::<f64>().ok().and_then(|x| x.partial_cmp(&n)),
            None => Some(s.as_ref().cmp(lit.text.as_str())),
        },
        Value::Level(l) => lit.level.map(|want| l.cmp(&want)),
        Value::Time(t) => lit.time.map(|want| t.cmp(&want)),
    }
}

/// A quoted literal that reads as a finite number (`"100"`): a number field compares with it
/// as a number (as text, `"100"` sorts before `"2"`).
fn quoted_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn with_str_form<R>(v: &Value<'_>, f: impl FnOnce(&str) -> R) -> R {
    match v {
        Value::Str(s) => f(s),
        Value::Num(x) => with_num_str(*x, f),
        Value::Level(l) => match level_name(*l) {
            Some(name) => f(name),
            None => with_num_str(f64::from(*l), f),
        },
        Value::Time(t) => f(&crate::time::format_rfc3339_nanos(*t)),
    }
}

/// Formats `x` (integers without `.0`, `-0` as `0`) into a stack buffer and
/// hands the text to `f`; falls back to the heap only for absurdly long output.
fn with_num_str<R>(x: f64, f: impl FnOnce(&str) -> R) -> R {
    let x = if x == 0.0 { 0.0 } else { x };
    let mut buf = StackBuf {
        bytes: [0; 400],
        len: 0,
    };
    if write!(buf, "{x}").is_ok() {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        if let Ok(s) = std::str::from_utf8(&buf.bytes[..buf.len]) {
            return f(s);
        }
    }
    f(&x.to_string())
}

struct StackBuf {
    bytes: [u8; 400],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Levels
// ---------------------------------------------------------------------------

const LEVEL_NAMES: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// Reads a severity name (case-insensitive) as an ordinal:
/// `trace`=0, `debug`=1, `info`=2, `warn`|`warning`=3, `error`|`err`=4,
/// `fatal`|`critical`|`crit`|`panic`=5. Anything else is `None`.
pub fn parse_level(s: &str) -> Option<u8> {
    const TABLE: [(&str, u8); 11] = [
        ("trace", 0),
        ("debug", 1),
        ("info", 2),
        ("warn", 3),
        ("warning", 3),
        ("error", 4),
        ("err", 4),
        ("fatal", 5),
        ("critical", 5),
        ("crit", 5),
        ("panic", 5),
    ];
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, l)| l)
}

fn level_name(l: u8) -> Option<&'static str> {
    LEVEL_NAMES.get(usize::from(l)).copied()
}

// ---------------------------------------------------------------------------
// Parser (nom 8)
// ---------------------------------------------------------------------------

/// Internal parse error: the remaining input where it happened and what went wrong.
#[derive(Debug)]
struct PErr<'a> {
    at: &'a str,
    kind: PErrKind<'a>,
}

#[derive(Debug)]
enum PErrKind<'a> {
    /// A primitive nom parser failed (normally caught and replaced by a message).
    Nom(ErrorKind),
    Msg(String),
    Unclosed {
        open: &'a str,
        found: String,
    },
    Regex {
        pattern: String,
        reason: String,
    },
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        PErr {
            at: input,
            kind: PErrKind::Nom(kind),
        }
    }
    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl PErr<'_> {
    fn into_parse_error(self, src: &str) -> ParseError {
        match self.kind {
            PErrKind::Nom(kind) => syntax_error(
                src,
                self.at,
                format!("syntax error ({})", kind.description()),
            ),
            PErrKind::Msg(m) => syntax_error(src, self.at, m),
            PErrKind::Unclosed { open, found } => {
                let msg = format!(
                    "expected ')' to close the '(' from column {}{found}",
                    column(src, open)
                );
                syntax_error(src, self.at, msg)
            }
            PErrKind::Regex { pattern, reason } => ParseError::Regex {
                pattern,
                column: column(src, self.at),
                reason,
                input: src.to_string(),
            },
        }
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn fail<T>(at: &str, msg: String) -> Res<'_, T> {
    Err(nom::Err::Failure(PErr {
        at,
        kind: PErrKind::Msg(msg),
    }))
}

fn syntax_error(src: &str, at: &str, message: String) -> ParseError {
    ParseError::Syntax {
        message,
        column: column(src, at),
        input: src.to_string(),
    }
}

/// 1-based character column of `at`, which must be a suffix of `src`.
fn column(src: &str, at: &str) -> usize {
    let off = src.len().saturating_sub(at.len());
    let prefix = src.get(..off).unwrap_or(src);
    prefix.chars().count() + 1
}

/// Short description of the token at the start of `i`, for error messages.
fn token_at(i: &str) -> String {
    let tok: String = i
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(20)
        .collect();
    if tok.chars().count() == 20 {
        format!("{tok}...")
    } else {
        tok
    }
}

/// `, found 'x'` or nothing at end of input.
fn found(i: &str) -> String {
    if i.is_empty() {
        String::new()
    } else {
        format!(", found '{}'", token_at(i))
    }
}

fn skip_ws(i: &str) -> &str {
    match multispace0::<&str, PErr<'_>>(i) {
        Ok((rest, _)) => rest,
        Err(_) => i,
    }
}

/// What came before an operand, for "expected an expression ..." messages.
#[derive(Clone, Copy)]
enum After<'a> {
    Start,
    Keyword(&'a str),
    Paren,
}

impl fmt::Display for After<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            After::Start => Ok(()),
            After::Keyword(k) => write!(f, " after '{k}'"),
            After::Paren => f.write_str(" after '('"),
        }
    }
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        satisfy(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
    ))
    .parse(i)
}

fn keyword<'a>(kw: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = PErr<'a>> {
    verify(ident, move |s: &str| s.eq_ignore_ascii_case(kw))
}

fn is_keyword(s: &str) -> bool {
    ["and", "or", "not", "in"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(s))
}

/// Parses `first (sep first)*` where `sep` is the keyword `kw`.
fn chain<'a>(
    i: &'a str,
    depth: usize,
    after: After<'a>,
    kw: &'static str,
    operand: fn(&'a str, usize, After<'a>) -> Res<'a, Node>,
) -> Res<'a, Vec<Node>> {
    let (mut i, first) = operand(i, depth, after)?;
    let mut items = vec![first];
    loop {
        match preceded(multispace0, keyword(kw)).parse(i) {
            Ok((rest, spelled)) => {
                let (rest, n) = operand(rest, depth, After::Keyword(spelled))?;
                items.push(n);
                i = rest;
            }
            Err(nom::Err::Error(_)) => return Ok((i, items)),
            Err(e) => return Err(e),
        }
    }
}

fn or_expr<'a>(i: &'a str, depth: usize, after: After<'a>) -> Res<'a, Node> {
    let (i, mut items) = chain(i, depth, after, "or", and_expr)?;
    let node = if items.len() == 1 {
        items.swap_remove(0)
    } else {
        Node::Or(items)
    };
    Ok((i, node))
}

fn and_expr<'a>(i: &'a str, depth: usize, after: After<'a>) -> Res<'a, Node> {
    let (i, mut items) = chain(i, depth, after, "and", unary)?;
    let node = if items.len() == 1 {
        items.swap_remove(0)
    } else {
        Node::And(items)
    };
    Ok((i, node))
}

fn unary<'a>(i: &'a str, depth: usize, after: After<'a>) -> Res<'a, Node> {
    let i = skip_ws(i);
    if let Ok((rest, spelled)) = keyword("not").parse(i) {
        if depth >= MAX_DEPTH {
            return fail(
                i,
                format!("expression nested too deeply (limit {MAX_DEPTH})"),
            );
        }
        let (rest, n) = unary(rest, depth + 1, After::Keyword(spelled))?;
        return Ok((rest, Node::Not(Box::new(n))));
    }
    if let Ok((rest, _)) = nom_char::<&str, PErr<'_>>('(').parse(i) {
        if depth >= MAX_DEPTH {
            return fail(
                i,
                format!("expression nested too deeply (limit {MAX_DEPTH})"),
            );
        }
        let (rest, n) = or_expr(rest, depth + 1, After::Paren)?;
        let rest = skip_ws(rest);
        return match nom_char::<&str, PErr<'_>>(')').parse(rest) {
            Ok((rest, _)) => Ok((rest, n)),
            Err(_) => Err(nom::Err::Failure(PErr {
                at: rest,
                kind: PErrKind::Unclosed {
                    open: i,
                    found: found(rest),
                },
            })),
        };
    }
    cmp(i, after)
}

fn comparison_op(i: &str) -> Res<'_, &str> {
    alt((
        tag("=="),
        tag("!="),
        tag("!~"),
        tag("<="),
        tag(">="),
        tag("="),
        tag("<"),
        tag(">"),
        tag("~"),
    ))
    .parse(i)
}

fn cmp<'a>(i: &'a str, after: After<'a>) -> Res<'a, Node> {
    let (rest, field) = match ident(i) {
        Ok((rest, name)) if !is_keyword(name) => (rest, name),
        _ => return fail(i, format!("expected an expression{after}{}", found(i))),
    };
    let r = skip_ws(rest);
    if let Some(set) = set_op(r) {
        let (rest, negate) = set?;
        let (rest, lits) = set_values(rest, field)?;
        let node = Node::In {
            field: field.to_string(),
            lits,
        };
        let node = if negate {
            Node::Not(Box::new(node))
        } else {
            node
        };
        return Ok((rest, node));
    }
    let (r, op) = match comparison_op(r) {
        Ok(ok) => ok,
        Err(_) => {
            let ends_operand = r.is_empty()
                || r.starts_with(')')
                || keyword("and").parse(r).is_ok()
                || keyword("or").parse(r).is_ok();
            if ends_operand {
                return Ok((rest, Node::Present(field.to_string())));
            }
            return fail(
                r,
                format!(
                    "expected an operator or 'and'/'or' after field '{field}'{}",
                    found(r)
                ),
            );
        }
    };
    let vstart = skip_ws(r);
    let (rest, (text, quoted)) = match value(vstart) {
        Ok(ok) => ok,
        Err(nom::Err::Error(_)) => {
            return fail(
                vstart,
                format!("expected a value after '{op}'{}", found(vstart)),
            );
        }
        Err(e) => return Err(e),
    };
    let field = field.to_string();
    let node = match op {
        "~" | "!~" => match Regex::new(&text) {
            Ok(re) => Node::Match {
                field,
                negate: op == "!~",
                re,
            },
            Err(e) => {
                return Err(nom::Err::Failure(PErr {
                    at: vstart,
                    kind: PErrKind::Regex {
                        pattern: text,
                        reason: e.to_string(),
                    },
                }));
            }
        },
        _ => {
            let op = match op {
                "=" | "==" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Node::Cmp {
                field,
                op,
                lit: Literal::new(text, quoted),
            }
        }
    };
    Ok((rest, node))
}

/// `in` or `not in` after a field: `Some((rest, negated))`, `None` when neither is here.
fn set_op(i: &str) -> Option<Res<'_, bool>> {
    if let Ok((rest, _)) = keyword("in").parse(i) {
        return Some(Ok((rest, false)));
    }
    let (after_not, _) = keyword("not").parse(i).ok()?;
    Some(
        match preceded(multispace0, keyword("in")).parse(after_not) {
            Ok((rest, _)) => Ok((rest, true)),
            Err(_) => {
                let at = skip_ws(after_not);
                fail(at, format!("expected 'in' after 'not'{}", found(at)))
            }
        },
    )
}

/// `( value, value, … )` of `field in`; a trailing comma is allowed, an empty list is not.
fn set_values<'a>(i: &'a str, field: &str) -> Res<'a, Vec<Literal>> {
    let open = skip_ws(i);
    let Some(mut i) = open.strip_prefix('(') else {
        return fail(
            open,
            format!(
                "expected '(' and a list of values after '{field} in'{}",
                found(open)
            ),
        );
    };
    let mut lits = Vec::new();
    loop {
        i = skip_ws(i);
        if let Some(rest) = i.strip_prefix(')')
            && !lits.is_empty()
        {
            return Ok((rest, lits));
        }
        let (rest, (text, quoted)) = match value(i) {
            Ok(ok) => ok,
            Err(nom::Err::Error(_)) => {
                return fail(i, format!("expected a value in the list{}", found(i)));
            }
            Err(e) => return Err(e),
        };
        lits.push(Literal::new(text, quoted));
        i = skip_ws(rest);
        if let Some(rest) = i.strip_prefix(',') {
            i = rest;
        } else if !i.starts_with(')') {
            return Err(nom::Err::Failure(PErr {
                at: i,
                kind: PErrKind::Unclosed {
                    open,
                    found: found(i),
                },
            }));
        }
    }
}

fn is_bareword_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '{' | '}' | '-')
}

/// A value token: `(text, quoted)`. Fails softly (Error) if nothing value-like is here,
/// hard (Failure) on an unterminated string.
fn value(i: &str) -> Res<'_, (String, bool)> {
    if let Some(body) = i.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((pos, c)) = chars.next() {
            match c {
                '"' => return Ok((&body[pos + 1..], (out, true))),
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((_, e)) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        return fail(i, "unterminated double-quoted string".to_string());
    }
    if let Some(body) = i.strip_prefix('\'') {
        return match body.find('\'') {
            Some(end) => Ok((&body[end + 1..], (body[..end].to_string(), true))),
            None => fail(i, "unterminated single-quoted string".to_string()),
        };
    }
    let (rest, word) = take_while1(is_bareword_char).parse(i)?;
    Ok((rest, (word.to_string(), false)))
}

/// `-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?`
fn is_number_token(s: &str) -> bool {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut p = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[p..]);
    if n == 0 {
        return false;
    }
    p += n;
    if b.get(p) == Some(&b'.') {
        let n = digits(&b[p + 1..]);
        if n == 0 {
            return false;
        }
        p += 1 + n;
    }
    if matches!(b.get(p), Some(b'e' | b'E')) {
        p += 1;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        let n = digits(b.get(p..).unwrap_or_default());
        if n == 0 {
            return false;
        }
        p += n;
    }
    p == b.len()
}

// ---------------------------------------------------------------------------
// Durations and time bounds
// ---------------------------------------------------------------------------

const NS_PER_SEC: i128 = 1_000_000_000;

/// Parses a positive duration into nanoseconds (`--bucket 1m`,
/// `--correlation-window 10m`).
///
/// A duration is one or more `<number><unit>` parts with no spaces between
/// them, e.g. `90s`, `1h30m`, `500ms`, `1.5h`. Units: `ns`, `us` (or `µs`),
/// `ms`, `s`, `m`, `h`, `d`. Zero, negative, unit-less and out-of-range
/// (more than ~292 years) durations are errors.
pub fn parse_duration(s: &str) -> Result<i64, ParseError> {
    let err = |reason: String| ParseError::Duration {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err(
            "empty duration (expected e.g. 90s, 15m, 1h30m)".to_string()
        ));
    }
    if t.starts_with('-') {
        return Err(err("durations must be positive".to_string()));
    }
    let mut rest = t;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err(format!("expected a number at '{}'", token_at(rest))));
        }
        let unit_len: usize = after_num
            .chars()
            .take_while(|c| c.is_alphabetic())
            .map(char::len_utf8)
            .sum();
        let (unit, after_unit) = after_num.split_at(unit_len);
        let mult: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NS_PER_SEC,
            "m" => 60 * NS_PER_SEC,
            "h" => 3_600 * NS_PER_SEC,
            "d" => 86_400 * NS_PER_SEC,
            "" => {
                let num = &rest[..rest.len() - after_num.len()];
                return Err(err(format!(
                    "missing unit after '{num}' (use ns, us, ms, s, m, h or d)"
                )));
            }
            other => {
                return Err(err(format!(
                    "unknown unit '{other}' (use ns, us, ms, s, m, h or d)"
                )));
            }
        };
        let too_large = || err("duration too large".to_string());
        let int: i128 = if int_part.is_empty() {
            0
        } else if int_part.len() > 30 {
            return Err(too_large());
        } else {
            int_part.parse().map_err(|_| too_large())?
        };
        // At most 18 fractional digits matter (ns of a day needs 14).
        let frac_digits = &frac_part[..frac_part.len().min(18)];
        let frac: i128 = if frac_digits.is_empty() {
            0
        } else {
            frac_digits.parse().unwrap_or(0)
        };
        let scale = 10i128.pow(u32::try_from(frac_digits.len()).unwrap_or(0));
        let part = int
            .checked_mul(mult)
            .and_then(|v| v.checked_add(frac * mult / scale))
            .ok_or_else(too_large)?;
        total = total.checked_add(part).ok_or_else(too_large)?;
        rest = after_unit;
    }
    if total <= 0 {
        return Err(err("duration must be greater than zero".to_string()));
    }
    i64::try_from(total).map_err(|_| err("duration too large".to_string()))
}

/// Parses a `--since`/`--until` argument into UTC nanoseconds since the epoch, reading a time
/// without a zone as UTC ([`parse_time_bound_in`]).
///
/// # Errors
/// See [`parse_time_bound_in`].
pub fn parse_time_bound(s: &str, now_ns: i64) -> Result<i64, ParseError> {
    parse_time_bound_in(s, now_ns, 0).map(|b| b.ns)
}

/// A `--since`/`--until` value ([`parse_time_bound_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    /// UTC nanoseconds since the epoch.
    pub ns: i64,
    /// A time that named no zone (`2026-11-22T07:00:00`, `2026-11-22`): read in the zone
    /// given to [`parse_time_bound_in`].
    pub naive: bool,
}

/// Parses a `--since`/`--until` argument into UTC nanoseconds since the epoch.
///
/// Accepted forms:
/// * RFC3339: `2026-11-22T07:00:00Z`, `2026-11-22T09:00:00.5+02:00`;
///   also `2026-11-22 07:00:00` and other offset-less forms, `2026-11-22T07:00` (seconds
///   omitted) and `2026-11-22` (midnight), which are read at `naive_offset_secs` east of UTC
///   (the offset the log's own times without a zone are read at: `--assume-tz`, else 0) and
///   marked [`TimeBound::naive`];
/// * `now`: `now_ns` itself;
/// * a duration (see [`parse_duration`]) taken back from `now_ns`: `15m`, `1h30m`.
///
/// # Errors
/// [`ParseError::Time`] naming the argument and what is wrong with it.
pub fn parse_time_bound_in(
    s: &str,
    now_ns: i64,
    naive_offset_secs: i32,
) -> Result<TimeBound, ParseError> {
    let zoned = |ns| TimeBound { ns, naive: false };
    let err = |reason: String| ParseError::Time {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err(
            "empty (expected e.g. 2026-11-22T07:00:00Z or a relative duration like 15m)"
                .to_string(),
        ));
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(zoned(now_ns));
    }
    let b = t.as_bytes();
    let looks_like_date = b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    if looks_like_date {
        return parse_rfc3339_in(t, i64::from(naive_offset_secs))
            .map(|(ns, naive)| TimeBound { ns, naive })
            .map_err(err);
    }
    match parse_duration(t) {
        Ok(d) => now_ns
            .checked_sub(d)
            .map(zoned)
            .ok_or_else(|| err("relative time reaches before the representable range".to_string())),
        Err(ParseError::Duration { reason, .. }) => Err(err(format!(
            "not an RFC3339 time (e.g. 2026-11-22T07:00:00Z) nor a relative duration \
             (e.g. 15m, 2h, 1h30m): {reason}"
        ))),
        Err(other) => Err(other),
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
///
/// Works in 400-year eras starting on March 1st, so the leap day is the last
/// day of each shifted year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400); // 0..=399
    let shifted_month = (m + 9) % 12; // March = 0 ... February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + d - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468 = days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Byte cursor for the hand-written RFC3339 parser.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(self.b.get(self.pos..).unwrap_or_default()).into_owned()
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {what} at '{}'", self.rest()))
        }
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize, what: &str) -> Result<u32, String> {
        let mut v: u32 = 0;
        for k in 0..n {
            match self.b.get(self.pos + k) {
                Some(d) if d.is_ascii_digit() => v = v * 10 + u32::from(d - b'0'),
                _ => return Err(format!("expected {n}-digit {what} at '{}'", self.rest())),
            }
        }
        self.pos += n;
        Ok(v)
    }
}

/// An RFC3339 time, or one without a zone read at `naive_offset_secs` east of UTC; and whether
/// it had none.
fn parse_rfc3339_in(t: &str, naive_offset_secs: i64) -> Result<(i64, bool), String> {
    let mut c = Cursor {
        b: t.as_bytes(),
        pos: 0,
    };
    let year = i64::from(c.digits(4, "year")?);
    c.expect(b'-', "'-'")?;
    let month = c.digits(2, "month")?;
    c.expect(b'-', "'-'")?;
    let day = c.digits(2, "day")?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} out of range 01-12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("day {day} out of range for {year:04}-{month:02}"));
    }
    let (mut hour, mut minute, mut second, mut nanos, mut offset_secs) =
        (0u32, 0u32, 0u32, 0u32, naive_offset_secs);
    let mut naive = true;
    if c.peek().is_some() {
        if !matches!(c.peek(), Some(b'T' | b't' | b' ')) {
            return Err(format!(
                "expected 'T' or a space before the time at '{}'",
                c.rest()
            ));
        }
        c.pos += 1;
        hour = c.digits(2, "hour")?;
        c.expect(b':', "':'")?;
        minute = c.digits(2, "minute")?;
        if c.eat(b':') {
            second = c.digits(2, "second")?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.pos;
                while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                    let k = c.pos - start;
                    if k < 9 {
                        nanos = nanos * 10 + u32::from(c.b[c.pos] - b'0');
                    }
                    c.pos += 1;
                }
                let n = c.pos - start;
                if n == 0 {
                    return Err("expected digits after the decimal point".to_string());
                }
                for _ in n..9 {
                    nanos *= 10;
                }
            }
        }
        match c.peek() {
            None => {}
            Some(b'Z' | b'z') => {
                c.pos += 1;
                offset_secs = 0;
                naive = false;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.pos += 1;
                naive = false;
                let oh = c.digits(2, "offset hour")?;
                c.eat(b':');
                let om = if c.peek().is_some() {
                    c.digits(2, "offset minute")?
                } else {
                    0
                };
                if oh > 23 || om > 59 {
                    return Err(format!("offset {oh:02}:{om:02} out of range"));
                }
                let secs = i64::from(oh * 3600 + om * 60);
                offset_secs = if sign == b'+' { secs } else { -secs };
            }
            Some(_) => {
                return Err(format!(
                    "expected 'Z' or an offset like +02:00 at '{}'",
                    c.rest()
                ));
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(format!(
                "time {hour:02}:{minute:02}:{second:02} out of range"
            ));
        }
    }
    if c.peek().is_some() {
        return Err(format!("unexpected trailing '{}'", c.rest()));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    let ns = i128::from(secs) * NS_PER_SEC + i128::from(nanos);
    i64::try_from(ns).map(|ns| (ns, naive)).map_err(|_| {
        "out of range (representable times are 1677-09-21 to 2262-04-11 UTC)".to_string()
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone)]
    enum TV {
        S(&'static str),
        N(f64),
        L(u8),
        T(i64),
    }

    /// Test record: a list of (name, value); hands out borrowed strings.
    struct Rec(Vec<(&'static str, TV)>);

    impl Fields for Rec {
        fn field(&self, name: &str) -> Option<Value<'_>> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| match v {
                    TV::S(s) => Value::Str(Cow::Borrowed(*s)),
                    TV::N(n) => Value::Num(*n),
                    TV::L(l) => Value::Level(*l),
                    TV::T(t) => Value::Time(*t),
                })
        }
    }

    fn rec(pairs: &[(&'static str, TV)]) -> Rec {
        Rec(pairs.to_vec())
    }

    /// Fully parenthesised s-expression of the AST, for precedence tests.
    fn sexpr(n: &Node) -> String {
        match n {
            Node::Or(v) => format!("(or {})", v.iter().map(sexpr).collect::<Vec<_>>().join(" ")),
            Node::And(v) => format!(
                "(and {})",
                v.iter().map(sexpr).collect::<Vec<_>>().join(" ")
            ),
            Node::Not(c) => format!("(not {})", sexpr(c)),
            Node::Present(f) => f.clone(),
            Node::Cmp { field, op, lit } => format!("({} {field} {})", op.as_str(), lit.text),
            Node::Match { field, negate, re } => {
                format!(
                    "({} {field} {})",
                    if *negate { "!~" } else { "~" },
                    re.as_str()
                )
            }
            Node::In { field, lits } => format!(
                "(in {field} {})",
                lits.iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }

    fn sx(src: &str) -> String {
        sexpr(
            &Expr::parse(src)
                .unwrap_or_else(|e| panic!("{src:?}: {e}"))
                .root,
        )
    }

    fn m(src: &str, r: &Rec) -> bool {
        Expr::parse(src)
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
            .matches(r)
    }

    fn perr(src: &str) -> String {
        match Expr::parse(src) {
            Ok(e) => panic!("{src:?} parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn precedence() {
        let cases = [
            ("a or b and c", "(or a (and b c))"),
            ("a and b or c", "(or (and a b) c)"),
            ("not a and b", "(and (not a) b)"),
            ("not (a and b)", "(not (and a b))"),
            ("(a or b) and c", "(and (or a b) c)"),
            ("a or b or c", "(or a b c)"),
            ("a and b and c or d", "(or (and a b c) d)"),
            ("not not a", "(not (not a))"),
            ("NOT a AND b Or c", "(or (and (not a) b) c)"),
            ("((a))", "a"),
            ("a or (b or c)", "(or a (or b c))"),
            ("not a = 1 or b", "(or (not (= a 1)) b)"),
            ("notice and order", "(and notice order)"),
            ("not(a)", "(not a)"),
            ("  a\t=\n1  ", "(= a 1)"),
            ("a=1 and(b<2)", "(and (= a 1) (< b 2))"),
        ];
        for (src, want) in cases {
            assert_eq!(sx(src), want, "{src}");
        }
    }

    #[test]
    fn precedence_by_evaluation() {
        let r = rec(&[("a", TV::N(1.0))]); // a present, b and c absent
        assert!(m("a or b and c", &r));
        assert!(!m("(a or b) and c", &r));
        assert!(!m("not a and b", &r));
        assert!(m("not (a and b)", &r));
    }

    #[test]
    fn operators() {
        let r = rec(&[("status", TV::N(500.0)), ("route", TV::S("/agents/7"))]);
        let cases = [
            ("status = 500", true),
            ("status == 500", true),
            ("status != 500", false),
            ("status < 500", false),
            ("status <= 500", true),
            ("status > 499", true),
            ("status >= 501", false),
            ("status = 500.0", true),
            ("status > -1", true),
            ("status < 5e2", false),
            ("status ~ \"^5\\d\\d$\"", true),
            ("status !~ '^5'", false),
            ("route = /agents/7", true),
            ("route != /agents/7", false),
            ("route < /b", true),
            ("route > /agents", true),
            ("route >= /agents/7", true),
            ("route <= /agents/6", false),
            ("route ~ agents", true),
            ("route !~ agents", false),
            ("route ~ '^/AGENTS'", false),
            ("route ~ '(?i)^/AGENTS'", true),
        ];
        for (src, want) in cases {
            assert_eq!(m(src, &r), want, "{src}");
        }
    }

    #[test]
    fn spec_example() {
        let e = Expr::parse(r#"status >= 500 and route ~ "/agents""#).expect("parses");
        assert!(e.matches(&rec(&[
            ("status", TV::N(503.0)),
            ("route", TV::S("/agents/run"))
        ])));
        assert!(!e.matches(&rec(&[
            ("status", TV::N(200.0)),
            ("route", TV::S("/agents/run"))
        ])));
        assert!(!e.matches(&rec(&[
            ("status", TV::N(503.0)),
            ("route", TV::S("/health"))
        ])));
        assert!(!e.matches(&rec(&[("route", TV::S("/agents"))])));
        assert_eq!(e.fields(), vec!["status", "route"]);
    }

    #[test]
    fn quoting() {
        let r = rec(&[("msg", TV::S(r#"say "hi" \ bye"#)), ("path", TV::S("/a b"))]);
        assert!(m(r#"msg = "say \"hi\" \\ bye""#, &r));
        assert!(m(r#"msg = 'say "hi" \ bye'"#, &r));
        assert!(m(r#"path = "/a b""#, &r));
        assert!(m("path = '/a b'", &r));
        // Unknown escapes are kept for regexes.
        assert!(m(r#"path ~ "^/a\sb$""#, &r));
        assert!(m(r#"msg ~ "\\\\ bye""#, &r));
        // Keywords are fine as quoted or bare values.
        assert!(m("x = and or path", &r));
        let e = Expr::parse("tool = 'ünïcødé'").expect("parses");
        assert!(e.matches(&rec(&[("tool", TV::S("ünïcødé"))])));
        assert!(m("path = \"\" or path", &r));
    }

    #[test]
    fn number_and_string_semantics() {
        let num = rec(&[("n", TV::N(42.0)), ("f", TV::N(1.5)), ("z", TV::N(-0.0))]);
        // Num vs a quoted number: numeric ("42" < "5" as text, not as numbers).
        assert!(m("n = '42'", &num));
        assert!(!m("n < '5'", &num));
        assert!(m("n > '5'", &num));
        // Num vs non-numeric literal: compared as the formatted string.
        assert!(m("n ~ '^42$'", &num)); // no trailing .0
        assert!(m("f ~ '^1\\.5$'", &num));
        assert!(m("z = '0'", &num));
        assert!(!m("n < 5", &num));
        assert!(m("n = 42abc or n != 42abc", &num));
        // Str vs number literal: parsed as f64, else incomparable.
        let s = rec(&[
            ("d", TV::S("12.5")),
            ("x", TV::S("abc")),
            ("p", TV::S(" 7 ")),
        ]);
        assert!(m("d > 9", &s));
        assert!(m("d = 12.50", &s));
        assert!(m("p = 7", &s));
        assert!(!m("x = 1", &s));
        assert!(!m("x < 1", &s));
        assert!(!m("x >= 1", &s));
        assert!(m("x != 1", &s));
        // Str vs string: exact, case-sensitive.
        assert!(!m("x = ABC", &s));
        assert!(m("d = '12.5'", &s));
        assert!(!m("d = '12.50'", &s));
    }

    #[test]
    fn missing_fields() {
        let r = rec(&[("a", TV::S("x"))]);
        let cases = [
            ("missing", false),
            ("not missing", true),
            ("missing = 1", false),
            ("missing = x", false),
            ("missing != 1", true),
            ("missing < 1", false),
            ("missing <= 1", false),
            ("missing > 1", false),
            ("missing >= 1", false),
            ("missing ~ '.*'", false),
            ("missing !~ '.*'", true),
            ("a", true),
            ("a ~ ''", true),
        ];
        for (src, want) in cases {
            assert_eq!(m(src, &r), want, "{src}");
        }
    }

    #[test]
    fn ne_is_negation_of_eq() {
        let recs = [
            rec(&[]),
            rec(&[("v", TV::N(3.0))]),
            rec(&[("v", TV::S("3"))]),
            rec(&[("v", TV::S("abc"))]),
            rec(&[("v", TV::L(3))]),
        ];
        for lit in ["3", "'3'", "abc", "warn", "bogus"] {
            let eq = Expr::parse(&format!("v = {lit}")).expect("eq");
            let ne = Expr::parse(&format!("v != {lit}")).expect("ne");
            for r in &recs {
                assert_eq!(ne.matches(r), !eq.matches(r), "v = {lit}");
            }
        }
    }

    #[test]
    fn levels() {
        let warn = rec(&[("level", TV::L(3))]);
        let cases = [
            ("level >= warn", true),
            ("level = WARNING", true),
            ("level = warn", true),
            ("level > warn", false),
            ("level < error", true),
            ("level <= err", true),
            ("level >= crit", false),
            ("level > info", true),
            ("level = bogus", false),
            ("level != bogus", true),
            ("level >= bogus", false),
            ("level = 3", false),
            ("level ~ '^warn$'", true),
            ("level = 'Warn'", true),
        ];
        for (src, want) in cases {
            assert_eq!(m(src, &warn), want, "{src}");
        }
        assert!(m("level ~ '^9$'", &rec(&[("level", TV::L(9))])));
    }

    #[test]
    fn parse_level_names() {
        let cases = [
            ("trace", Some(0)),
            ("DEBUG", Some(1)),
            ("Info", Some(2)),
            ("warn", Some(3)),
            ("WARNING", Some(3)),
            ("error", Some(4)),
            ("err", Some(4)),
            ("fatal", Some(5)),
            ("critical", Some(5)),
            ("CRIT", Some(5)),
            ("panic", Some(5)),
            ("", None),
            ("information", None),
            ("warnx", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_level(s), want, "{s}");
        }
    }

    #[test]
    fn fields_listed_once_in_order() {
        let e = Expr::parse("b = 1 or not (a and fields.tool_name ~ x) or b > 2").expect("parses");
        assert_eq!(e.fields(), vec!["b", "a", "fields.tool_name"]);
    }

    #[test]
    fn error_messages() {
        let cases = [
            (
                "status >= ",
                "--where: expected a value after '>=' at column 11: status >= ",
            ),
            ("", "--where: expected an expression at column 1: "),
            ("   ", "--where: expected an expression at column 4:    "),
            (
                "a and",
                "--where: expected an expression after 'and' at column 6: a and",
            ),
            (
                "a OR )",
                "--where: expected an expression after 'OR', found ')' at column 6: a OR )",
            ),
            (
                "not",
                "--where: expected an expression after 'not' at column 4: not",
            ),
            (
                "(a",
                "--where: expected ')' to close the '(' from column 1 at column 3: (a",
            ),
            (
                "x and (a = 1 b)",
                "--where: expected ')' to close the '(' from column 7, found 'b)' at column 14: x and (a = 1 b)",
            ),
            ("a)", "--where: unmatched ')' at column 2: a)"),
            (
                "a = 1 b",
                "--where: expected 'and', 'or' or end of input, found 'b' at column 7: a = 1 b",
            ),
            (
                "status 500",
                "--where: expected an operator or 'and'/'or' after field 'status', found '500' at column 8: status 500",
            ),
            (
                "a = !",
                "--where: expected a value after '=', found '!' at column 5: a = !",
            ),
            (
                "a = \"abc",
                "--where: unterminated double-quoted string at column 5: a = \"abc",
            ),
            (
                "a = 'abc",
                "--where: unterminated single-quoted string at column 5: a = 'abc",
            ),
            (
                "and",
                "--where: expected an expression, found 'and' at column 1: and",
            ),
            (
                "1 = 1",
                "--where: expected an expression, found '1' at column 1: 1 = 1",
            ),
            (
                "é = 1",
                "--where: expected an expression, found 'é' at column 1: é = 1",
            ),
            (
                "msg = 'é' x",
                "--where: expected 'and', 'or' or end of input, found 'x' at column 11: msg = 'é' x",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(perr(src), want, "{src:?}");
        }
    }

    #[test]
    fn regex_errors() {
        match Expr::parse("route ~ '(unclosed'") {
            Err(ParseError::Regex {
                pattern,
                column,
                reason,
                ..
            }) => {
                assert_eq!(pattern, "(unclosed");
                assert_eq!(column, 9);
                assert!(reason.contains("unclosed group"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let msg = perr("a = 1 and route !~ \"[z-a]\"");
        assert!(
            msg.starts_with("--where: invalid regex \"[z-a]\" at column 20: "),
            "{msg}"
        );
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(Expr::parse(&ok).is_ok());
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(perr(&deep).contains("nested too deeply"));
        let nots = "not ".repeat(100_000) + "a";
        assert!(perr(&nots).contains("nested too deeply"));
        let parens = "(".repeat(100_000);
        assert!(perr(&parens).contains("nested too deeply"));
        // Long flat chains are fine (no recursion per operand).
        let chain = vec!["a = 1"; 10_000].join(" or ");
        assert!(Expr::parse(&chain).is_ok());
    }

    #[test]
    fn display_round_trip_examples() {
        let cases = [
            (
                r#"status >= 500 and route ~ "/agents""#,
                r#"status >= 500 and route ~ "/agents""#,
            ),
            ("a or b and c", "a or b and c"),
            ("(a or b) and not (c or d)", "(a or b) and not (c or d)"),
            ("x == GET", r#"x = "GET""#),
            (r#"m = 'a"b\c'"#, r#"m = "a\"b\\c""#),
            (r"r ~ '\d+'", r#"r ~ "\\d+""#),
            ("n = -1.5e3", "n = -1.5e3"),
            ("status IN (401,403,)", "status in (401, 403)"),
            (
                "not (level in (error, 'x y'))",
                r#"level not in ("error", "x y")"#,
            ),
            ("a not in (1) and b", "a not in (1) and b"),
        ];
        for (src, want) in cases {
            let e = Expr::parse(src).expect("parses");
            assert_eq!(e.to_string(), want);
            assert_eq!(Expr::parse(&e.to_string()).expect("reparses"), e);
        }
    }

    #[test]
    fn set_membership() {
        assert_eq!(
            sx("status in (401, 403) or a"),
            "(or (in status 401 403) a)"
        );
        assert_eq!(sx("status not in (1)"), "(not (in status 1))");
        assert_eq!(sx("not a in (x) and b"), "(and (not (in a x)) b)");
        let r = rec(&[
            ("status", TV::N(403.0)),
            ("method", TV::S("POST")),
            ("level", TV::L(4)),
        ]);
        assert!(m("status in (401, 403)", &r));
        assert!(!m("status in (401, 404)", &r));
        assert!(
            m("status in ('403')", &r),
            "a number against a quoted literal as text"
        );
        assert!(m("method in (GET, POST)", &r));
        assert!(!m("method in (get, post)", &r), "exact, case-sensitive");
        assert!(m("level in (fatal, ERROR)", &r));
        // A missing field is in no set, so it is `not in` every set.
        assert!(!m("missing in (1, x)", &r));
        assert!(m("missing not in (1, x)", &r));
        assert!(!m("status not in (403)", &r));
    }

    #[test]
    fn set_membership_errors() {
        let cases = [
            (
                "status in ()",
                "expected a value in the list, found ')' at column 12",
            ),
            (
                "status in 401",
                "expected '(' and a list of values after 'status in', found '401'",
            ),
            (
                "status in (401 403)",
                "expected ')' to close the '(' from column 11, found '403)'",
            ),
            (
                "status in (401,",
                "expected a value in the list at column 16",
            ),
            (
                "status not 401",
                "expected 'in' after 'not', found '401' at column 12",
            ),
            ("in = 1", "expected an expression, found 'in' at column 1"),
            ("s in ('x", "unterminated single-quoted string"),
        ];
        for (src, want) in cases {
            let got = perr(src);
            assert!(got.contains(want), "{src:?}: {got}");
        }
    }

    #[test]
    fn number_tokens() {
        for s in ["0", "-1", "1.5", "-0.25", "1e9", "2E-3", "10"] {
            assert!(is_number_token(s), "{s}");
        }
        for s in [
            "", "-", "1.", ".5", "1e", "1.2.3", "1-2", "abc", "0x10", "1e-", "--1",
        ] {
            assert!(!is_number_token(s), "{s}");
        }
        // Numeric-looking barewords that are not numbers are strings.
        let r = rec(&[("v", TV::S("1.2.3"))]);
        assert!(m("v = 1.2.3", &r));
    }

    // ----- durations and time bounds -----

    const S: i64 = 1_000_000_000;

    #[test]
    fn durations() {
        let cases = [
            ("1ns", 1),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("500ms", 500_000_000),
            ("90s", 90 * S),
            ("15m", 900 * S),
            ("2h", 7200 * S),
            ("1d", 86_400 * S),
            ("1h30m", 5400 * S),
            ("1d2h3m4s5ms", ((86_400 + 7200 + 180 + 4) * S) + 5_000_000),
            ("1.5h", 5400 * S),
            (".5s", S / 2),
            (" 10m ", 600 * S),
            ("0s1ns", 1),
            ("106751d", 106_751 * 86_400 * S),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn duration_errors() {
        let cases = [
            (
                "",
                "invalid duration \"\": empty duration (expected e.g. 90s, 15m, 1h30m)",
            ),
            (
                "0s",
                "invalid duration \"0s\": duration must be greater than zero",
            ),
            (
                "-5m",
                "invalid duration \"-5m\": durations must be positive",
            ),
            (
                "90",
                "invalid duration \"90\": missing unit after '90' (use ns, us, ms, s, m, h or d)",
            ),
            (
                "1h30",
                "invalid duration \"1h30\": missing unit after '30' (use ns, us, ms, s, m, h or d)",
            ),
            (
                "5y",
                "invalid duration \"5y\": unknown unit 'y' (use ns, us, ms, s, m, h or d)",
            ),
            (
                "1M",
                "invalid duration \"1M\": unknown unit 'M' (use ns, us, ms, s, m, h or d)",
            ),
            (
                "1h 30m",
                "invalid duration \"1h 30m\": expected a number at ''",
            ),
            ("m", "invalid duration \"m\": expected a number at 'm'"),
            (
                "106752d",
                "invalid duration \"106752d\": duration too large",
            ),
            (
                "99999999999999999999999999999999999d",
                "invalid duration \"99999999999999999999999999999999999d\": duration too large",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_duration(s).map_err(|e| e.to_string()),
                Err(want.to_string()),
                "{s}"
            );
        }
    }

    #[test]
    fn time_bounds_absolute() {
        let base = 1_795_330_800 * S; // 2026-11-22T07:00:00Z
        let now = 0;
        let cases = [
            ("2026-11-22T07:00:00Z", base),
            ("2026-11-22t07:00:00z", base),
            ("2026-11-22 07:00:00", base),
            ("2026-11-22T07:00:00", base),
            ("2026-11-22T07:00", base),
            ("2026-11-22T09:00:00+02:00", base),
            ("2026-11-22T02:30:00-04:30", base),
            ("2026-11-22T09:00:00+0200", base),
            ("2026-11-22T07:00:00.5Z", base + S / 2),
            ("2026-11-22T07:00:00.123456789Z", base + 123_456_789),
            ("2026-11-22T07:00:00.1234567891Z", base + 123_456_789),
            ("2026-11-22", base - 7 * 3600 * S),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -S),
            ("2000-02-29T00:00:00Z", 951_782_400 * S),
            ("2262-04-11T23:47:16.854775807Z", i64::MAX),
            ("1677-09-21T00:12:43.145224192Z", i64::MIN),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time_bound(s, now), Ok(want), "{s}");
        }
    }

    #[test]
    fn days_from_civil_matches_day_counting() {
        // Walk day by day from 1600-01-01 through 2400-12-31 using days_in_month.
        let mut expect = days_from_civil(1600, 1, 1);
        for y in 1600..=2400 {
            for mo in 1..=12 {
                for d in 1..=days_in_month(y, mo) {
                    assert_eq!(days_from_civil(y, mo, d), expect, "{y}-{mo}-{d}");
                    expect += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn time_bounds_without_a_zone_are_read_at_the_given_offset() {
        let utc = 1_795_330_800 * S; // 2026-11-22T07:00:00Z
        let at = |s: &str, off: i32| parse_time_bound_in(s, 0, off).unwrap();
        let naive = |ns| TimeBound { ns, naive: true };
        let zoned = |ns| TimeBound { ns, naive: false };
        assert_eq!(at("2026-11-22T07:00:00", 0), naive(utc));
        assert_eq!(at("2026-11-22T09:00:00", 7200), naive(utc));
        assert_eq!(at("2026-11-22 09:00", 7200), naive(utc));
        assert_eq!(at("2026-11-22T02:00:00.5", -5 * 3600), naive(utc + S / 2));
        assert_eq!(at("2026-11-22", 7200), naive(utc - 9 * 3600 * S));
        // A zone given wins over the offset.
        assert_eq!(at("2026-11-22T07:00:00Z", 7200), zoned(utc));
        assert_eq!(at("2026-11-22T08:00:00+01:00", 7200), zoned(utc));
        assert_eq!(
            parse_time_bound_in("15m", utc, 7200),
            Ok(zoned(utc - 900 * S))
        );
        assert_eq!(parse_time_bound_in("now", utc, 7200), Ok(zoned(utc)));
    }

    #[test]
    fn time_bounds_relative() {
        let now = 1_800_000_000 * S;
        assert_eq!(parse_time_bound("15m", now), Ok(now - 900 * S));
        assert_eq!(parse_time_bound("1h30m", now), Ok(now - 5400 * S));
        assert_eq!(parse_time_bound("500ms", now), Ok(now - S / 2));
        assert_eq!(parse_time_bound("now", now), Ok(now));
        assert!(parse_time_bound("1d", i64::MIN).is_err());
    }

    #[test]
    fn time_bound_errors() {
        let cases = [
            ("2026-13-01T00:00:00Z", "month 13 out of range 01-12"),
            ("2026-02-29T00:00:00Z", "day 29 out of range for 2026-02"),
            ("2026-11-22T24:00:00Z", "time 24:00:00 out of range"),
            ("2026-11-22T07:00:00+25:00", "offset 25:00 out of range"),
            (
                "2026-11-22T07:00:00Q",
                "expected 'Z' or an offset like +02:00 at 'Q'",
            ),
            (
                "2026-11-22T07:00:00.Z",
                "expected digits after the decimal point",
            ),
            (
                "2026-11-22X07:00",
                "expected 'T' or a space before the time at 'X07:00'",
            ),
            ("2026-1-22", "expected 2-digit month at '1-22'"),
            ("2026-11-22T7:00", "expected 2-digit hour at '7:00'"),
            (
                "2300-01-01T00:00:00Z",
                "out of range (representable times are 1677-09-21 to 2262-04-11 UTC)",
            ),
            ("2026-11-22T07:00:00Z junk", "unexpected trailing ' junk'"),
            (
                "yesterday",
                "not an RFC3339 time (e.g. 2026-11-22T07:00:00Z) nor a relative duration (e.g. 15m, 2h, 1h30m): expected a number at 'yesterday'",
            ),
            (
                "",
                "empty (expected e.g. 2026-11-22T07:00:00Z or a relative duration like 15m)",
            ),
        ];
        for (s, reason) in cases {
            match parse_time_bound(s, 0) {
                Err(ParseError::Time { input, reason: got }) => {
                    assert_eq!(input, s);
                    assert_eq!(got, reason, "{s}");
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        assert!(
            parse_time_bound("1h30", 0)
                .unwrap_err()
                .to_string()
                .starts_with("invalid time \"1h30\": not an RFC3339 time")
        );
    }

    #[test]
    fn where_times_without_a_zone_are_read_at_the_given_offset() {
        const S: i64 = 1_000_000_000;
        let utc = parse_time_bound("2026-11-22T07:02:00Z", 0).expect("time");
        let type_of = |f: &str| (f == "ts").then_some(FieldType::Time);
        let at_7 = rec(&[("ts", TV::T(utc))]);
        let e = Expr::parse_in("ts = 2026-11-22T09:02:00", 7200).expect("parses");
        assert!(e.matches(&at_7));
        assert_eq!(
            e.naive_times(&type_of),
            [("ts = 2026-11-22T09:02:00".to_string(), utc)]
        );
        // Without an offset (and with Expr::parse): UTC.
        assert!(
            !Expr::parse("ts = 2026-11-22T09:02:00")
                .unwrap()
                .matches(&at_7)
        );
        assert!(
            Expr::parse_in("ts = 2026-11-22T07:02:00", 0)
                .unwrap()
                .matches(&at_7)
        );
        // A date alone is midnight there; `in` sets too; a zone given wins.
        let e = Expr::parse_in("ts in (2026-11-22T08:02:00) and ts < 2026-11-23", 3600).unwrap();
        assert!(e.matches(&at_7));
        assert_eq!(e.naive_times(&type_of).len(), 2);
        let before = Expr::parse_in("ts < 2026-11-23", 3600).unwrap();
        let midnight_there = utc + (15 * 3600 + 58 * 60) * S; // 2026-11-22T23:00:00Z
        assert!(before.matches(&rec(&[("ts", TV::T(midnight_there - 1))])));
        assert!(!before.matches(&rec(&[("ts", TV::T(midnight_there))])));
        let zoned = Expr::parse_in("ts = 2026-11-22T07:02:00Z", 7200).unwrap();
        assert!(zoned.matches(&at_7));
        assert!(zoned.naive_times(&type_of).is_empty());
        // Only time fields are told about: elsewhere the value is text.
        let text = Expr::parse_in("fields.day = 2026-11-22", 7200).unwrap();
        assert!(text.naive_times(&type_of).is_empty());
        assert!(text.matches(&rec(&[("fields.day", TV::S("2026-11-22"))])));
    }

    // ----- property tests -----

    fn token_soup() -> impl Strategy<Value = String> {
        let tok = prop::sample::select(vec![
            "a",
            "b",
            "status",
            "f.x",
            "and",
            "OR",
            "not",
            "(",
            ")",
            "=",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "~",
            "!~",
            "500",
            "-1.5",
            "'q'",
            "\"s\\\"t\"",
            "\"",
            "'",
            "/x",
            "err",
            "é",
            "\\",
            "!",
            " ",
            "1e",
            "[",
            "in",
            ",",
        ]);
        prop::collection::vec(tok, 0..24).prop_map(|v| v.join(" "))
    }

    fn valid_expr() -> impl Strategy<Value = String> {
        let field = prop::sample::select(vec!["a", "status", "route", "fields.tool_name", "level"]);
        let op = prop::sample::select(vec!["=", "==", "!=", "<", "<=", ">", ">=", "~", "!~"]);
        let val = prop_oneof![
            (-1000i32..1000).prop_map(|n| n.to_string()),
            (-1000.0f64..1000.0).prop_map(|n| format!("{n}")),
            "[a-z/_.:-]{1,8}",
            "[ -~]{0,8}".prop_map(|s| format!("'{}'", s.replace('\'', ""))),
            "[ -~]{0,8}"
                .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
        ];
        let set = (
            field.clone(),
            prop::sample::select(vec!["in", "not in", "NOT IN"]),
            prop::collection::vec(val.clone(), 1..4),
        )
            .prop_map(|(f, o, vs)| format!("{f} {o} ({})", vs.join(", ")));
        let leaf = prop_oneof![
            field.clone().prop_map(String::from),
            (field, op, val).prop_map(|(f, o, v)| format!("{f} {o} {v}")),
            set,
        ];
        leaf.prop_recursive(5, 32, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                inner.clone().prop_map(|a| format!("not {a}")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    fn check_round_trip(e: &Expr) -> Result<(), TestCaseError> {
        let printed = e.to_string();
        let again = Expr::parse(&printed)
            .map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert_eq!(&again, e, "{}", printed);
        prop_assert_eq!(again.to_string(), printed);
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Expr::parse(&s);
            let _ = parse_duration(&s);
            let _ = parse_time_bound(&s, 0);
            let _ = parse_time_bound(&s, i64::MIN);
        }

        #[test]
        fn parse_never_panics_on_token_soup(s in token_soup()) {
            if let Ok(e) = Expr::parse(&s) {
                check_round_trip(&e)?;
            }
        }

        #[test]
        fn time_parsers_never_panic(s in "[0-9TZ:+.\\- a-zµ]{0,40}") {
            let _ = parse_duration(&s);
            let _ = parse_time_bound(&s, 0);
        }

        #[test]
        fn valid_exprs_parse_and_round_trip(s in valid_expr()) {
            match Expr::parse(&s) {
                Ok(e) => check_round_trip(&e)?,
                // Only random regexes may legitimately fail to compile.
                Err(ParseError::Regex { .. }) => {}
                Err(err) => return Err(TestCaseError::fail(format!("{s:?}: {err}"))),
            }
        }

        #[test]
        fn ne_negates_eq(n in -5.0f64..5.0, lit in "-?[0-9]{1,2}|[a-z]{1,3}|'[0-9]'") {
            let eq = Expr::parse(&format!("v = {lit}")).expect("eq parses");
            let ne = Expr::parse(&format!("v != {lit}")).expect("ne parses");
            for r in [rec(&[]), rec(&[("v", TV::N(n.round()))]), rec(&[("v", TV::S("3"))])] {
                prop_assert_eq!(ne.matches(&r), !eq.matches(&r));
            }
        }

        #[test]
        fn in_is_a_disjunction_of_eq(
            n in -3.0f64..3.0,
            lits in prop::collection::vec("-?[0-9]|[a-c]|'[0-9]'|info|warn", 1..4),
        ) {
            let list = lits.join(", ");
            let set = Expr::parse(&format!("v in ({list})")).expect("in parses");
            let not_set = Expr::parse(&format!("v not in ({list})")).expect("not in parses");
            let ors: Vec<String> = lits.iter().map(|l| format!("v = {l}")).collect();
            let any = Expr::parse(&ors.join(" or ")).expect("or parses");
            for r in [
                rec(&[]),
                rec(&[("v", TV::N(n.round()))]),
                rec(&[("v", TV::S("b"))]),
                rec(&[("v", TV::L(3))]),
            ] {
                prop_assert_eq!(set.matches(&r), any.matches(&r));
                prop_assert_eq!(not_set.matches(&r), !any.matches(&r));
            }
        }

        #[test]
        fn rfc3339_matches_utc_fields(
            y in 1678i64..2262, mo in 1u32..=12, d in 1u32..=28,
            h in 0u32..24, mi in 0u32..60, s in 0u32..60,
        ) {
            let txt = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            let got = parse_time_bound(&txt, 0).expect("valid");
            let want = (days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s)) * S;
            prop_assert_eq!(got, want);
        }
    }
}
