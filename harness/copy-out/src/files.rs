//! Reading and writing the copy's files, every error naming the path it is about.

use anyhow::{anyhow, Result};
use std::path::Path;

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| anyhow!("{}: {error}", path.display()))
}

/// Writes `text` to `path`, creating the folders above it: the copy starts from an empty folder.
pub fn write(path: &Path, text: &str) -> Result<()> {
    create_parent(path)?;
    std::fs::write(path, text).map_err(|error| anyhow!("{}: {error}", path.display()))
}

pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    create_parent(to)?;
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|error| anyhow!("{} -> {}: {error}", from.display(), to.display()))
}

/// Copies the files under `from` that `include` accepts, never a `target/` folder: a build left in
/// the crate's folder is not part of it.
pub fn copy_tree(from: &Path, to: &Path, include: &dyn Fn(&Path) -> bool) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|error| anyhow!("{}: {error}", from.display()))? {
        let path = entry.map_err(|error| anyhow!("{error}"))?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if !include(&path) || path.file_name().is_some_and(|name| name == "target") {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &target, include)?;
        } else {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

/// The text of every `.rs` file under `dir`.
pub fn rust_sources(dir: &Path) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|error| anyhow!("{}: {error}", dir.display()))? {
            let path = entry.map_err(|error| anyhow!("{error}"))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                sources.push(read(&path)?);
            }
        }
    }
    Ok(sources)
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|error| anyhow!("{}: {error}", parent.display())),
        None => Ok(()),
    }
}
