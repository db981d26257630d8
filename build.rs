//! The release binary's start-up functions laid out together (`build/startup-symbols.txt`,
//! written by `bench/startup-order`), so that an idle server keeps fewer code pages resident:
//! the kernel maps each touched 64 KiB window of the binary whole (BENCHMARKS.md, idle RSS).
//! Only for `login-api` in release builds, linked by LLD (Rust's default linker on
//! x86_64 Linux); a symbol the list names that no longer exists is skipped.

fn main() {
    let list = "build/startup-symbols.txt";
    println!("cargo:rerun-if-changed={list}");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let lld_target = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && lld_target && std::path::Path::new(list).exists() {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bin=login-api=-Wl,--symbol-ordering-file={dir}/{list}");
        println!("cargo:rustc-link-arg-bin=login-api=-Wl,--no-warn-symbol-ordering");
    }
}
