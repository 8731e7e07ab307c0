//! Puts the git commit moor is built from into `moor --version`
//! (`MOOR_VERSION`): `0.1.0 (1a2b3c4d5e6f)`. Outside a git checkout (a
//! source tarball, a crate) it is the package version alone, unless
//! `MOOR_BUILD_COMMIT` names the commit.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MOOR_BUILD_COMMIT");
    let given = std::env::var("MOOR_BUILD_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = given.or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // A new commit or checkout moves HEAD (or the branch it names) and
    // always appends to HEAD's reflog.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    match commit {
        Some(c) => println!("cargo:rustc-env=MOOR_VERSION={version} ({c})"),
        None => println!("cargo:rustc-env=MOOR_VERSION={version}"),
    }
}
