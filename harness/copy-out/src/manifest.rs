//! A crate's `Cargo.toml` without workspace inheritance: every `x.workspace = true` replaced by
//! what the workspace's root manifest says, so the copy builds with no workspace around it.
//!
//! The manifests are edited in place with `toml_edit` rather than rebuilt: the copy keeps the
//! crate's own comments and layout, and the workspace's comments come along with what they explain
//! (the lints, the release profile's measured choices).

use anyhow::{anyhow, Context, Result};
use toml_edit::{Array, DocumentMut, InlineTable, Item, RawString, Table, TableLike, Value};

/// Where a manifest declares dependencies, at its top level and under each `[target.'cfg(...)']`.
const DEPENDENCY_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// What a member inherits, read from the workspace's root `Cargo.toml`.
pub struct Workspace {
    package: Item,
    dependencies: Item,
    /// `[workspace.lints.*]`, each table with the comments above it.
    lints: Option<Table>,
    /// `[profile.*]`: cargo reads them from the root manifest only, so the copy's root carries them.
    profiles: Option<Table>,
}

impl Workspace {
    pub fn read(root_manifest: &str) -> Result<Workspace> {
        let root = parse(root_manifest)?;
        let workspace = root
            .get("workspace")
            .context("the root Cargo.toml has no [workspace]")?;
        Ok(Workspace {
            package: workspace.get("package").cloned().unwrap_or_default(),
            dependencies: workspace.get("dependencies").cloned().unwrap_or_default(),
            lints: workspace.get("lints").and_then(Item::as_table).cloned(),
            profiles: root.get("profile").and_then(Item::as_table).cloned(),
        })
    }

    /// `manifest` with every inherited setting spelled out. `path_of` gives, for a dependency the
    /// workspace declares by `path`, where it is relative to this manifest in the copy.
    pub fn standalone(&self, manifest: &str, path_of: impl Fn(&str) -> String) -> Result<String> {
        Ok(self.spelled_out(parse(manifest)?, &path_of)?.to_string())
    }

    /// The manifest at the copy's root: standalone, the root of a workspace of `members` (so the
    /// libraries beside it build into one target/ folder), with the workspace's profiles.
    pub fn standalone_root(&self, manifest: &str, members: &[&str]) -> Result<String> {
        let mut document = self.spelled_out(parse(manifest)?, &|library: &str| library.to_owned())?;
        // toml_edit prints tables in the order of their positions: these go after the crate's own.
        let next = last_position(&document) + 1;
        let mut workspace = Table::new();
        workspace
            .decor_mut()
            .set_prefix("\n# The libraries beside this crate, built with it into one target/ folder.\n");
        workspace.insert("members", toml_edit::value(members.iter().copied().collect::<Array>()));
        workspace.set_position(Some(next));
        document.insert("workspace", Item::Table(workspace));
        if let Some(profiles) = &self.profiles {
            let mut profiles = profiles.clone();
            each_table(&mut profiles, &mut |table| {
                table.set_position(table.position().map(|position| position + next + 1));
            });
            document.insert("profile", Item::Table(profiles));
        }
        Ok(document.to_string())
    }

    fn spelled_out(&self, mut document: DocumentMut, path_of: &dyn Fn(&str) -> String) -> Result<DocumentMut> {
        if let Some(package) = document.get_mut("package").and_then(Item::as_table_like_mut) {
            spell_out(package, |name, _| {
                self.package
                    .get(name)
                    .and_then(Item::as_value)
                    .cloned()
                    .with_context(|| format!("`{name}` is not in the workspace's Cargo.toml"))
            })?;
        }
        for table in dependency_tables(&mut document) {
            spell_out(table, |name, own| self.dependency(name, own, path_of))?;
        }
        let inherited_lints = match document.get("lints") {
            Some(Item::Table(lints)) if inherits(lints) => Some((lints.position(), lints.decor().clone())),
            Some(lints) if lints.as_table_like().is_some_and(inherits) => Some((None, Default::default())),
            _ => None,
        };
        if let Some((position, decor)) = inherited_lints {
            let mut lints = self
                .lints
                .clone()
                .context("the crate inherits lints the workspace's Cargo.toml does not set")?;
            lints.set_implicit(true);
            each_table(&mut lints, &mut |table| table.set_position(position));
            // The comments above the crate's `[lints]` go above the first of the tables it becomes.
            if let Some(first) = lints.iter_mut().find_map(|(_, item)| item.as_table_mut()) {
                *first.decor_mut() = decor;
            }
            document.insert("lints", Item::Table(lints));
        }
        Ok(document)
    }

    /// What the workspace declares for dependency `name`, with the member's `own` keys added:
    /// features are added to the workspace's list (as cargo does), anything else is the member's.
    fn dependency(&self, name: &str, own: &dyn TableLike, path_of: &dyn Fn(&str) -> String) -> Result<Value> {
        let declared = self
            .dependencies
            .get(name)
            .cloned()
            .with_context(|| format!("`{name}` is not in the workspace's Cargo.toml"))?
            .into_value()
            .map_err(|_| anyhow!("the workspace's `{name}` is not a dependency"))?;
        let mut spec = match declared {
            Value::InlineTable(spec) => spec,
            version => InlineTable::from_iter([("version", version)]),
        };
        if let Some(path) = spec.get_mut("path") {
            *path = Value::from(path_of(name));
        }
        for (key, item) in own.iter().filter(|(key, _)| *key != "workspace") {
            let value = item
                .as_value()
                .with_context(|| format!("`{name}.{key}` is not a value"))?;
            match (spec.get_mut(key), value.as_array()) {
                (Some(Value::Array(features)), Some(more)) if key == "features" => {
                    for feature in more {
                        if !features.iter().any(|existing| existing.as_str() == feature.as_str()) {
                            let mut feature = feature.clone();
                            // Spaced as the list it joins, not as the one it comes from.
                            feature.decor_mut().clear();
                            features.push(feature);
                        }
                    }
                }
                _ => _ = spec.insert(key, value.clone()),
            }
        }
        match spec.get("version") {
            Some(version) if spec.len() == 1 => Ok(version.clone()),
            _ => {
                spec.fmt();
                Ok(Value::InlineTable(spec))
            }
        }
    }
}

/// Whether the crate's `Cargo.toml` declares `library` as a dependency of any kind.
pub fn depends_on(manifest: &str, library: &str) -> Result<bool> {
    let mut document = parse(manifest)?;
    Ok(dependency_tables(&mut document)
        .iter()
        .any(|table| table.contains_key(library)))
}

/// `[package]`'s `description`, or nothing when it has none of its own.
pub fn description(manifest: &str) -> Result<String> {
    let document = parse(manifest)?;
    Ok(document
        .get("package")
        .and_then(|package| package.get("description"))
        .and_then(Item::as_str)
        .unwrap_or_default()
        .to_owned())
}

/// `manifest` without its dev-dependencies, for a library copied without its tests.
pub fn without_dev_dependencies(manifest: &str) -> Result<String> {
    let mut document = parse(manifest)?;
    document.remove("dev-dependencies");
    if let Some(targets) = document.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, target) in targets.iter_mut() {
            if let Some(target) = target.as_table_like_mut() {
                target.remove("dev-dependencies");
            }
        }
    }
    Ok(document.to_string())
}

/// `manifest` without the dependency `name` (and the comment above it), wherever it is declared.
pub fn without_dependency(manifest: &str, name: &str) -> Result<String> {
    let mut document = parse(manifest)?;
    for table in dependency_tables(&mut document) {
        table.remove(name);
    }
    Ok(document.to_string())
}

fn parse(manifest: &str) -> Result<DocumentMut> {
    manifest.parse().context("not a valid Cargo.toml")
}

fn inherits(table: &dyn TableLike) -> bool {
    table.get("workspace").and_then(Item::as_bool) == Some(true)
}

/// Replaces each entry of `table` that says `workspace = true` by `resolve(its name, its keys)`,
/// keeping the comments above it and after it on its line.
fn spell_out(table: &mut dyn TableLike, resolve: impl Fn(&str, &dyn TableLike) -> Result<Value>) -> Result<()> {
    for (mut key, item) in table.iter_mut() {
        let Some(own) = item.as_table_like().filter(|own| inherits(*own)) else {
            continue;
        };
        let mut value = resolve(key.get(), own)?;
        match item {
            // `[dependencies.x]` with `workspace = true` under it stays a table with a header.
            Item::Table(header) if !header.is_dotted() => {
                let mut spelled = match value {
                    Value::InlineTable(spec) => spec.into_table(),
                    version => Table::from_iter([("version", version)]),
                };
                *spelled.decor_mut() = header.decor().clone();
                spelled.set_position(header.position());
                *header = spelled;
            }
            _ => {
                let (prefix, suffix) = line_decor(item);
                value.decor_mut().clear();
                if let Some(suffix) = suffix {
                    value.decor_mut().set_suffix(suffix);
                }
                if let Some(prefix) = prefix {
                    key.leaf_decor_mut().set_prefix(prefix);
                }
                *item = Item::Value(value);
            }
        }
    }
    Ok(())
}

/// The comments above an entry and after it on its line, where the parser put them: for
/// `x.workspace = true` they are on `workspace` and on `true`, which the spelled-out entry lacks.
fn line_decor(item: &Item) -> (Option<RawString>, Option<RawString>) {
    match item {
        Item::Table(dotted) => {
            let prefix = dotted
                .iter()
                .next()
                .and_then(|(name, _)| dotted.key(name))
                .and_then(|key| key.leaf_decor().prefix().cloned());
            let suffix = dotted
                .iter()
                .last()
                .and_then(|(_, item)| item.as_value())
                .and_then(|value| value.decor().suffix().cloned());
            (prefix, suffix)
        }
        Item::Value(value) => (None, value.decor().suffix().cloned()),
        _ => (None, None),
    }
}

fn dependency_tables(document: &mut Table) -> Vec<&mut dyn TableLike> {
    let mut tables = Vec::new();
    let mut targets = Vec::new();
    for (key, item) in document.iter_mut() {
        match key.get() {
            "target" => targets.extend(item.as_table_like_mut()),
            kind if DEPENDENCY_TABLES.contains(&kind) => tables.extend(item.as_table_like_mut()),
            _ => {}
        }
    }
    for (_, target) in targets.into_iter().flat_map(|targets| targets.iter_mut()) {
        for (key, item) in target
            .as_table_like_mut()
            .into_iter()
            .flat_map(|target| target.iter_mut())
        {
            if DEPENDENCY_TABLES.contains(&key.get()) {
                tables.extend(item.as_table_like_mut());
            }
        }
    }
    tables
}

/// The largest position of a table header in `table`: where toml_edit prints it.
fn last_position(table: &Table) -> isize {
    table
        .iter()
        .fold(table.position().unwrap_or_default(), |last, (_, item)| match item {
            Item::Table(table) => last.max(last_position(table)),
            Item::ArrayOfTables(tables) => tables.iter().map(last_position).fold(last, isize::max),
            _ => last,
        })
}

fn each_table(table: &mut Table, change: &mut impl FnMut(&mut Table)) {
    change(table);
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(table) => each_table(table, change),
            Item::ArrayOfTables(tables) => tables.iter_mut().for_each(|table| each_table(table, change)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
