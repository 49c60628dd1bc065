//! Link settings of the `gateway` executable.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=src/build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        // Relative relocations packed (DT_RELR): the executable's relocation table went
        // from 1.8 MB, all of it read at every start, to 28 KB, and its idle resident
        // memory down by about 1.5 MB. glibc 2.36 or later loads such executables; the
        // linker marks them so an older one refuses at once, and a linker that does not
        // know the option ignores it.
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        if linked_by_lld() {
            link_in_start_order();
        }
    }
}

/// Release builds place the functions the gateway runs while starting together at the
/// front of its code (`src/link/`, written by `tests/bench/link-order.sh`). The code is
/// 34 MB and start-up runs about 4 MB of it, spread all over; the kernel maps the
/// executable 64 KB around each page it faults in, so an idle gateway held 16 MB of its
/// code. Together, idle resident memory went from 26 to 15 MB (PostgreSQL).
fn link_in_start_order() {
    if env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let Ok(root) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let dir = Path::new(&root).join("src/link");
    let (order, script) = (dir.join("start-order.txt"), dir.join("start-order.ld"));
    println!("cargo::rerun-if-changed={}", order.display());
    println!("cargo::rerun-if-changed={}", script.display());
    if !order.is_file() || !script.is_file() {
        return;
    }
    // The order file names exact symbols; the script, the same functions by name with
    // their hash left open, so that a change of compiler or dependencies (new hashes)
    // still keeps them together, only less tightly. Names no longer found are skipped.
    println!(
        "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
}

/// Whether the executable is linked by LLD, Rust's default linker on x86-64 Linux since
/// 1.90 (the crate's minimum): the symbol order file is LLD's option, and a build that
/// chose another linker or a custom linker setup is left as it is.
fn linked_by_lld() -> bool {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    arch == "x86_64"
        && env::var_os("RUSTC_LINKER").is_none()
        && ![
            "fuse-ld",
            "linker-features",
            "link-self-contained",
            "linker-flavor",
        ]
        .iter()
        .any(|flag| flags.contains(flag))
}
