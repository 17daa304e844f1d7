//! One literal scan per event instead of one string search per rule.
//!
//! Every event-scoped rule is reduced (at load time) to a *gate* ([`Gate`]): one or two sets of
//! literals, of each of which at least one must occur in `message`, `exception` or `format`
//! for its condition to hold ([`Condition::required_literals`]: the `equals`, `in`,
//! `contains`, `starts_with` texts, the literal prefixes of regexes, then their literal
//! suffixes). Per field, the literals that must begin the text (`starts_with`, `equals`, `in`,
//! `^` regexes) are looked up by the text's first byte, and those that may occur anywhere
//! (`contains`, unanchored regexes, regex suffixes) are found by reading a 4-byte gram every few
//! bytes when all are long ([`Sampled`]: the built-in rules' are 11 bytes or more), else by one
//! Aho-Corasick automaton. A parse worker scans each field once ([`LiteralScan::scan`]) and then
//! evaluates only the rules whose gate opened. Each folded rule list (a service's plan,
//! [`GatedList`]) scans only the literals of its own rules' first sets (the overlapping
//! automaton is shared and may report other lists' literals, which none of its gates reads),
//! and the second sets' literals only for a text that opened a gate's first set: `^Error
//! handling message from \S+: ` begins the texts of three regex rules, which their endings tell
//! apart without running the regexes.
//!
//! Invariants: a gate is a necessary condition, never a sufficient one — the full condition is
//! still evaluated — so findings are exactly those of evaluating every rule. At most
//! [`MAX_LITERALS`] distinct literals take part; a rule needing more is simply not gated (a set
//! with a literal beyond them is left out of its gate).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::condition::{Condition, FieldRef, Subject};
use crate::event::Slot;

/// Most distinct literals in the scan (the width of [`Seen`]).
pub const MAX_LITERALS: usize = 256;

/// A set of literal ids: those that occurred in the scanned fields, or a rule's gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen([u64; MAX_LITERALS / 64]);

impl Seen {
    fn set(&mut self, id: u16) {
        if let Some(w) = self.0.get_mut(usize::from(id / 64)) {
            *w |= 1 << (id % 64);
        }
    }

    /// Is literal `id` in the set?
    fn has(&self, id: u16) -> bool {
        self.0
            .get(usize::from(id / 64))
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Add the literals of `other`.
    fn add(&mut self, other: &Seen) {
        for (w, o) in self.0.iter_mut().zip(other.0) {
            *w |= o;
        }
    }

    /// Do the two sets share a literal?
    pub fn intersects(&self, other: &Seen) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    /// The literal ids in the set, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                u16::try_from(w * 64 + b as usize).ok()
            })
        })
    }
}

/// A rule's gate: one or two sets of literals, each of which must share a literal with those
/// that occur (the first two of [`Condition::required_literals`]'s sets that differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    first: Seen,
    second: Option<Seen>,
}

impl Gate {
    /// Does the gate open for these literals?
    pub fn opens(&self, seen: &Seen) -> bool {
        seen.intersects(&self.first) && self.second.is_none_or(|s| seen.intersects(&s))
    }
}

/// A list of rules with their gates folded into bit masks over positions in the list, so a
/// subject costs one scan and a few mask operations instead of a gate test per rule.
///
/// Invariant: `masks` is `Some` only for lists of at most 64 rules; bit `p` stands for
/// `rules[p]`, so visiting set bits in ascending order keeps rule order.
#[derive(Clone, Debug, Default)]
pub struct GatedList {
    rules: Vec<u16>,
    masks: Option<GateMasks>,
}

#[derive(Clone, Debug)]
struct GateMasks {
    /// The literals of this list's gates' first sets only (ids as in the whole set's scan): a
    /// service's list does not search for the literals of other services' rules.
    scan: LiteralScan,
    /// The literals of their second sets, scanned only when a gate with one has its first
    /// set open (rare: the second sets are what tells such texts apart).
    second_scan: LiteralScan,
    /// Positions of rules without a gate (always tried).
    ungated: u64,
    /// Positions of rules with a gate.
    gated: u64,
    /// Positions of rules whose gate has a second set.
    with_second: u64,
    /// Per literal id: the positions whose gate's first set it is in.
    opened_by: Vec<u64>,
    /// Per literal id: the positions whose gate's second set it is in.
    opened_by_second: Vec<u64>,
}

impl GatedList {
    /// Add a rule (call [`GatedList::fold`] once all are added).
    pub fn push(&mut self, rule: u16) {
        self.rules.push(rule);
        self.masks = None;
    }

    /// Fold the gates (`gates[rule]`) into masks, with a scan of `literals` restricted to
    /// those the gates name (sharing automata with `whole`, the scan of them all).
    pub fn fold(
        &mut self,
        gates: &[Option<Gate>],
        literals: &LiteralsBuilder,
        whole: &LiteralScan,
    ) {
        if self.rules.len() > 64 {
            self.masks = None;
            return;
        }
        let mut m = GateMasks {
            scan: LiteralScan::default(),
            second_scan: LiteralScan::default(),
            ungated: 0,
            gated: 0,
            with_second: 0,
            opened_by: vec![0; MAX_LITERALS],
            opened_by_second: vec![0; MAX_LITERALS],
        };
        for (pos, &rule) in self.rules.iter().enumerate() {
            let bit = 1u64 << pos;
            match gates.get(usize::from(rule)).copied().flatten() {
                Some(gate) => {
                    m.gated |= bit;
                    for id in gate.first.ids() {
                        if let Some(w) = m.opened_by.get_mut(usize::from(id)) {
                            *w |= bit;
                        }
                    }
                    if let Some(second) = gate.second {
                        m.with_second |= bit;
                        for id in second.ids() {
                            if let Some(w) = m.opened_by_second.get_mut(usize::from(id)) {
                                *w |= bit;
                            }
                        }
                    }
                }
                None => m.ungated |= bit,
            }
        }
        let (mut first, mut second) = (Seen::default(), Seen::default());
        for gate in self
            .rules
            .iter()
            .filter_map(|&r| gates.get(usize::from(r)).copied().flatten())
        {
            first.add(&gate.first);
            second.add(&gate.second.unwrap_or_default());
        }
        m.scan = literals.build_for(Some(&first), Some(whole));
        m.second_scan = literals.build_for(Some(&second), Some(whole));
        self.masks = Some(m);
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[u16] {
        &self.rules
    }

    /// Call `f` for every rule whose gate the subject opens (and every ungated rule), in
    /// order; `None` when the list has no masks (then the caller tests gates one by one).
    pub fn for_each_open<S: Subject + ?Sized>(&self, s: &S, mut f: impl FnMut(u16)) -> Option<()> {
        let m = self.masks.as_ref()?;
        let mut todo = m.ungated;
        if m.gated != 0 {
            let mut first = 0;
            for id in m.scan.scan(s).ids() {
                first |= m.opened_by.get(usize::from(id)).copied().unwrap_or(0);
            }
            todo |= first & !m.with_second;
            let pending = first & m.with_second;
            if pending != 0 {
                let mut second = 0;
                for id in m.second_scan.scan(s).ids() {
                    second |= m
                        .opened_by_second
                        .get(usize::from(id))
                        .copied()
                        .unwrap_or(0);
                }
                todo |= pending & second;
            }
        }
        while todo != 0 {
            let pos = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            if let Some(&rule) = self.rules.get(pos) {
                f(rule);
            }
        }
        Some(())
    }
}

/// One literal a gate refers to.
#[derive(Debug, PartialEq, Eq)]
struct Literal {
    field: FieldRef,
    /// Must begin the text (else it may occur anywhere).
    at_start: bool,
    bytes: Vec<u8>,
}

/// Collects literals while gates are computed, then builds the scan.
#[derive(Debug, Default)]
pub struct LiteralsBuilder {
    literals: Vec<Literal>,
}

impl LiteralsBuilder {
    /// The gate of a condition (`None`: always evaluate it).
    pub fn gate(&mut self, condition: &Condition) -> Option<Gate> {
        let sets = condition.required_literals(&mut |field, at_start, bytes| {
            self.intern(Literal {
                field: field.clone(),
                at_start,
                bytes: bytes.to_vec(),
            })
        });
        let mut sets = sets.into_iter().map(|ids| {
            let mut set = Seen::default();
            ids.into_iter().for_each(|id| set.set(id));
            set
        });
        let first = sets.next()?;
        let second = sets.find(|s| *s != first);
        Some(Gate { first, second })
    }

    fn intern(&mut self, lit: Literal) -> Option<u16> {
        let i = match self.literals.iter().position(|l| *l == lit) {
            Some(i) => i,
            None if self.literals.len() < MAX_LITERALS => {
                self.literals.push(lit);
                self.literals.len() - 1
            }
            None => return None,
        };
        u16::try_from(i).ok()
    }

    /// The scan over every literal interned so far.
    pub fn build(&self) -> LiteralScan {
        self.build_for(None, None)
    }

    /// The scan over the literals interned so far that are in `only` (all when `None`).
    /// `whole`: the scan over all of them ([`LiteralsBuilder::build`]), whose overlapping
    /// automata are shared instead of built again (they may report literals not in `only`:
    /// bits no gate of the restricted scan's list refers to).
    pub fn build_for(&self, only: Option<&Seen>, whole: Option<&LiteralScan>) -> LiteralScan {
        if whole.is_some_and(|w| w.all_open) {
            return LiteralScan {
                fields: Vec::new(),
                all_open: true,
            };
        }
        let mut fields = Vec::new();
        for scanned in [
            FieldRef::Slot(Slot::Message),
            FieldRef::Slot(Slot::Exception),
            FieldRef::Format,
        ] {
            let mut field = FieldScan {
                field: scanned.clone(),
                by_first_byte: vec![Vec::new(); 256],
                anywhere: None,
            };
            let mut anywhere: (Vec<u16>, Vec<&[u8]>) = (Vec::new(), Vec::new());
            for (i, lit) in self.literals.iter().enumerate() {
                let (Ok(id), Some(&first)) = (u16::try_from(i), lit.bytes.first()) else {
                    continue;
                };
                if lit.field != scanned || only.is_some_and(|o| !o.has(id)) {
                    continue;
                }
                if lit.at_start {
                    if let Some(bucket) = field.by_first_byte.get_mut(usize::from(first)) {
                        bucket.push((id, lit.bytes.clone().into_boxed_slice()));
                    }
                } else {
                    anywhere.0.push(id);
                    anywhere.1.push(&lit.bytes);
                }
            }
            if let Some(sampled) = Sampled::new(&anywhere.0, &anywhere.1) {
                field.anywhere = Some(Anywhere::Sampled(sampled));
            } else if !anywhere.1.is_empty() {
                // Standard semantics + overlapping search report every literal that occurs,
                // also those inside or overlapping another one (leftmost semantics hide them).
                // A DFA: one table lookup per byte (the NFAs cost several times that, and
                // overlapping searches step through every byte); it stays small for the few
                // dozen literals rules have.
                let shared = whole
                    .and_then(|w| w.fields.iter().find(|f| f.field == scanned))
                    .and_then(|f| match &f.anywhere {
                        Some(Anywhere::Searched(s)) => Some(s),
                        _ => None,
                    });
                let (every, ids) = match shared {
                    Some(a) => (Ok(a.every.clone()), a.ids.clone()),
                    None => (
                        AhoCorasick::builder()
                            .match_kind(MatchKind::Standard)
                            .kind(Some(AhoCorasickKind::DFA))
                            .build(&anywhere.1),
                        anywhere.0,
                    ),
                };
                // The quick "any at all?" test that most texts stop at: the SIMD (Teddy)
                // searcher on its own, without the automaton's per-call set-up (messages are
                // short); the automaton with its prefilter when there are too many literals.
                let packed = aho_corasick::packed::Config::new()
                    .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(&anywhere.1)
                    .build();
                let any = match packed {
                    Some(p) => Ok(AnyScan::Packed(p)),
                    None => AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(&anywhere.1)
                        .map(AnyScan::Automaton),
                };
                match (any, every) {
                    (Ok(any), Ok(every)) => {
                        field.anywhere = Some(Anywhere::Searched(Searched { any, every, ids }));
                    }
                    // Not expected (a few hundred short literals); should it happen, every
                    // gate opens, which is merely slower.
                    _ => {
                        return LiteralScan {
                            fields: Vec::new(),
                            all_open: true,
                        };
                    }
                }
            }
            if field.anywhere.is_some() || field.by_first_byte.iter().any(|b| !b.is_empty()) {
                fields.push(field);
            }
        }
        LiteralScan {
            fields,
            all_open: false,
        }
    }
}

/// The literals of one field.
#[derive(Clone, Debug)]
struct FieldScan {
    field: FieldRef,
    /// Literals that must begin the text, indexed by their first byte (256 buckets).
    by_first_byte: Vec<Vec<(u16, Box<[u8]>)>>,
    /// Literals that may occur anywhere.
    anywhere: Option<Anywhere>,
}

/// Literals that may occur anywhere in a text.
#[derive(Clone, Debug)]
enum Anywhere {
    /// All of them long: a few grams of the text read ([`Sampled`]).
    Sampled(Sampled),
    /// Some short: a SIMD search, then an automaton.
    Searched(Searched),
}

/// Literals searched for in every byte of a text.
#[derive(Clone, Debug)]
struct Searched {
    /// Does any occur? (fast: SIMD)
    any: AnyScan,
    /// Which occur? (overlapping search, every byte)
    every: AhoCorasick,
    /// Pattern index → literal id.
    ids: Vec<u16>,
}

/// Which of a set of long literals occur in a text, reading one 4-byte gram every `step`
/// bytes instead of every byte (the SIMD search costs ~250 instructions even on a short
/// message, and nearly every message contains none of the literals).
///
/// With `step = shortest literal − GRAM + 1`, an occurrence of a literal starting at `s`
/// covers the `step` gram positions `s..s + step`, exactly one of which is a multiple of `step`;
/// the gram there is the literal's gram at an offset below `step`. So every occurrence is found
/// by looking up the grams at `0, step, 2·step, …` among the literals' grams at offsets
/// `0..step` and comparing the literal where such a gram places it. A bit set of gram hashes
/// rules out most grams in one test.
#[derive(Clone, Debug)]
struct Sampled {
    /// The shortest literal's length.
    shortest: usize,
    step: usize,
    /// Bit `hash(gram)`: some literal has `gram` at an offset below `step`.
    bits: Box<[u64; GRAM_WORDS]>,
    /// `starts[b]..starts[b + 1]`: the range of `grams` in bucket `b` (the hash's high bits).
    starts: Box<[u16]>,
    /// (gram, offset in its literal, index into `literals`), by bucket.
    grams: Vec<(u32, u16, u16)>,
    /// (literal id, bytes).
    literals: Vec<(u16, Box<[u8]>)>,
}

/// Bytes per gram.
const GRAM: usize = 4;
/// The shortest literal worth sampling: reading a gram every 5 bytes or more.
const SAMPLED_MIN_LEN: usize = 8;
const GRAM_HASH_BITS: u32 = 14;
const GRAM_WORDS: usize = (1 << GRAM_HASH_BITS) / 64;
/// Buckets of `Sampled::grams`: the hash's top bits.
const GRAM_BUCKET_BITS: u32 = 10;

impl Sampled {
    /// `None` unless there are literals and all are at least [`SAMPLED_MIN_LEN`] bytes long
    /// (and few enough to index).
    fn new(ids: &[u16], literals: &[&[u8]]) -> Option<Sampled> {
        let shortest = literals.iter().map(|l| l.len()).min()?;
        if shortest < SAMPLED_MIN_LEN || literals.len() > usize::from(u16::MAX) {
            return None;
        }
        let step = shortest - GRAM + 1;
        let mut bits = Box::new([0u64; GRAM_WORDS]);
        let mut grams = Vec::new();
        for (i, lit) in literals.iter().enumerate() {
            for (offset, gram) in lit.windows(GRAM).take(step).enumerate() {
                let g = Sampled::gram(gram);
                let h = Sampled::hash(g);
                if let Some(w) = bits.get_mut(h / 64) {
                    *w |= 1 << (h % 64);
                }
                grams.push((g, u16::try_from(offset).ok()?, u16::try_from(i).ok()?));
            }
        }
        let bucket = |g: u32| Sampled::hash(g) >> (GRAM_HASH_BITS - GRAM_BUCKET_BITS);
        grams.sort_by_key(|&(g, ..)| bucket(g));
        let mut starts = vec![0u16; (1 << GRAM_BUCKET_BITS) + 1];
        for &(g, ..) in &grams {
            if let Some(n) = starts.get_mut(bucket(g) + 1) {
                *n = n.checked_add(1)?;
            }
        }
        for b in 1..starts.len() {
            starts[b] = starts[b].checked_add(starts[b - 1])?;
        }
        Some(Sampled {
            shortest,
            step,
            bits,
            starts: starts.into_boxed_slice(),
            grams,
            literals: ids
                .iter()
                .zip(literals)
                .map(|(&id, l)| (id, Box::from(*l)))
                .collect(),
        })
    }

    fn gram(bytes: &[u8]) -> u32 {
        match *bytes {
            [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    fn hash(gram: u32) -> usize {
        (gram.wrapping_mul(0x9E37_79B1) >> (32 - GRAM_HASH_BITS)) as usize
    }

    /// Mark in `seen` every literal that occurs in `text`.
    fn scan(&self, text: &[u8], seen: &mut Seen) {
        if text.len() < self.shortest {
            return;
        }
        let mut at = 0;
        while let Some(bytes) = text.get(at..at + GRAM) {
            let g = Sampled::gram(bytes);
            let h = Sampled::hash(g);
            if self
                .bits
                .get(h / 64)
                .is_some_and(|w| w & (1 << (h % 64)) != 0)
            {
                self.place(text, at, g, h, seen);
            }
            at += self.step;
        }
    }

    /// The literals having gram `g` (hash `h`) at some offset, compared where that puts them.
    #[cold]
    fn place(&self, text: &[u8], at: usize, g: u32, h: usize, seen: &mut Seen) {
        let b = h >> (GRAM_HASH_BITS - GRAM_BUCKET_BITS);
        let (Some(&from), Some(&to)) = (self.starts.get(b), self.starts.get(b + 1)) else {
            return;
        };
        for &(gram, offset, i) in self
            .grams
            .get(usize::from(from)..usize::from(to))
            .unwrap_or(&[])
        {
            if gram != g {
                continue;
            }
            let Some((id, lit)) = self.literals.get(usize::from(i)) else {
                continue;
            };
            if let Some(start) = at.checked_sub(usize::from(offset))
                && text
                    .get(start..)
                    .is_some_and(|t| crate::bytes::starts_with(t, lit))
            {
                seen.set(*id);
            }
        }
    }
}

/// The "does any literal occur?" test.
#[derive(Clone, Debug)]
enum AnyScan {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl AnyScan {
    /// Where the first literal occurrence starts, if any: no literal starts before it.
    fn first(&self, text: &[u8]) -> Option<usize> {
        match self {
            AnyScan::Packed(p) => p.find(text).map(|m| m.start()),
            AnyScan::Automaton(a) => a.find(text).map(|m| m.start()),
        }
    }
}

/// The compiled scan (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct LiteralScan {
    fields: Vec<FieldScan>,
    /// The automata could not be built: report every literal as seen.
    all_open: bool,
}

impl LiteralScan {
    /// Which literals occur in the subject's `message`, `exception` and `format`.
    pub fn scan<S: Subject + ?Sized>(&self, s: &S) -> Seen {
        if self.all_open {
            return Seen([u64::MAX; MAX_LITERALS / 64]);
        }
        let mut seen = Seen::default();
        for f in &self.fields {
            let Some(text) = s.text(&f.field) else {
                continue;
            };
            let text = text.as_bytes();
            let starting = text
                .first()
                .and_then(|&b| f.by_first_byte.get(usize::from(b)));
            for (id, lit) in starting.into_iter().flatten() {
                if crate::bytes::starts_with(text, lit) {
                    seen.set(*id);
                }
            }
            // Most texts contain none of these literals: ask that first; then look for every
            // one from where the first starts.
            match &f.anywhere {
                Some(Anywhere::Sampled(a)) => a.scan(text, &mut seen),
                Some(Anywhere::Searched(a)) => {
                    if let Some(start) = a.any.first(text) {
                        let rest = aho_corasick::Input::new(text).span(start..text.len());
                        for m in a.every.find_overlapping_iter(rest) {
                            if let Some(&id) = a.ids.get(m.pattern().as_usize()) {
                                seen.set(id);
                            }
                        }
                    }
                }
                None => {}
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;
    use crate::rules::{Hit, RuleSet, Scope, parse_rule};

    /// A subject with just the fields the gates and the test rules read.
    struct Line {
        service: &'static str,
        format: &'static str,
        message: Option<String>,
        exception: Option<String>,
        level: f64,
    }

    impl Subject for Line {
        fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
            match f {
                FieldRef::Service => Some(self.service.into()),
                FieldRef::Format => Some(self.format.into()),
                FieldRef::Slot(Slot::Message) => self.message.as_deref().map(Cow::Borrowed),
                FieldRef::Slot(Slot::Exception) => self.exception.as_deref().map(Cow::Borrowed),
                _ => None,
            }
        }

        fn number(&self, f: &FieldRef) -> Option<f64> {
            (*f == FieldRef::Level).then_some(self.level)
        }
    }

    const EXTRA: &[&str] = &[
        r#"[match]
any = [{ field = "message", contains = ["abc", "bcd", "cd"] }]"#,
        r#"[match]
all = [{ field = "service", equals = "skreaver" }, { field = "message", regex = '(?i)^timeout (after|waiting)' }]"#,
        r#"[match]
field = "message"
regex = '(?m)^second line$'"#,
        r#"[match]
any = [{ field = "message", starts_with = "Token " }, { field = "level", ge = "error" }]"#,
        r#"[match]
all = [{ not = { field = "message", contains = "ok" } }, { field = "exception", contains = "Error" }]"#,
        r#"[match]
field = "format"
in = ["rust-panic", "python-text"]"#,
        r#"[match]
any = [{ field = "message", regex = 'abc.*(ok|Error)' }, { field = "exception", contains = "PING failed" }]"#,
        r#"[match]
all = [{ field = "message", starts_with = "Token " }, { field = "message", regex = '(?i)Token \S+ (invalid|ok)$' }]"#,
    ];

    static RULES: std::sync::LazyLock<RuleSet> = std::sync::LazyLock::new(rules);

    fn rules() -> RuleSet {
        let mut all: Vec<_> = RuleSet::load(None).expect("built-ins").rules().to_vec();
        for (n, m) in EXTRA.iter().enumerate() {
            let text = format!(
                "id = \"TEST{n:03}\"\nname = \"test-{n}\"\ntitle = \"t\"\nseverity = \"low\"\nrunbook = \"r\"\ndescription = \"d\"\n{m}\n"
            );
            all.push(parse_rule("test", &text).expect("test rule compiles"));
        }
        RuleSet::new(all).expect("rule set")
    }

    /// Every event rule tested without gates or plans (the reference).
    fn reference(set: &RuleSet, s: &Line) -> Vec<Hit> {
        let mut out = Vec::new();
        for (i, r) in set.rules().iter().enumerate() {
            if r.scope == Scope::Event {
                set.test(i as u16, s, &mut out);
            }
        }
        out
    }

    const PIECES: &[&str] = &[
        "abc",
        "bcd",
        "ab",
        "cd",
        "Token ",
        "token",
        "timeout after",
        "TIMEOUT waiting",
        "second line",
        "\n",
        "ok",
        "Error",
        "Connection failed: ",
        "PING failed",
        "waiting for a slot",
        "QueuePool limit of size",
        "JWT validation failed",
        "Error handling message from ",
        "ws-1: ",
        "Authentication failed: ",
        "Invalid token",
        "Permission denied",
        "Rate limit exceeded for IP address",
        "Invalid message format",
        "Message too large",
        "legacy ",
        "Message from ",
        " exceeds size limit",
        "GitHub API: Token configured (",
        "42",
        "/5000 requests remaining)",
        "Subscription limit exceeded",
        "Burst detected for ",
        "x",
        " on ",
        " - blocking for ",
        "Rate limit hit fetching ",
        "é",
        "日本",
    ];

    /// How rules' messages start, go on and end (regexes with literal prefixes and suffixes).
    const HEADS: &[&str] = &[
        "",
        "Error handling message from ",
        "Error handling legacy message from ",
        "Error handling protocol message from ",
        "Message from ",
        "Token ",
        "abc",
        "GitHub API: Token configured (",
        "Burst detected for ",
    ];
    const MIDDLES: &[&str] = &["", "ws-1: ", "ws-1:", "x", "42", "1.2.3.4 on /p", " "];
    const TAILS: &[&str] = &[
        "",
        "Authentication failed: ",
        "Permission denied",
        "Invalid token",
        "Rate limit exceeded for IP address",
        "Invalid message format",
        "Message too large",
        " exceeds size limit",
        "ok",
        "Error",
        " invalid",
        "/5000 requests remaining)",
        " - blocking for ",
    ];

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            prop::collection::vec(prop::sample::select(PIECES), 0..6).prop_map(|v| v.concat()),
            (
                prop::sample::select(HEADS),
                prop::sample::select(MIDDLES),
                prop::sample::select(TAILS),
                prop::sample::select(TAILS),
            )
                .prop_map(|(h, m, t, u)| format!("{h}{m}{t}{u}")),
        ])
    }

    proptest! {
        #[test]
        fn gates_and_plans_find_exactly_what_testing_every_rule_finds(
            service in prop::sample::select(&["skillmeat", "skreaver", "other"][..]),
            format in prop::sample::select(&["rust-panic", "python-text", "json"][..]),
            message in text(),
            exception in text(),
            level in 0u8..6,
        ) {
            let set = &*RULES;
            let line = Line { service, format, message, exception, level: f64::from(level) };
            let mut got = Vec::new();
            set.match_event(&line, &mut got);
            prop_assert_eq!(got, reference(set, &line));
        }
    }

    /// Long literals overlapping, repeated and sharing grams, for the sampled scan.
    const LONG: &[&str] = &[
        "Connection failed: ",
        "PING failed",
        "connection_pool exhausted",
        "Connection to redis backend failed",
        "failed: PING failed",
        "nnection fa",
        "ééééééé日本",
    ];

    proptest! {
        /// The sampled scan finds exactly the literals that occur, wherever they stand.
        #[test]
        fn sampled_scan_finds_exactly_the_literals_that_occur(
            pieces in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(LONG).prop_map(str::to_string),
                    prop::sample::select(LONG).prop_map(|l| l[..l.len() / 2].to_string()),
                    "[a-zA-Z :_]{0,9}",
                ],
                0..8,
            ),
            take in 1usize..=7,
        ) {
            let text = pieces.concat();
            let literals: Vec<&[u8]> = LONG.iter().take(take).map(|l| l.as_bytes()).collect();
            let ids: Vec<u16> = (0..literals.len() as u16).map(|i| i * 3 + 1).collect();
            let sampled = Sampled::new(&ids, &literals).expect("all long");
            let mut got = Seen::default();
            sampled.scan(text.as_bytes(), &mut got);
            let mut want = Seen::default();
            for (&id, lit) in ids.iter().zip(&literals) {
                if text.as_bytes().windows(lit.len()).any(|w| w == *lit) {
                    want.set(id);
                }
            }
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn unconstrained_conditions_have_no_gate_and_overlapping_literals_all_count() {
        let set = &*RULES;
        let rule = |id: &str| set.rules().iter().find(|r| r.id == id).expect("rule");
        let mut b = LiteralsBuilder::default();
        // `any` with an unconstrained branch (level) has no gate; `not` gives none either.
        assert!(b.gate(&rule("TEST003").condition).is_none());
        assert!(
            b.gate(&rule("TEST004").condition).is_some(),
            "the exception conjunct"
        );
        assert!(b.gate(&rule("TEST002").condition).is_some());
        let gate = b.gate(&rule("TEST000").condition).expect("gated");
        let scan = b.build();
        let line = |m: &str| Line {
            service: "skreaver",
            format: "json",
            message: Some(m.into()),
            exception: None,
            level: 2.0,
        };
        assert!(gate.opens(&scan.scan(&line("xabcdx"))));
        assert!(!gate.opens(&scan.scan(&line("xacbdx"))));
        // abc, bcd and cd overlap; all three are seen.
        let seen = scan.scan(&line("xabcdx"));
        assert_eq!(
            seen.ids()
                .filter(|&id| gate.first.ids().any(|g| g == id))
                .count(),
            3
        );
    }
}
