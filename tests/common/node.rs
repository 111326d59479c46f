//! The scripts in tests/node, run with the real `kurento-client` npm packages.

use std::path::PathBuf;
use std::time::Duration;

/// `tests/node`, once `client`'s package ("6" → `kurento-client-6`, else `kurento-client`) is
/// known to be installed.
pub fn node_dir(client: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let package = if client == "6" {
        "kurento-client-6"
    } else {
        "kurento-client"
    };
    assert!(
        dir.join("node_modules").join(package).is_dir(),
        "tests/node/node_modules/{package} is missing: run `npm ci --ignore-scripts --prefix tests/node` first"
    );
    dir
}

/// Runs `node <script> <url> --client <client> --dialect <dialect>` to its end (60 s at most)
/// and returns its stdout; a non-zero exit fails the test with both outputs.
pub async fn run_script(script: &str, url: &str, client: &str, dialect: &str) -> String {
    let dir = node_dir(client);
    let run = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .arg(url)
        .args(["--client", client, "--dialect", dialect])
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("node did not finish within 60 s")
        .expect("cannot run `node` (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}
