//! Fails when src/lib.rs drifts from include/gowt.h: every function,
//! constant and struct field of the header must be declared here, in the
//! same order, with the offsets and sizes a C compiler gives them; every
//! function's parameter and return types must be the header's.
//! Header: $GOWT_HEADER, else ../../../include/gowt.h. C compiler: $CC, else cc.
//! Bindings source read for signatures: $GOWT_SYS_LIB_RS, else src/lib.rs.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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

fn lib_rs_path() -> PathBuf {
    std::env::var("GOWT_SYS_LIB_RS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
}

/// A function's parameter and return types, spelled as gowt-sys spells them
/// (`ret` is empty for `void` / no `->`).
#[derive(PartialEq)]
struct Sig {
    params: Vec<String>,
    ret: String,
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "fn({})", self.params.join(", "))?;
        if !self.ret.is_empty() {
            write!(f, " -> {}", self.ret)?;
        }
        Ok(())
    }
}

/// Splits at commas outside (), [] and <> (a `->` is no closing bracket).
fn split_top(s: &str) -> Vec<&str> {
    let (mut v, mut depth, mut start, mut prev) = (Vec::new(), 0, 0, ' ');
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' => depth -= 1,
            '>' if prev != '-' => depth -= 1,
            ',' if depth == 0 => {
                v.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        prev = c;
    }
    v.push(s[start..].trim());
    v.retain(|p| !p.is_empty());
    v
}

/// The Rust type gowt-sys uses for a C base type (no pointers, no const).
fn rust_base(c: &str) -> Option<&str> {
    Some(match c {
        "void" => "c_void",
        "char" => "c_char",
        "signed char" => "c_schar",
        "unsigned char" => "c_uchar",
        "short" => "c_short",
        "unsigned short" => "c_ushort",
        "int" | "signed" | "signed int" => "c_int",
        "unsigned" | "unsigned int" => "c_uint",
        "long" => "c_long",
        "unsigned long" => "c_ulong",
        "long long" => "c_longlong",
        "unsigned long long" => "c_ulonglong",
        "float" => "f32",
        "double" => "f64",
        "bool" | "_Bool" => "bool",
        "size_t" | "uintptr_t" => "usize",
        "ssize_t" | "ptrdiff_t" | "intptr_t" => "isize",
        "int8_t" => "i8",
        "int16_t" => "i16",
        "int32_t" => "i32",
        "int64_t" => "i64",
        "uint8_t" => "u8",
        "uint16_t" => "u16",
        "uint32_t" => "u32",
        "uint64_t" => "u64",
        // The header's typedefs, structs, enums and callback types keep their
        // names in gowt-sys.
        t if t.starts_with("gowt_") && t.chars().all(is_ident) => t,
        _ => return None,
    })
}

/// The Rust FFI type for a C type or (`param`) a parameter declaration:
/// `const char *s` -> `*const c_char`, `gowt_ctx **out` -> `*mut *mut gowt_ctx`,
/// `uint8_t out[32]` -> `*mut u8` (an array parameter is a pointer in C).
fn c_to_rust(decl: &str, param: bool) -> Result<String, String> {
    let err = || format!("cannot map C type `{}` to Rust", decl.trim());
    let (body, array) = match decl.find('[') {
        Some(i) => (&decl[..i], true),
        None => (decl, false),
    };
    let spaced = body.replace('*', " * ");
    let mut toks: Vec<&str> = spaced.split_whitespace().collect();
    if toks.iter().any(|t| *t != "*" && !t.chars().all(is_ident)) {
        return Err(err()); // e.g. an inline function pointer
    }
    // A parameter's name is its last identifier, when that is no C type
    // keyword and a type word comes before it (`int x`, not `unsigned long`).
    const KEYWORDS: &[&str] = &[
        "void", "char", "short", "int", "long", "signed", "unsigned", "float", "double", "const",
        "volatile",
    ];
    let qualifier = |t: &&str| matches!(*t, "*" | "const" | "volatile" | "struct" | "enum");
    if param {
        if let Some((last, before)) = toks.split_last() {
            if *last != "*" && !KEYWORDS.contains(last) && before.iter().any(|t| !qualifier(t)) {
                toks.pop();
            }
        }
    }
    if array {
        toks.push("*");
    }
    let stars = toks.iter().position(|t| *t == "*").unwrap_or(toks.len());
    let (base, ptrs) = toks.split_at(stars);
    let words: Vec<&str> = base.iter().filter(|t| !qualifier(t)).copied().collect();
    let mut ty = rust_base(&words.join(" ")).ok_or_else(err)?.to_string();
    // Inside out: each `*` points to a const thing when `const` came before it.
    let mut is_const = base.contains(&"const");
    for t in ptrs {
        match *t {
            "*" => {
                ty = format!("*{} {ty}", if is_const { "const" } else { "mut" });
                is_const = false;
            }
            "const" => is_const = true,
            _ => return Err(err()),
        }
    }
    Ok(ty)
}

/// The header's `gowt_*` prototypes in order: name, the C text, and the Rust
/// signature it calls for (or why a type has no Rust spelling).
fn header_prototypes() -> Vec<(String, String, Result<Sig, String>)> {
    let decls: String = header_text()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    // Declarations end at `;`; braces end struct/enum bodies and extern "C" {.
    for stmt in decls.split([';', '{', '}']) {
        let stmt = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
        let (Some(open), Some(close)) = (stmt.find('('), stmt.rfind(')')) else {
            continue;
        };
        if stmt.starts_with("typedef") {
            continue; // callback types (gowt_session_cb): no functions
        }
        let head = stmt[..open].trim_end();
        let name_len = head.chars().rev().take_while(|&c| is_ident(c)).count();
        let (ret, name) = head.split_at(head.len() - name_len);
        if !name.starts_with("gowt_") {
            continue;
        }
        let params = stmt[open + 1..close].trim();
        let params = if params == "void" { "" } else { params };
        let sig = (|| {
            let ret = c_to_rust(ret, false)?;
            Ok(Sig {
                params: split_top(params)
                    .into_iter()
                    .map(|p| c_to_rust(p, true))
                    .collect::<Result<_, _>>()?,
                ret: if ret == "c_void" { String::new() } else { ret },
            })
        })();
        out.push((name.to_string(), stmt.clone(), sig));
    }
    out
}

/// A Rust type with paths shortened and spacing normalised, so that
/// `core::ffi::c_int` is `c_int` and `* mut  u8` is `*mut u8`.
fn rust_norm(t: &str) -> String {
    let spaced = t.replace('*', " * ");
    let mut s = String::new();
    for tok in spaced.split_whitespace() {
        s += tok.rsplit("::").next().unwrap();
        if tok != "*" {
            s.push(' ');
        }
    }
    let s = s.trim_end().to_string();
    if s == "()" {
        String::new()
    } else {
        s
    }
}

/// The `fn gowt_*(..) -> ..;` declarations of lib.rs (those without a body,
/// i.e. the extern functions, whether in an `extern "C"` block or in the
/// `c_functions!` invocation that expands to one).
fn lib_rs_functions() -> BTreeMap<String, Sig> {
    let raw = std::fs::read_to_string(lib_rs_path()).expect("read lib.rs (set GOWT_SYS_LIB_RS)");
    // Comments may hold example code; drop them.
    let text: String = raw
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeMap::new();
    for (p, _) in text.match_indices("fn ") {
        if p > 0 && is_ident(text[..p].chars().last().unwrap()) {
            continue;
        }
        let rest = text[p + 3..].trim_start();
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let after = rest[name.len()..].trim_start();
        if !name.starts_with("gowt_") || !after.starts_with('(') {
            continue;
        }
        // The parameter list ends at the matching `)`.
        let mut depth = 0;
        let close = after
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .expect("unbalanced parentheses in lib.rs")
            .0;
        let tail = &after[close + 1..];
        let end = tail.find([';', '{']).unwrap_or(tail.len());
        if tail[end..].starts_with('{') {
            continue; // a Rust function with a body (gowt_config_init)
        }
        let ret = tail[..end].trim().strip_prefix("->").unwrap_or("");
        let params = split_top(&after[1..close])
            .into_iter()
            .map(|p| rust_norm(p.split_once(':').map_or(p, |(_, t)| t)))
            .collect();
        out.insert(
            name,
            Sig {
                params,
                ret: rust_norm(ret),
            },
        );
    }
    out
}

/// Parameter types, their number and the return type of every function of
/// the header must be what lib.rs declares (names may differ): a wrong
/// type there still links, and breaks only at run time.
#[test]
fn function_signatures_match() {
    let protos = header_prototypes();
    // The parser must have found every function (functions_match checks
    // FUNCTIONS against the header), or some would go unchecked.
    let found: BTreeSet<&str> = protos.iter().map(|(n, _, _)| n.as_str()).collect();
    let all: BTreeSet<&str> = gowt_sys::FUNCTIONS.iter().copied().collect();
    assert_eq!(
        found, all,
        "prototypes parsed from gowt.h vs gowt_sys::FUNCTIONS"
    );
    let ours = lib_rs_functions();
    let mut bad = Vec::new();
    for (name, c, want) in &protos {
        match (want, ours.get(name)) {
            (Ok(w), Some(got)) if w == got => {}
            (Ok(w), Some(got)) => bad.push(format!(
                "{name}\n    gowt.h: {c}\n      (wants {w})\n    lib.rs: {got}"
            )),
            (Ok(w), None) => bad.push(format!("{name}: no declaration in lib.rs (wants {w})")),
            (Err(e), _) => bad.push(format!("{name}: {e}\n    gowt.h: {c}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} function signature(s) in {} differ from gowt.h:\n{}",
        bad.len(),
        lib_rs_path().display(),
        bad.join("\n")
    );
}

/// The header's callback typedefs (`typedef RET (*gowt_x_cb)(PARAMS);`): name
/// and the Rust signature each calls for.
fn header_callbacks() -> Vec<(String, String, Result<Sig, String>)> {
    let decls: String = header_text()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    for stmt in decls.split([';', '{', '}']) {
        let stmt = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
        let Some(rest) = stmt.strip_prefix("typedef ") else {
            continue;
        };
        let Some(star) = rest.find("(*") else {
            continue;
        };
        let ret = &rest[..star];
        let after = &rest[star + 2..];
        let Some(name_end) = after.find(')') else {
            continue;
        };
        let name = after[..name_end].trim();
        let params = after[name_end + 1..].trim();
        let (Some(params), true) = (
            params.strip_prefix('(').and_then(|p| p.strip_suffix(')')),
            name.starts_with("gowt_"),
        ) else {
            continue;
        };
        let params = if params.trim() == "void" { "" } else { params };
        let sig = (|| {
            let ret = c_to_rust(ret, false)?;
            Ok(Sig {
                params: split_top(params)
                    .into_iter()
                    .map(|p| c_to_rust(p, true))
                    .collect::<Result<_, _>>()?,
                ret: if ret == "c_void" { String::new() } else { ret },
            })
        })();
        out.push((name.to_string(), stmt.clone(), sig));
    }
    out
}

/// lib.rs's `pub type gowt_x_cb = Option<unsafe extern "C" fn(..) -> ..>;`.
fn lib_rs_callbacks() -> BTreeMap<String, Sig> {
    let raw = std::fs::read_to_string(lib_rs_path()).expect("read lib.rs (set GOWT_SYS_LIB_RS)");
    let text: String = raw
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = BTreeMap::new();
    for (p, _) in text.match_indices("pub type ") {
        let rest = &text[p + "pub type ".len()..];
        let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let Some(def) = rest[name.len()..].trim_start().strip_prefix('=') else {
            continue;
        };
        let def = &def[..def.find(';').unwrap_or(def.len())];
        let Some(f) = def.find("fn(") else {
            continue; // not a function pointer type
        };
        let after = &def[f + 2..];
        let mut depth = 0;
        let close = after
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .expect("unbalanced parentheses in lib.rs")
            .0;
        // What follows the parameters, up to the Option's closing `>`.
        let tail = after[close + 1..].trim();
        let tail = tail.strip_suffix('>').unwrap_or(tail);
        // rustfmt leaves a comma after the type when it splits the Option.
        let tail = tail.trim().trim_end_matches(',');
        let ret = tail.trim().strip_prefix("->").unwrap_or("");
        let params = split_top(&after[1..close])
            .into_iter()
            .map(|p| rust_norm(p.split_once(':').map_or(p, |(_, t)| t)))
            .collect();
        out.insert(
            name,
            Sig {
                params,
                ret: rust_norm(ret),
            },
        );
    }
    out
}

/// Every callback typedef of the header has a `pub type` of the same name in
/// lib.rs with the same parameter and return types: the library calls the
/// Rust callback through it, so a wrong type would only show at run time.
#[test]
fn callback_types_match() {
    let cbs = header_callbacks();
    assert!(
        cbs.iter().any(|(n, _, _)| n == "gowt_session_cb")
            && cbs.iter().any(|(n, _, _)| n == "gowt_log_cb"),
        "the header parser missed a callback typedef: {:?}",
        cbs.iter().map(|(n, _, _)| n).collect::<Vec<_>>()
    );
    let ours = lib_rs_callbacks();
    let mut bad = Vec::new();
    for (name, c, want) in &cbs {
        match (want, ours.get(name)) {
            (Ok(w), Some(got)) if w == got => {}
            (Ok(w), Some(got)) => bad.push(format!(
                "{name}\n    gowt.h: {c}\n      (wants {w})\n    lib.rs: {got}"
            )),
            (Ok(w), None) => bad.push(format!("{name}: no `pub type` in lib.rs (wants {w})")),
            (Err(e), _) => bad.push(format!("{name}: {e}\n    gowt.h: {c}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} callback type(s) in {} differ from gowt.h:\n{}",
        bad.len(),
        lib_rs_path().display(),
        bad.join("\n")
    );
}
