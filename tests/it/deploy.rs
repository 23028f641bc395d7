//! The deployment files, checked with the tools that read them (compose cannot run
//! here: no container engine).

use std::process::Command;

use crate::support::tools::require_tool;

/// Runs `tool` with `args`; whether it passed, and what it said.
fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(require_tool(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn docker_compose_follows_the_compose_specification() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml");
    let schema = ["--builtin-schema", "vendor.compose-spec"];
    let (ok, said) = run("check-jsonschema", &[schema[0], schema[1], file]);
    assert!(ok, "docker-compose.yml is not valid Compose:\n{said}");
    // A schema check passes on a broken file if the schema is not the one meant.
    let bad = tempfile::Builder::new()
        .suffix(".yml")
        .tempfile()
        .expect("temp file");
    std::fs::write(bad.path(), "services:\n  x:\n    depends_on: 7\n").expect("write");
    let bad = bad.path().to_str().expect("a UTF-8 temp path");
    let (ok, _) = run("check-jsonschema", &[schema[0], schema[1], bad]);
    assert!(!ok, "an invalid compose file must be refused");
}

#[test]
fn the_prometheus_config_of_the_metrics_profile_is_valid() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/prometheus/prometheus.yml");
    let (ok, said) = run("promtool", &["check", "config", file]);
    assert!(ok, "promtool check config:\n{said}");
}
