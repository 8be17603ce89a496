//! Embeds every shipped topic file (`data/topics/*.json`) into the crate.
//!
//! Generates `$OUT_DIR/builtin_topics.rs` holding one `(file name, include_str!(..))` pair per
//! file, sorted by name so the catalog is the same on every machine. A missing directory yields
//! an empty list; `Catalog::builtin` then reports an empty catalog rather than failing the build.

use std::{env, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("../../data/topics");
    println!("cargo:rerun-if-changed=../../data/topics");

    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();

    let mut code = String::from("pub(crate) const BUILTIN_TOPICS: &[(&str, &str)] = &[\n");
    for path in &files {
        let path = path.canonicalize().expect("listed file exists");
        let name = path
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned();
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");

    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("builtin_topics.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
