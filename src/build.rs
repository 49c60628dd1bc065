//! Link settings of the `gateway` executable.

use std::env;
use std::path::Path;
use std::process::Command;

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
        if env::var("PROFILE").as_deref() == Ok("release") {
            if linked_by_lld() {
                link_in_start_order();
            } else {
                println!(
                    "cargo::warning=linked without the start-up order of src/link/ (it needs the toolchain's LLD): the idle gateway holds about 10 MB more"
                );
            }
        }
    }
}

/// Release builds place the functions the gateway runs while starting together at the
/// front of its code (`src/link/`, written by `tests/bench/link-order.sh`). The code is
/// 34 MB and start-up runs about 4 MB of it, spread all over; the kernel maps the
/// executable 64 KB around each page it faults in, so an idle gateway held 16 MB of its
/// code. Together, idle resident memory went from 26 to 15 MB (PostgreSQL).
fn link_in_start_order() {
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

/// Whether the executable is linked by the toolchain's own LLD, Rust's default on x86-64
/// Linux since 1.90 (the crate's minimum) where the toolchain ships it (rustup's does):
/// the symbol order file is LLD's option. A toolchain without it, or a build that chose
/// another linker, is linked as it was.
fn linked_by_lld() -> bool {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let chose_linker = env::var_os("RUSTC_LINKER").is_some()
        || ["fuse-ld", "linker", "link-self-contained"]
            .iter()
            .any(|flag| flags.contains(flag));
    arch == "x86_64" && !chose_linker && toolchain_ships_lld()
}

/// `rustc` links through `<sysroot>/lib/rustlib/<host>/bin/gcc-ld/ld.lld` when it ships it.
fn toolchain_ships_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let host = env::var("HOST").unwrap_or_default();
    out.status.success()
        && Path::new(&sysroot)
            .join("lib/rustlib")
            .join(host)
            .join("bin/gcc-ld/ld.lld")
            .is_file()
}
