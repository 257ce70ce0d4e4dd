// Tests and examples of this crate find libgowt.so where gowt-sys linked it
// (an rpath), so `cargo test` / `cargo run --example` need no LD_LIBRARY_PATH.
fn main() {
    if let Ok(dir) = std::env::var("DEP_GOWT_LIB_DIR") {
        if !dir.is_empty() {
            // Applies to this package's linked targets (tests, examples), not
            // to programs that depend on the crate.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
