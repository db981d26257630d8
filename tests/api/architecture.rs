//! The architecture, checked: which module may import which, and how long a file in `src/` may
//! grow. The direction (STYLE.md, lib.rs "# Layout"):
//! `domain ← {store, ports} ← auth ← graphql ← http ← startup ← cli ← main`,
//! `adapters → {ports, domain}`, and `config` reads settings into the layers' own types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules it may name as `crate::…`.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("domain", &[][..]),
        ("metrics", &[]),
        ("sim", &[]),
        ("telemetry", &[]),
        ("ports", &["domain"]),
        ("store", &["domain"]),
        ("auth", &["domain", "ports", "store"]),
        ("relay", &["domain", "ports", "store"]),
        // `sim` for the development SMS inbox the `log` sender fills.
        ("adapters", &["domain", "ports", "metrics", "sim"]),
        ("graphql", &["auth", "domain", "metrics"]),
        ("http", &["graphql", "auth", "domain", "metrics"]),
        (
            "config",
            &[
                "domain",
                "auth",
                "adapters",
                "relay",
                "http",
                "sim",
                "telemetry",
            ],
        ),
        (
            "startup",
            &[
                "domain",
                "ports",
                "store",
                "auth",
                "relay",
                "adapters",
                "graphql",
                "http",
                "config",
                "metrics",
                "sim",
                "telemetry",
            ],
        ),
        (
            "cli",
            &[
                "startup",
                "config",
                "auth",
                "domain",
                "graphql",
                "ports",
                "sim",
                "telemetry",
            ],
        ),
        ("main", &["cli"]),
    ])
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`lib.rs` belongs to none).
fn module_of(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(src()).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

/// The modules a file names: `crate::x` (and, in the binary, `login_api::x`), outside comments.
fn named_modules(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                named.insert(name);
            }
        }
        // `use crate::{a, b::c}`: every module in the braces.
        if let Some(at) = code.find(&format!("{prefix}{{")) {
            let group = &code[at + prefix.len() + 1..];
            for item in group.split([',', '}']) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    named.insert(name);
                }
            }
        }
    }
    named
}

/// Every import against the direction, as `file: module → named`.
fn violations() -> Vec<String> {
    let allowed = allowed();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    for file in files {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let may = allowed
            .get(module.as_str())
            .unwrap_or_else(|| panic!("src/{module} is not in the layer table: add it"));
        let source = std::fs::read_to_string(&file).unwrap();
        let prefix = if module == "main" {
            "login_api::"
        } else {
            "crate::"
        };
        for named in named_modules(&source, prefix) {
            if named != module && !may.contains(&named.as_str()) {
                found.push(format!("{}: {module} → {named}", file.display()));
            }
        }
    }
    found
}

#[test]
fn imports_go_one_way() {
    let found = violations();
    assert!(
        found.is_empty(),
        "imports against the direction of the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    let named = named_modules(
        "use crate::{domain::Email, ports};\nlet x = crate::store::Store::new(); // crate::http\n",
        "crate::",
    );
    assert_eq!(
        named,
        BTreeSet::from(["domain".into(), "ports".into(), "store".into()])
    );
}

#[test]
fn no_file_in_src_is_over_400_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 400).then(|| format!("{} has {lines} lines", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split by concept:\n{}", long.join("\n"));
}
