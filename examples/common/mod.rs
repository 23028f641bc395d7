//! What the benchmarks share (included with `#[path]`; each uses part of it).
#![allow(dead_code)]

pub mod server;

/// Numeric `--name value` options: `names` with their `defaults`, in the same order.
/// An unknown name, a missing value or a value that is not a number is an error.
pub fn options<const N: usize>(names: [&str; N], defaults: [u64; N]) -> anyhow::Result<[u64; N]> {
    let mut values = defaults;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let i = names
            .iter()
            .position(|n| *n == flag)
            .ok_or_else(|| anyhow::anyhow!("unknown option {flag}; known: {}", names.join(" ")))?;
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        values[i] = value
            .parse()
            .map_err(|e| anyhow::anyhow!("{flag} {value}: {e}"))?;
    }
    Ok(values)
}
