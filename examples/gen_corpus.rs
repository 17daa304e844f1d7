//! Deterministic benchmark corpus: `cargo run --release --example gen_corpus -- LINES [SEED] > file`.
//! The generator lives in `benches/corpus.rs` so the bench scripts (`benches/*.sh`, `*.py`) use the same data.
#[path = "../benches/corpus.rs"]
mod corpus;

fn main() {
    let mut args = std::env::args().skip(1);
    let lines = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let bytes =
        corpus::generate(&corpus::CorpusSpec { lines, seed }, &mut out).expect("write corpus");
    eprintln!("{lines} lines, {bytes} bytes");
}
