//! The deployment files, checked with the tools that read them (compose cannot run
//! here: no container engine).

use std::process::Command;

use crate::support::tools::require_tool;

#[test]
fn docker_compose_follows_the_compose_specification() {
    let tool = require_tool("check-jsonschema");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml");
    let out = Command::new(tool)
        .args(["--builtin-schema", "vendor.compose-spec", file])
        .output()
        .expect("run check-jsonschema");
    assert!(
        out.status.success(),
        "docker-compose.yml is not valid Compose:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A schema check passes on a broken file if the schema is not the one meant.
    let bad = tempfile::Builder::new()
        .suffix(".yml")
        .tempfile()
        .expect("temp file");
    std::fs::write(bad.path(), "services:\n  x:\n    depends_on: 7\n").expect("write");
    let refused = Command::new(require_tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(bad.path())
        .output()
        .expect("run check-jsonschema");
    assert!(
        !refused.status.success(),
        "an invalid compose file must be refused"
    );
}

#[test]
fn the_prometheus_config_of_the_metrics_profile_is_valid() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/prometheus/prometheus.yml");
    let out = Command::new(require_tool("promtool"))
        .args(["check", "config", file])
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
