//! The repository itself: what git tracks is source, never what a build or a run leaves behind.

use std::process::Command;

/// What a build or a run writes, by where it ends up.
const ARTIFACTS: [&str; 5] = ["__pycache__/", ".pyc", "target/", ".aws-sam/", ".tools/"];

#[test]
fn no_build_artifacts_are_committed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git is needed for this test: install it (apt-get install git)");
    assert!(
        output.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tracked = String::from_utf8(output.stdout).unwrap();
    let artifacts: Vec<&str> = tracked
        .split('\0')
        .filter(|path| ARTIFACTS.iter().any(|artifact| path.contains(artifact)))
        .collect();
    assert!(
        artifacts.is_empty(),
        "build artifacts in git (git rm --cached them): {artifacts:?}"
    );
}
