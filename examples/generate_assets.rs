//! Regenerates `completions/` and `docs/man/` from the clap definitions:
//! `cargo run --example generate_assets -- .` (what `make completions` runs).

fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    bx_events::commands::completions::write_assets(std::path::Path::new(&root))
}
