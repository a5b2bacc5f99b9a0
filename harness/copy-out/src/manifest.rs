//! A crate's `Cargo.toml` without workspace inheritance: every `x.workspace = true` replaced by
//! what the workspace's root manifest says, so the copy builds with no workspace around it.
//!
//! The manifests here are written one setting per line, and so are the workspace's tables
//! (`[workspace.package]`, `[workspace.dependencies]`, `[workspace.lints.*]`); this reads them line
//! by line rather than with a TOML library, which would drop the comments the copy should keep.

use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// What a member inherits, read from the workspace's root `Cargo.toml`.
pub struct Workspace {
    package: BTreeMap<String, String>,
    dependencies: BTreeMap<String, String>,
    /// `[workspace.lints.rust]` and the like, as `[lints.rust]` sections.
    lints: String,
    /// `[profile.*]` sections with the comments above them: they only count in the root manifest.
    pub profiles: String,
}

impl Workspace {
    pub fn read(root_manifest: &str) -> Workspace {
        let mut workspace = Workspace {
            package: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            lints: String::new(),
            profiles: String::new(),
        };
        let mut comments = String::new();
        let mut section = String::new();
        for line in root_manifest.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = trimmed.trim_matches(['[', ']']).to_owned();
                if let Some(kind) = section.strip_prefix("workspace.lints.") {
                    workspace.lints.push_str(&format!("[lints.{kind}]\n"));
                } else if section.starts_with("profile.") {
                    workspace.profiles.push_str(&comments);
                    workspace.profiles.push_str(line);
                    workspace.profiles.push('\n');
                }
                comments.clear();
                continue;
            }
            if section.starts_with("profile.") {
                workspace.profiles.push_str(line);
                workspace.profiles.push('\n');
                continue;
            }
            if trimmed.starts_with('#') || trimmed.is_empty() {
                comments.push_str(line);
                comments.push('\n');
                continue;
            }
            comments.clear();
            let Some((key, value)) = trimmed.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim().to_owned(), value.trim().to_owned());
            match section.as_str() {
                "workspace.package" => _ = workspace.package.insert(key, value),
                "workspace.dependencies" => _ = workspace.dependencies.insert(key, value),
                lints if lints.starts_with("workspace.lints.") => {
                    workspace.lints.push_str(&format!("{key} = {value}\n"));
                }
                _ => {}
            }
        }
        workspace.profiles = workspace.profiles.trim().to_owned();
        workspace
    }

    /// `manifest` with every inherited setting spelled out. `path_of` gives, for a dependency the
    /// workspace declares by `path`, where it is relative to this manifest in the copy.
    pub fn standalone(&self, manifest: &str, path_of: impl Fn(&str) -> String) -> Result<String> {
        let mut out = String::new();
        let mut section = String::new();
        for line in manifest.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = trimmed.trim_matches(['[', ']']).to_owned();
                if section != "lints" {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=').filter(|_| !trimmed.starts_with('#')) else {
                out.push_str(line);
                out.push('\n');
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let inherited = |name: &str, table: &BTreeMap<String, String>| {
                table
                    .get(name)
                    .cloned()
                    .with_context(|| format!("`{name}` is not in the workspace's Cargo.toml"))
            };
            match (section.as_str(), key.strip_suffix(".workspace")) {
                ("lints", _) if key == "workspace" => out.push_str(&self.lints.replace("\n[", "\n\n[")),
                ("package", Some(name)) => out.push_str(&format!("{name} = {}\n", inherited(name, &self.package)?)),
                (dependencies, Some(name)) if dependencies.ends_with("dependencies") => {
                    let spec = self.dependency(name, &inherited(name, &self.dependencies)?, &path_of);
                    out.push_str(&format!("{name} = {}\n", render(&spec)));
                }
                (dependencies, None) if dependencies.ends_with("dependencies") && value.starts_with('{') => {
                    let mut own = parse_inline_table(value);
                    let inherits = own.iter().any(|(key, _)| key == "workspace");
                    own.retain(|(key, _)| key != "workspace");
                    if inherits {
                        let mut spec = self.dependency(key, &inherited(key, &self.dependencies)?, &path_of);
                        merge(&mut spec, own);
                        out.push_str(&format!("{key} = {}\n", render(&spec)));
                    } else {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    fn dependency(&self, name: &str, spec: &str, path_of: &impl Fn(&str) -> String) -> Vec<(String, String)> {
        let mut table = if spec.starts_with('{') {
            parse_inline_table(spec)
        } else {
            vec![("version".to_owned(), spec.to_owned())]
        };
        for (key, value) in &mut table {
            if key == "path" {
                *value = format!("{:?}", path_of(name));
            }
        }
        table
    }
}

/// Adds a member's own keys to the workspace's: features are added to the workspace's list (as
/// cargo does), anything else is the member's.
fn merge(spec: &mut Vec<(String, String)>, own: Vec<(String, String)>) {
    for (key, value) in own {
        match spec.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, existing)) if key == "features" => {
                let mut features = split_top_level(existing.trim_matches(['[', ']']));
                for feature in split_top_level(value.trim_matches(['[', ']'])) {
                    if !features.contains(&feature) {
                        features.push(feature);
                    }
                }
                *existing = format!("[{}]", features.join(", "));
            }
            Some((_, existing)) => *existing = value,
            None => spec.push((key, value)),
        }
    }
}

fn render(spec: &[(String, String)]) -> String {
    match spec {
        [(key, version)] if key == "version" => version.clone(),
        _ => {
            let pairs: Vec<String> = spec.iter().map(|(key, value)| format!("{key} = {value}")).collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    }
}

/// `{ a = 1, b = ["x", "y"] }` as ordered pairs, values kept as written.
fn parse_inline_table(text: &str) -> Vec<(String, String)> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    split_top_level(inner)
        .into_iter()
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Splits on the commas that are outside brackets and quotes.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for character in text.chars() {
        match character {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => {}
        }
        current.push(character);
    }
    parts.push(current.trim().to_owned());
    parts.retain(|part| !part.is_empty());
    parts
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn every_inherited_setting_is_spelled_out_and_comments_stay() {
        let workspace = Workspace::read(ROOT);
        let standalone = workspace.standalone(MEMBER, |name| format!("../{name}")).unwrap();
        assert_eq!(
            standalone,
            r#"[package]
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
"#
        );
        assert!(!standalone.contains("workspace"));
        assert_eq!(
            workspace.profiles,
            "# Why this profile.\n[profile.release]\nopt-level = \"z\""
        );
    }

    #[test]
    fn a_dependency_the_workspace_does_not_declare_is_an_error() {
        let workspace = Workspace::read(ROOT);
        let error = workspace
            .standalone("[dependencies]\nserde.workspace = true\n", |name| name.to_owned())
            .unwrap_err();
        assert!(error.to_string().contains("`serde`"), "{error}");
    }
}
