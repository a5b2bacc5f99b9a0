//! Which modules of `shared` the copied code uses, found in its source text, and `shared`'s
//! `lib.rs` without the others: the copy carries only what it compiles.
//!
//! Paths are read as text (`shared::module::...`, `shared::{module, other::Item}`, and `crate::`
//! inside `shared`) rather than with a Rust parser: the workshop's code names modules only in
//! those forms, and a module missed would fail the copy's build in `scripts/check-copy-out.sh`.

use std::collections::BTreeSet;

/// The modules the copied `sources` use, and those they use in turn; `modules` holds each module of
/// the library by name with its source.
pub fn needed(sources: &[String], modules: &[(String, String)]) -> BTreeSet<String> {
    let mut needed: BTreeSet<String> = sources
        .iter()
        .flat_map(|source| modules_used(source, "shared"))
        .collect();
    loop {
        let more: BTreeSet<String> = modules
            .iter()
            .filter(|(name, _)| needed.contains(name))
            .flat_map(|(_, text)| modules_used(text, "crate"))
            .collect();
        if more.is_subset(&needed) {
            return needed;
        }
        needed.extend(more);
    }
}

/// The files a module's source compiles in (`include_str!("file")`, `include_bytes!("file")`),
/// relative to its folder: they go into the copy beside it.
pub fn included_files(source: &str) -> Vec<String> {
    ["include_str!(\"", "include_bytes!(\""]
        .iter()
        .flat_map(|opening| {
            source
                .match_indices(opening)
                .map(move |(position, _)| position + opening.len())
        })
        .filter_map(|start| source[start..].split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The modules of `library` that `source` names: `library::module::...` and
/// `library::{module, other::Item}`.
fn modules_used(source: &str, library: &str) -> BTreeSet<String> {
    let prefix = format!("{library}::");
    let mut modules = BTreeSet::new();
    for (position, _) in source.match_indices(&prefix) {
        let preceded_by_identifier = source[..position]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_identifier {
            continue;
        }
        let rest = &source[position + prefix.len()..];
        let paths: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
            None => vec![rest],
        };
        for path in paths {
            let module: String = path
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // Lowercase: a module; `shared::Error` would be an item of the root.
            if module.chars().next().is_some_and(|c| c.is_lowercase()) {
                modules.insert(module);
            }
        }
    }
    modules
}

/// `lib.rs` without the `mod` lines (and their attributes and doc entries) of `dropped` modules.
pub fn library_root(lib_rs: &str, dropped: &[&str]) -> String {
    let mentions = |line: &str, module: &str| {
        let line = line.trim();
        line == format!("pub mod {module};")
            || line.starts_with(&format!("//! - [`{module}`]"))
            || line.starts_with(&format!("//! - `{module}`"))
    };
    let mut kept: Vec<&str> = Vec::new();
    for line in lib_rs.lines() {
        if dropped.iter().any(|module| mentions(line, module)) {
            if kept
                .last()
                .is_some_and(|previous| previous.trim_start().starts_with("#[cfg("))
            {
                kept.pop();
            }
            continue;
        }
        kept.push(line);
    }
    kept.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_found_in_paths_and_groups_but_not_in_longer_names() {
        let source = "use shared::logging;\nuse shared::{aws::load_config, error::Error};\nlet x = myshared::catalog::X;\nshared::metrics::Metrics::new();";
        let found: Vec<String> = modules_used(source, "shared").into_iter().collect();
        assert_eq!(found, ["aws", "error", "logging", "metrics"]);
    }

    #[test]
    fn the_files_a_module_compiles_in_are_found() {
        let source = "const A: &str = include_str!(\"roots.pem\");\nconst B: &[u8] = include_bytes!(\"data/b.bin\");\nlet c = \"include_str\";";
        assert_eq!(included_files(source), ["roots.pem", "data/b.bin"]);
    }

    #[test]
    fn a_module_brings_the_modules_it_uses() {
        let modules = [
            ("aws".to_owned(), "use crate::error::Error;".to_owned()),
            ("error".to_owned(), String::new()),
            ("metrics".to_owned(), String::new()),
        ];
        let found: Vec<String> = needed(&["shared::aws::load();".to_owned()], &modules)
            .into_iter()
            .collect();
        assert_eq!(found, ["aws", "error"]);
    }

    #[test]
    fn a_dropped_module_loses_its_line_its_attribute_and_its_doc_entry() {
        let lib_rs = "//! - [`aws`]: clients.\n//! - `problem` (feature `http`): errors.\n\npub mod aws;\n#[cfg(feature = \"http\")]\npub mod problem;\n";
        assert_eq!(
            library_root(lib_rs, &["problem"]),
            "//! - [`aws`]: clients.\n\npub mod aws;\n"
        );
    }
}
