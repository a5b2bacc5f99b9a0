//! `cargo xtask copy-out <function> <folder>`: one function as a project of its own, for a reader
//! who wants to start from it without the rest of the workshop.
//!
//! The folder gets the function's crate at its root, with every setting it inherited from the
//! workspace written out (`manifest`); the modules of `shared` it uses (`modules`), and `testkit`
//! for its tests; a `template.yaml` with this function and what it needs alone (`template`); the
//! setup script and pinned tools list, so its tests find their emulator without anything of this
//! repository; and a README with its two commands (`readme`). `scripts/check-copy-out.sh` runs
//! those commands on every function's copy in a clean environment.

mod files;
mod manifest;
mod modules;
mod readme;
mod samconfig;
mod template;
mod template_layout;
mod template_write;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use files::{copy_file, copy_tree, read, rust_sources, write};
use manifest::Workspace;

/// Libraries of the workspace a function may depend on, each copied into a folder of that name.
const LIBRARIES: [&str; 2] = ["shared", "testkit"];

/// `cargo xtask copy-out <binary> <destination>`.
pub fn run(root: &Path, binary: &str, destination: &str) -> Result<()> {
    let destination = PathBuf::from(destination);
    let template_text = read(&root.join("template.yaml"))?;
    let plan = template_plan::plan(&template_text)?;
    let function = plan
        .functions
        .iter()
        .find(|function| function.binary == binary)
        .ok_or_else(|| {
            let known: Vec<&str> = plan.functions.iter().map(|function| function.binary.as_str()).collect();
            anyhow!(
                "`{binary}` is not a function of template.yaml; one of: {}",
                known.join(", ")
            )
        })?;
    if destination.exists() && destination.read_dir().map_err(|e| anyhow!("{e}"))?.next().is_some() {
        return Err(anyhow!(
            "{} is not empty: copy out into a new folder",
            destination.display()
        ));
    }

    let crate_dir = root.join("crates").join(binary);
    let root_manifest = root.join("Cargo.toml");
    let workspace = Workspace::read(&read(&root_manifest)?).with_context(|| in_file(&root_manifest))?;
    let crate_manifest_path = crate_dir.join("Cargo.toml");
    let crate_manifest = read(&crate_manifest_path)?;
    let in_crate_manifest = || in_file(&crate_manifest_path);
    let mut libraries: Vec<&str> = Vec::new();
    for library in LIBRARIES {
        if manifest::depends_on(&crate_manifest, library).with_context(in_crate_manifest)? {
            libraries.push(library);
        }
    }
    let description = manifest::description(&crate_manifest).with_context(in_crate_manifest)?;

    // The crate, at the root.
    copy_tree(&crate_dir, &destination, &|path| path != crate_dir.join("README.md"))?;
    let manifest = workspace
        .standalone_root(&crate_manifest, &libraries)
        .with_context(in_crate_manifest)?;
    write(&destination.join("Cargo.toml"), &manifest)?;

    // What it uses of the libraries.
    let mut sources = rust_sources(&destination)?;
    if libraries.contains(&"testkit") {
        copy_tree(&root.join("testkit/src"), &destination.join("testkit/src"), &|_| true)?;
        let testkit_manifest = root.join("testkit/Cargo.toml");
        // workspace-hack stays behind: it holds five functions' tests to one feature set.
        let standalone = manifest::without_dependency(&read(&testkit_manifest)?, "workspace-hack")
            .and_then(|manifest| workspace.standalone(&manifest, |library| format!("../{library}")))
            .with_context(|| in_file(&testkit_manifest))?;
        write(&destination.join("testkit/Cargo.toml"), &standalone)?;
        sources.extend(rust_sources(&destination.join("testkit"))?);
    }
    if libraries.contains(&"shared") {
        copy_shared(root, &destination, &workspace, &sources)?;
    }

    // How to deploy it and how to test it.
    let function_template = template::for_function(
        &template_text,
        &function.logical_id,
        &format!("{binary}: {description} A function of the upload catalog workshop, copied out on its own."),
    )?;
    write(&destination.join("template.yaml"), &function_template)?;
    let samconfig = read(&root.join("samconfig.toml"))?;
    write(
        &destination.join("samconfig.toml"),
        &samconfig::with_stack_name(&samconfig, binary)?,
    )?;
    for file in [
        "Cargo.lock",
        "rustfmt.toml",
        "clippy.toml",
        "scripts/setup.sh",
        "scripts/env.sh",
        "tools/requirements.txt",
    ] {
        copy_file(&root.join(file), &destination.join(file))?;
    }
    write(&destination.join(".gitignore"), "/target/\n/.tools/\n/.aws-sam/\n")?;
    write(
        &destination.join("README.md"),
        &readme::readme(binary, &description, &function_template, &libraries),
    )?;

    println!("{binary} copied out to {}. Next:", destination.display());
    println!("  cd {} && ./scripts/setup.sh && cargo test", destination.display());
    Ok(())
}

/// `shared` with only the modules the copied code uses (and those they use in turn).
fn copy_shared(root: &Path, destination: &Path, workspace: &Workspace, sources: &[String]) -> Result<()> {
    let shared_src = root.join("shared/src");
    let module_sources: Vec<(String, String)> = std::fs::read_dir(&shared_src)
        .map_err(|error| anyhow!("{}: {error}", shared_src.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_owned();
            (name != "lib").then_some(path).map(|path| (name, path))
        })
        .map(|(name, path)| read(&path).map(|text| (name, text)))
        .collect::<Result<_>>()?;

    let needed = modules::needed(sources, &module_sources);
    for (name, text) in &module_sources {
        if needed.contains(name) {
            write(&destination.join(format!("shared/src/{name}.rs")), text)?;
            // What it compiles in goes with it: `aws`'s root certificates.
            for file in modules::included_files(text) {
                copy_file(&shared_src.join(&file), &destination.join("shared/src").join(&file))?;
            }
        }
    }
    let dropped: Vec<&str> = module_sources
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !needed.contains(*name))
        .collect();
    write(
        &destination.join("shared/src/lib.rs"),
        &modules::library_root(&read(&shared_src.join("lib.rs"))?, &dropped),
    )?;
    // Its own tests stay behind (they exercise every module), and with them its dev-dependencies.
    // So does functions-hack: it unifies the features of five functions, and the copy has one.
    let shared_manifest = root.join("shared/Cargo.toml");
    let standalone = manifest::without_dev_dependencies(&read(&shared_manifest)?)
        .and_then(|manifest| manifest::without_dependency(&manifest, "functions-hack"))
        .and_then(|manifest| workspace.standalone(&manifest, |library| format!("../{library}")))
        .with_context(|| in_file(&shared_manifest))?;
    write(&destination.join("shared/Cargo.toml"), &standalone)
}

fn in_file(path: &Path) -> String {
    path.display().to_string()
}
