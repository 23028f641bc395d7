//! The dashboard (`web/dist`, built by `npm --prefix web run build`) is embedded in
//! release builds. Its file names carry content hashes, so a rebuild adds new files that
//! cargo would not notice by itself: rerun (and re-embed) whenever the folder changes.

fn main() {
    println!("cargo:rerun-if-changed=web/dist");
}
