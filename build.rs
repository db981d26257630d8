//! Builds the GraphiQL assets into the binary, so the explorer works offline.
//!
//! The browser-ready files of graphiql, react and react-dom come from the npm registry, pinned by
//! `web/package-lock.json`, installed with `npm ci` into `OUT_DIR` (never into the source tree,
//! never committed). Without Node.js the build still succeeds: the page then explains how to get
//! the explorer, and the API is unaffected. `LOGIN_API_SKIP_WEB=1` skips npm on purpose.
//!
//! With `LINK_STARTUP_ORDER=1` (the production image and `bench/run` set it), a release build of
//! `login-api` also gives the linker `build/startup-symbols.txt` (written by
//! `bench/startup-order`): the functions that run from start-up to an idle server laid out
//! together, so that an idle server keeps fewer code pages resident (the kernel maps each
//! touched 64 KiB window of the binary whole; BENCHMARKS.md, idle RSS). Opt-in, since it needs
//! LLD, Rust's default linker on x86_64 Linux only from 1.90; a symbol the list names that no
//! longer exists is skipped.

use std::{env, fs, path::PathBuf, process::Command};

/// (served name, path inside node_modules, content type)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.css",
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
    (
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
];

fn main() {
    startup_order();
    println!("cargo:rerun-if-changed=web/package.json");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rerun-if-env-changed=LOGIN_API_SKIP_WEB");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let web = out.join("web");
    fs::create_dir_all(&web).unwrap();
    for file in ["package.json", "package-lock.json"] {
        fs::copy(manifest.join("web").join(file), web.join(file)).unwrap();
    }
    let modules = web.join("node_modules");
    let have_all = |modules: &PathBuf| {
        ASSETS
            .iter()
            .all(|(_, path, _)| modules.join(path).is_file())
    };
    if !have_all(&modules) && env::var_os("LOGIN_API_SKIP_WEB").is_none() {
        let status = Command::new("npm")
            .args([
                "ci",
                "--omit=dev",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(&web)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => println!(
                "cargo:warning=npm ci for the GraphiQL assets failed ({status}); GraphiQL will be unavailable"
            ),
            Err(error) => println!(
                "cargo:warning=npm is not available ({error}); GraphiQL will be unavailable"
            ),
        }
    }
    let mut code = String::from(
        "/// GraphiQL's files: (name, content type, bytes).\npub const ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    if have_all(&modules) {
        for (name, path, content_type) in ASSETS {
            let source = modules.join(path);
            code.push_str(&format!(
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),\n",
                source.display().to_string()
            ));
        }
    }
    code.push_str("];\n");
    fs::write(out.join("graphiql_assets.rs"), code).unwrap();
}

/// The linker arguments for `LINK_STARTUP_ORDER=1` (see the module docs).
fn startup_order() {
    let list = "build/startup-symbols.txt";
    println!("cargo:rerun-if-changed={list}");
    println!("cargo:rerun-if-env-changed=LINK_STARTUP_ORDER");
    let wanted = env::var("LINK_STARTUP_ORDER").as_deref() == Ok("1");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    if wanted && release && PathBuf::from(&manifest).join(list).is_file() {
        println!("cargo:rustc-link-arg-bin=login-api=-Wl,--symbol-ordering-file={manifest}/{list}");
        println!("cargo:rustc-link-arg-bin=login-api=-Wl,--no-warn-symbol-ordering");
    }
}
