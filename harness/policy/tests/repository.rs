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

/// Every workspace's lockfile says what it builds: a stale one makes cargo pick versions at build
/// time (online, unpinned). The fuzz workspace is built only by `./scripts/fuzz.sh`, so nothing
/// else notices when a function gains a dependency it does not list. Not `--offline`: on a fresh
/// machine nothing has fetched the fuzz workspace's crates yet when this runs (before the fuzz
/// stage), and `--locked` alone still refuses any change to a lockfile.
#[test]
fn every_lockfile_is_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for manifest in ["Cargo.toml", "harness/Cargo.toml", "fuzz/Cargo.toml"] {
        let output = Command::new(env!("CARGO"))
            .args(["tree", "--locked", "--manifest-path", manifest])
            .current_dir(&root)
            .output()
            .expect("running cargo tree");
        assert!(
            output.status.success(),
            "{manifest}: its Cargo.lock is out of date; run `cargo tree --manifest-path {manifest}` and commit the lockfile:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
