//! logsleuth: a log-analysis stream processor for SREs.
//!
//! Pipeline stages, in data-flow order (see ARCHITECTURE.md):
//! [`source`] (where bytes come from) → [`envelope`] (kubectl / CRI / docker wrappers, partial
//! lines) → [`parse`] (formats from `parsers/*.toml`, into [`event::Event`]) → [`pipeline`]
//! (threads, continuation lines, [`request`] merging, [`filter`]) → [`analyze`] → [`output`]
//! and [`export`] (Parquet evidence bundles).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Hash map for keys taken from the input (identifiers, routes, group-by values): foldhash,
/// seeded per process (so crafted input cannot aim at collisions), at a fraction of SipHash's
/// cost on short strings. Counters and stream keys use their own hashers.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub mod analyze;
pub mod app;
pub mod board;
pub mod cli;
pub mod correlate;
pub mod envelope;
pub mod event;
pub mod export;
pub mod filter;
pub mod jsonscan;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod reorder;
pub mod request;
pub mod route;
pub mod rules;
pub mod sketch;
pub mod source;
pub mod time;
