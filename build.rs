//! Build metadata for phpinfo(), and the link flag PHP extensions need on macOS (PHP's
//! symbols are resolved when the php binary loads the extension).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=FLUENT_WEBHOOK_BUILD={commit} ({profile})");
    println!("cargo:rerun-if-changed=.git/HEAD");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
}
