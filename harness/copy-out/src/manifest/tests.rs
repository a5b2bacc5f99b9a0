use super::*;

const ROOT: &str = r#"
[workspace]
members = ["crates/*"]

[workspace.package]
edition = "2021"

[workspace.dependencies]
shared = { path = "shared" }
tokio = { version = "1", features = ["macros"] }
hex = "0.4"

[workspace.lints.clippy]
unwrap_used = "deny"

# Why this profile.
[profile.release]
opt-level = "z"
"#;

const MEMBER: &str = r#"[package]
name = "f"
edition.workspace = true

[dependencies]
# The only comment.
hex.workspace = true
shared = { workspace = true, features = ["s3"] }
tokio = { workspace = true, features = ["time", "macros"] }
other = { version = "2" }

[lints]
workspace = true
"#;

const STANDALONE: &str = r#"[package]
name = "f"
edition = "2021"

[dependencies]
# The only comment.
hex = "0.4"
shared = { path = "../shared", features = ["s3"] }
tokio = { version = "1", features = ["macros", "time"] }
other = { version = "2" }

[lints.clippy]
unwrap_used = "deny"
"#;

#[test]
fn every_inherited_setting_is_spelled_out_and_comments_stay() {
    let workspace = Workspace::read(ROOT).unwrap();
    let standalone = workspace.standalone(MEMBER, |name| format!("../{name}")).unwrap();
    assert_eq!(standalone, STANDALONE);
    assert!(!standalone.contains("workspace"));
}

#[test]
fn the_root_of_the_copy_is_a_workspace_with_the_profiles_and_their_comments() {
    let workspace = Workspace::read(ROOT).unwrap();
    let root = workspace.standalone_root(MEMBER, &["shared"]).unwrap();
    let expected = STANDALONE.replace("../shared", "shared")
        + "\n# The libraries beside this crate, built with it into one target/ folder.\n\
           [workspace]\nmembers = [\"shared\"]\n\n# Why this profile.\n[profile.release]\nopt-level = \"z\"\n";
    assert_eq!(root, expected);
}

#[test]
fn a_dependency_the_workspace_does_not_declare_is_an_error() {
    let workspace = Workspace::read(ROOT).unwrap();
    let error = workspace
        .standalone("[dependencies]\nserde.workspace = true\n", |name| name.to_owned())
        .unwrap_err();
    assert!(error.to_string().contains("`serde`"), "{error}");
}

#[test]
fn dependencies_under_a_header_or_a_target_keep_their_form_and_trailing_comments() {
    let workspace = Workspace::read(ROOT).unwrap();
    let member = "[target.'cfg(unix)'.dev-dependencies]\nhex.workspace = true # Why hex.\n\n\
                  [dependencies.tokio]\nworkspace = true\noptional = true\n";
    assert_eq!(
        workspace.standalone(member, |name| name.to_owned()).unwrap(),
        "[target.'cfg(unix)'.dev-dependencies]\nhex = \"0.4\" # Why hex.\n\n\
         [dependencies.tokio]\nversion = \"1\"\nfeatures = [\"macros\"]\noptional = true\n"
    );
}

#[test]
fn a_library_copied_without_its_tests_loses_its_dev_dependencies_only() {
    let manifest = "[package]\ndescription = \"Shared.\"\n\n[dependencies]\nhex.workspace = true\n\n\
                    [dev-dependencies]\n# For its tests.\ntestkit.workspace = true\n\n[lints]\nworkspace = true\n";
    assert_eq!(
        without_dev_dependencies(manifest).unwrap(),
        "[package]\ndescription = \"Shared.\"\n\n[dependencies]\nhex.workspace = true\n\n[lints]\nworkspace = true\n"
    );
    assert!(depends_on(manifest, "testkit").unwrap());
    assert!(!depends_on(manifest, "description").unwrap());
    assert_eq!(description(manifest).unwrap(), "Shared.");
}

#[test]
fn build_plumbing_leaves_with_its_comment_and_the_rest_stays() {
    let manifest = "[dependencies]\nhex.workspace = true\n# No code: features only.\n\
                    functions-hack.workspace = true\nserde.workspace = true\n";
    assert_eq!(
        without_dependency(manifest, "functions-hack").unwrap(),
        "[dependencies]\nhex.workspace = true\nserde.workspace = true\n"
    );
}
