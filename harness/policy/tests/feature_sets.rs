//! What ships is what we test: each function is compiled with one feature set, whoever builds it.
//!
//! `cargo build -p <function>`, `cargo lambda watch -p <function>` and `sam build` (which runs in
//! the function's own folder) select the function alone; `cargo test -p <function>` adds its
//! dev-dependencies. Cargo compiles each crate once per build with the union of the features that
//! build asks for, so a dev-dependency that turned on a feature of `shared` would make the tests
//! build a different `shared` (and a different function) from the one that ships. These tests ask
//! cargo itself, through `cargo tree`, which features each build resolves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every function crate: each folder under `crates/` with a `src/main.rs`.
fn function_crates() -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(workspace_root().join("crates"))
        .expect("listing crates/")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|dir| dir.join("src/main.rs").is_file())
        .filter_map(|dir| dir.file_name().map(|name| name.to_string_lossy().into_owned()))
        .collect();
    crates.sort();
    crates
}

/// `cargo tree --offline --prefix none --format "{p}|{f}"` with `args`: one `package|features`
/// line per package.
fn cargo_tree(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--prefix", "none", "--format", "{p}|{f}"])
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Package name -> resolved features, for `cargo tree -p <package>` over the given edge kinds.
fn resolved_features(package: &str, edges: &str) -> BTreeMap<String, String> {
    cargo_tree(&["-e", edges, "-p", package])
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(package, features)| {
            let name = package.split_whitespace().next().unwrap_or_default();
            // `(*)` marks a package already shown higher up the tree.
            (name.to_owned(), features.trim_end_matches(" (*)").to_owned())
        })
        .collect()
}

#[test]
fn tests_compile_shared_and_each_function_with_the_features_that_ship() {
    let functions = function_crates();
    assert!(functions.len() >= 4, "found only {functions:?}");
    for function in &functions {
        let shipped = resolved_features(function, "normal,build");
        let tested = resolved_features(function, "normal,build,dev");
        for package in ["shared", function.as_str()] {
            assert_eq!(
                shipped.get(package),
                tested.get(package),
                "{function}: `{package}` gets other features when tested than when shipped"
            );
        }
    }
}

#[test]
fn no_function_links_the_test_harness_or_an_sdk_it_never_calls() {
    for function in function_crates() {
        let shipped = resolved_features(&function, "normal,build");
        for test_only in ["testkit", "aws-sdk-dynamodbstreams", "aws-smithy-mocks", "proptest"] {
            assert!(!shipped.contains_key(test_only), "{function} links {test_only}");
        }
        let sources: String = ["src/main.rs", "src/handler.rs"]
            .iter()
            .filter_map(|file| std::fs::read_to_string(workspace_root().join("crates").join(&function).join(file)).ok())
            .collect();
        for service in ["s3", "dynamodb"] {
            let calls =
                sources.contains(&format!("aws_sdk_{service}")) || sources.contains(&format!("{service}_client"));
            let links = shipped.contains_key(&format!("aws-sdk-{service}"));
            assert_eq!(
                links, calls,
                "{function}: links aws-sdk-{service}: {links}, calls it: {calls}"
            );
        }
    }
}

/// Package -> every feature set a `--workspace` build (tests included) compiles it with, in the
/// workspace whose manifest is `manifest`. A crate compiled for the build machine (proc macros,
/// build scripts) is resolved apart from the rest, so one package can have two sets.
fn workspace_features(manifest: &Path) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let manifest = manifest.to_string_lossy();
    let tree = cargo_tree(&["--workspace", "-e", "normal,build,dev", "--manifest-path", &manifest]);
    let mut features: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (package, set) in tree.lines().filter_map(|line| line.split_once('|')) {
        // Path packages (the workspaces' own crates) are compiled apart anyway.
        if package.contains("(/") {
            continue;
        }
        let id: Vec<&str> = package.split_whitespace().take(2).collect();
        features
            .entry(id.join(" "))
            .or_default()
            .insert(set.trim_end_matches(" (*)").to_owned());
    }
    features
}

/// The harness builds into the product's target/ and links the AWS SDK the product's tests
/// compiled, but only a crate built with the same features (and everything under it) is shared:
/// one feature more in tokio or libc and cargo compiles the SDK's stack again. workspace-hack
/// holds both workspaces to one set.
#[test]
fn both_workspaces_build_the_crates_they_share_with_the_same_features() {
    let product = workspace_features(&workspace_root().join("Cargo.toml"));
    let harness = workspace_features(&workspace_root().join("harness/Cargo.toml"));
    let shared: Vec<&String> = product
        .keys()
        .filter(|package| harness.contains_key(*package))
        .collect();
    assert!(
        shared.iter().any(|package| package.starts_with("aws-smithy-runtime ")),
        "the workspaces share no AWS SDK crate: {shared:?}"
    );
    let differing: Vec<String> = shared
        .iter()
        .filter(|package| product[**package] != harness[**package])
        .map(|package| {
            format!(
                "{package}: the product builds {:?}, the harness {:?}",
                product[*package], harness[*package]
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "add the missing features to workspace-hack/Cargo.toml:\n{}",
        differing.join("\n")
    );
}

/// `sam build` runs cargo once per function, and cargo compiles a crate once per set of features:
/// one function asking for one more feature of `bytes` or `serde` gets its own build of every
/// crate above them, hyper and the AWS SDK included. functions-hack (a dependency of `shared`)
/// holds the five functions to one set, so the stack is compiled once for all of them.
#[test]
fn every_function_ships_the_crates_they_share_built_with_the_same_features() {
    let functions = function_crates();
    assert!(functions.len() >= 4, "found only {functions:?}");
    // package -> features -> the functions that build it so.
    let mut builds: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for function in &functions {
        let tree = cargo_tree(&[
            "-e",
            "normal,build",
            "--target",
            "aarch64-unknown-linux-gnu",
            "-p",
            function,
        ]);
        for (package, features) in tree.lines().filter_map(|line| line.split_once('|')) {
            // Path packages (shared, with a feature per AWS service) are compiled per function anyway.
            if package.contains("(/") {
                continue;
            }
            let id: Vec<&str> = package.split_whitespace().take(2).collect();
            let functions_of_set = builds.entry(id.join(" ")).or_default();
            let set = functions_of_set
                .entry(features.trim_end_matches(" (*)").to_owned())
                .or_default();
            if !set.contains(function) {
                set.push(function.clone());
            }
        }
    }
    assert!(
        builds.keys().any(|package| package.starts_with("aws-smithy-runtime ")),
        "the functions link no AWS SDK crate: {:?}",
        builds.keys()
    );
    // Each function's own event types: only the functions and lambda_http link aws_lambda_events,
    // so nothing is compiled again above it.
    let own_to_each_function = ["aws_lambda_events "];
    let differing: Vec<String> = builds
        .iter()
        .filter(|(package, sets)| sets.len() > 1 && !own_to_each_function.iter().any(|own| package.starts_with(own)))
        .map(|(package, sets)| format!("{package}: {sets:?}"))
        .collect();
    assert!(
        differing.is_empty(),
        "the functions build these crates with different features; add the union to functions-hack/Cargo.toml:\n{}",
        differing.join("\n")
    );
}

/// The workshop and each crate's README run `cargo test -p <function>` after `./scripts/test.sh`
/// has run `cargo test --workspace`. Each crate below `shared` that the one function's tests build
/// with other features than the whole workspace's tests is compiled again, and everything above
/// it with it: one feature less in tokio and a reader waits two minutes for the AWS SDK, at every
/// module. workspace-hack (through `testkit`, every function's dev-dependency) holds every test
/// build to the workspace's set.
#[test]
fn each_function_s_tests_build_the_crates_below_it_as_the_workspace_s_tests_do() {
    let workspace = workspace_features(&workspace_root().join("Cargo.toml"));
    let mut differing = Vec::new();
    for function in function_crates() {
        let tree = cargo_tree(&["-e", "normal,build,dev", "-p", &function]);
        for (package, features) in tree.lines().filter_map(|line| line.split_once('|')) {
            if package.contains("(/") {
                continue;
            }
            let id = package.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            let features = features.trim_end_matches(" (*)");
            let in_workspace = workspace.get(&id);
            if !in_workspace.is_some_and(|sets| sets.contains(features)) {
                differing.push(format!(
                    "{function}: {id} with {features:?}, the workspace with {in_workspace:?}"
                ));
            }
        }
    }
    differing.sort();
    differing.dedup();
    assert!(
        differing.is_empty(),
        "add the workspace's features to workspace-hack/Cargo.toml:\n{}",
        differing.join("\n")
    );
}
