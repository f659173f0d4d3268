//! The architecture rule of design.md §2, enforced by reading the sources:
//! the pure cores (sip, media, engine, ivr, records, phone, ticket, qa,
//! campaign, wallboard) never touch a socket, a
//! file, the database, a runtime or a clock — only `rt` (and `api`, `store`,
//! `main`) may.

use std::path::Path;

const PURE: &[&str] = &[
    "src/acd",
    "src/sip",
    "src/media",
    "src/engine",
    "src/ivr",
    "src/records.rs",
    "src/cti.rs",
    "src/phone.rs",
    "src/ticket",
    "src/validate.rs",
    "src/qa.rs",
    "src/campaign.rs",
    "src/campaign",
    "src/wallboard",
];

const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "axum",
    "std::net::UdpSocket",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::fs",
    "Instant::now",
    "SystemTime::now",
    "std::thread",
    "crate::rt",
    "crate::store",
    "crate::api",
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        // Test-only modules (declared under #[cfg(test)]) may read the clock
        // to make a base instant for simulated time.
        && !matches!(
            path.file_name().and_then(|n| n.to_str()),
            Some("tests.rs" | "proptests.rs")
        )
    {
        out.push(path.to_owned());
    }
}

#[test]
fn pure_cores_do_no_io_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PURE {
        rust_files(&root.join(p), &mut files);
    }
    assert!(files.len() > 10, "found only {files:?}");
    let mut violations = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // Tests may read the clock to make a base instant for simulated time.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    violations.push(format!("{}:{}: {bad}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "I/O in a pure core:\n{}",
        violations.join("\n")
    );
}

#[test]
fn leaves_do_not_call_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (leaf, other) in [("src/sip", "crate::media"), ("src/media", "crate::sip")] {
        let mut files = Vec::new();
        rust_files(&root.join(leaf), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains(other), "{} uses {other}", f.display());
        }
    }
}
