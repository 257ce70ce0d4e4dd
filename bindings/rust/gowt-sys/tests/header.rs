//! Fails when src/lib.rs drifts from include/gowt.h: every function,
//! constant and struct field of the header must be declared here, in the
//! same order, with the offsets and sizes a C compiler gives them.
//! Header: $GOWT_HEADER, else ../../../include/gowt.h. C compiler: $CC, else cc.
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn header_path() -> PathBuf {
    std::env::var("GOWT_HEADER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/gowt.h")
        })
}

/// The header with comments removed and `#define` lines joined.
fn header_text() -> String {
    let raw = std::fs::read_to_string(header_path()).expect("read gowt.h (set GOWT_HEADER)");
    let mut out = String::new();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            let end = raw[i + 2..].find("*/").expect("unterminated comment") + i + 4;
            out.push(' ');
            i = end;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out.replace("\\\n", " ")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Identifiers starting with `prefix` in s, with the text that follows each.
fn idents<'a>(s: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    let mut v = Vec::new();
    let mut start = 0;
    while let Some(p) = s[start..].find(prefix) {
        let p = start + p;
        let before_ok = p == 0 || !is_ident(s[..p].chars().last().unwrap());
        let end = s[p..]
            .find(|c: char| !is_ident(c))
            .map_or(s.len(), |e| p + e);
        if before_ok {
            v.push((&s[p..end], &s[end..]));
        }
        start = end.max(p + 1);
    }
    v
}

#[test]
fn functions_match() {
    let text = header_text();
    let decls: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let header: BTreeSet<&str> = idents(&decls, "gowt_")
        .into_iter()
        .filter(|(_, rest)| rest.trim_start().starts_with('('))
        .map(|(n, _)| n)
        .collect();
    let ours: BTreeSet<&str> = gowt_sys::FUNCTIONS.iter().copied().collect();
    let missing: Vec<_> = header.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "functions missing in gowt-sys: {missing:?}; not in gowt.h: {extra:?}"
    );
}

#[test]
fn constants_match() {
    let text = header_text();
    let mut header = BTreeSet::new();
    for line in text.lines() {
        let l = line.trim_start();
        if let Some(rest) = l.strip_prefix("#define ") {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            let after = &rest[name.len()..];
            // Object-like macros with a value (not the include guard, not
            // function-like macros such as gowt_config_init or GOWT_HAS_FIELD).
            if name.starts_with("GOWT_") && !after.starts_with('(') && !after.trim().is_empty() {
                header.insert(name);
            }
        }
    }
    for (name, rest) in idents(&text, "GOWT_") {
        if rest.trim_start().starts_with('=') && !rest.trim_start().starts_with("==") {
            header.insert(name.to_string());
        }
    }
    let ours: BTreeSet<String> = gowt_sys::CONSTANTS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let missing: Vec<_> = header.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "constants missing in gowt-sys: {missing:?}; not in gowt.h: {extra:?}"
    );
}

#[test]
fn struct_fields_match() {
    let text = header_text();
    let mut checked = 0;
    let mut pos = 0;
    while let Some(p) = text[pos..].find("typedef struct ") {
        let p = pos + p + "typedef struct ".len();
        pos = p;
        let name: String = text[p..].chars().take_while(|&c| is_ident(c)).collect();
        let after = text[p + name.len()..].trim_start();
        if !after.starts_with('{') {
            continue; // opaque (gowt_ctx)
        }
        let open = p + text[p..].find('{').unwrap();
        let close = open + text[open..].find('}').unwrap();
        let fields: Vec<String> = text[open + 1..close]
            .split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let d = d.split('[').next().unwrap();
                let id: String = d.chars().rev().take_while(|&c| is_ident(c)).collect();
                id.chars().rev().collect()
            })
            .collect();
        let (_, _, layout) = gowt_sys::STRUCTS
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("struct {name} of gowt.h is missing in gowt-sys"));
        let ours: Vec<String> = layout
            .iter()
            .map(|(f, _, _)| f.trim_end_matches('_').to_string())
            .collect();
        assert_eq!(
            fields, ours,
            "fields of {name} differ between gowt.h and gowt-sys"
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        gowt_sys::STRUCTS.len(),
        "gowt-sys declares structs gowt.h lacks"
    );
}

/// Compiles a C program that prints what the C compiler says of every
/// constant, struct size, field offset and field size; compares with Rust.
#[test]
fn layout_matches_c_compiler() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if Command::new(&cc).arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "no C compiler ({cc}) under CI=true"
        );
        eprintln!("SKIP: no C compiler {cc}");
        return;
    }
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"gowt.h\"\nint main(void) {\n",
    );
    let mut want = String::new();
    for (name, v) in gowt_sys::CONSTANTS {
        c += &format!(
            "  if (({name}) < 0) printf(\"{name} %lld\\n\", (long long)({name})); else printf(\"{name} %llu\\n\", (unsigned long long)({name}));\n"
        );
        want += &format!("{name} {v}\n");
    }
    for (s, size, fields) in gowt_sys::STRUCTS {
        c += &format!("  printf(\"{s} %zu\\n\", sizeof({s}));\n");
        want += &format!("{s} {size}\n");
        for (f, off, fsize) in *fields {
            let cf = f.trim_end_matches('_');
            c += &format!("  printf(\"{s}.{cf} %zu %zu\\n\", offsetof({s}, {cf}), sizeof((({s} *)0)->{cf}));\n");
            want += &format!("{s}.{cf} {off} {fsize}\n");
        }
    }
    c += "  return 0;\n}\n";
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("gowt_sys_layout.c");
    let exe = dir.join("gowt_sys_layout");
    std::fs::write(&src, c).unwrap();
    let inc = header_path().parent().unwrap().to_path_buf();
    let st = Command::new(&cc)
        .arg("-I")
        .arg(&inc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(st.success(), "compiling {}", src.display());
    let out = Command::new(&exe).output().unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w, "C compiler and gowt-sys differ");
    }
    assert_eq!(got.lines().count(), want.lines().count());
}

#[test]
fn links_and_reports_version() {
    // SAFETY: gowt_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(gowt_sys::gowt_version()) };
    let n = unsafe { gowt_sys::gowt_version_number() };
    assert_eq!(
        n / 100,
        gowt_sys::GOWT_VERSION_NUMBER / 100,
        "library {v:?}"
    );
    let cfg = gowt_sys::gowt_config_init();
    assert_eq!(
        cfg.struct_size as usize,
        std::mem::size_of::<gowt_sys::gowt_config>()
    );
    assert_eq!(cfg.idle_timeout_ms, 30000);
}
