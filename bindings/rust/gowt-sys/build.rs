//! Finds libgowt.so for linking, in this order:
//! 1. `GOWT_LIB_DIR`: a directory holding libgowt.so (e.g. a CMake build dir).
//! 2. pkg-config (`pkg-config --libs-only-L gowt`), e.g. after `cmake --install`.
//! 3. Inside the gowt source tree: `GOWT_BUILD_DIR` or `<repo>/build` when it
//!    already holds libgowt.so, else the repository's CMake builds the library
//!    into OUT_DIR (needs cmake, ninja or make, Go and a C compiler).
//!
//! The directory is passed on to dependents as `DEP_GOWT_LIB_DIR` (the `gowt`
//! crate uses it to set an rpath on its tests and examples).
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn has_lib(dir: &Path) -> bool {
    dir.join("libgowt.so").exists()
}

fn pkg_config() -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args(["--libs-only-L", "gowt"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for tok in text.split_whitespace() {
        if let Some(d) = tok.strip_prefix("-L") {
            let d = PathBuf::from(d);
            if has_lib(&d) {
                return Some(d);
            }
        }
    }
    // No -L: the library is on the default search path.
    Command::new("pkg-config")
        .args(["--exists", "gowt"])
        .status()
        .ok()?
        .success()
        .then(PathBuf::new)
}

fn cmake_build(root: &Path) -> PathBuf {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("cmake-build");
    let gen: &[&str] = if Command::new("ninja").arg("--version").output().is_ok() {
        &["-G", "Ninja"]
    } else {
        &[]
    };
    let st = Command::new("cmake")
        .arg("-S")
        .arg(root)
        .arg("-B")
        .arg(&out)
        .args(gen)
        .args([
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DGOWT_BUILD_EXAMPLES=OFF",
            "-DBUILD_TESTING=OFF",
            "-DGOWT_CGOCHECK2=OFF",
        ])
        .status()
        .expect("gowt-sys: running cmake (set GOWT_LIB_DIR to use a built libgowt.so)");
    assert!(st.success(), "gowt-sys: cmake configure failed");
    let st = Command::new("cmake")
        .arg("--build")
        .arg(&out)
        .args(["--target", "gowt_go", "-j2"])
        .status()
        .expect("gowt-sys: cmake --build");
    assert!(st.success(), "gowt-sys: cmake --build failed");
    out
}

fn main() {
    println!("cargo:rerun-if-env-changed=GOWT_LIB_DIR");
    println!("cargo:rerun-if-env-changed=GOWT_BUILD_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../../..");
    let dir = if let Ok(d) = env::var("GOWT_LIB_DIR") {
        let d = PathBuf::from(d);
        if !has_lib(&d) {
            println!(
                "cargo:warning=GOWT_LIB_DIR={} has no libgowt.so",
                d.display()
            );
        }
        d
    } else if let Some(d) = pkg_config() {
        d
    } else if root.join("include/gowt.h").exists() && root.join("CMakeLists.txt").exists() {
        let b = env::var("GOWT_BUILD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("build"));
        if has_lib(&b) {
            b
        } else {
            cmake_build(&root)
        }
    } else {
        panic!(
            "gowt-sys: libgowt.so not found: set GOWT_LIB_DIR or install gowt (pkg-config gowt)"
        );
    };
    let dir = if dir.as_os_str().is_empty() {
        dir
    } else {
        dir.canonicalize().unwrap_or(dir)
    };
    if !dir.as_os_str().is_empty() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("libgowt.so").display()
        );
        // An rpath for this package's own tests (not for dependents).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=gowt");
    println!("cargo:lib_dir={}", dir.display());
    if root.join("include/gowt.h").exists() {
        let h = root.join("include/gowt.h").canonicalize().unwrap();
        println!("cargo:include={}", h.parent().unwrap().display());
    }
}
