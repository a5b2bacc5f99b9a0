//! `cargo xtask copy-out <function> <folder>`: one function as a project of its own, for a reader
//! who wants to start from it without the rest of the workshop.
//!
//! The folder gets the function's crate at its root, with every setting it inherited from the
//! workspace written out (`manifest`); the modules of `shared` it uses, and `testkit` for its tests;
//! a `template.yaml` with this function and what it needs alone (`template`); the setup script and
//! pinned tools list, so its tests find their emulator without anything of this repository; and a
//! README with its two commands. `scripts/check-copy-out.sh` runs those commands on every function's
//! copy in a clean environment.

mod manifest;
mod template;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use manifest::Workspace;

use anyhow::{anyhow, Result};

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
    let workspace = Workspace::read(&read(&root.join("Cargo.toml"))?);
    let crate_manifest = read(&crate_dir.join("Cargo.toml"))?;
    let libraries: Vec<&str> = LIBRARIES
        .into_iter()
        .filter(|library| depends_on(&crate_manifest, library))
        .collect();
    let description = package_description(&crate_manifest);

    // The crate, at the root.
    copy_tree(&crate_dir, &destination, &|path| path != crate_dir.join("README.md"))?;
    let mut manifest = workspace.standalone(&crate_manifest, |library| library.to_owned())?;
    let members: Vec<String> = libraries.iter().map(|library| format!("{library:?}")).collect();
    manifest.push_str(&format!(
        "\n# The libraries beside this crate, built with it into one target/ folder.\n[workspace]\nmembers = [{}]\n\n{}\n",
        members.join(", "),
        workspace.profiles
    ));
    write(&destination.join("Cargo.toml"), &manifest)?;

    // What it uses of the libraries.
    let mut sources = rust_sources(&destination)?;
    if libraries.contains(&"testkit") {
        copy_tree(&root.join("testkit/src"), &destination.join("testkit/src"), &|_| true)?;
        let testkit_manifest = read(&root.join("testkit/Cargo.toml"))?;
        write(
            &destination.join("testkit/Cargo.toml"),
            &workspace.standalone(&testkit_manifest, |library| format!("../{library}"))?,
        )?;
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
        &with_stack_name(&samconfig, binary),
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
        &readme(binary, &description, &function_template, &libraries),
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

    let mut needed: BTreeSet<String> = sources
        .iter()
        .flat_map(|source| modules_used(source, "shared"))
        .collect();
    loop {
        let more: BTreeSet<String> = module_sources
            .iter()
            .filter(|(name, _)| needed.contains(name))
            .flat_map(|(_, text)| modules_used(text, "crate"))
            .collect();
        if more.is_subset(&needed) {
            break;
        }
        needed.extend(more);
    }

    for (name, text) in &module_sources {
        if needed.contains(name) {
            write(&destination.join(format!("shared/src/{name}.rs")), text)?;
        }
    }
    let dropped: Vec<&str> = module_sources
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !needed.contains(*name))
        .collect();
    write(
        &destination.join("shared/src/lib.rs"),
        &library_root(&read(&shared_src.join("lib.rs"))?, &dropped),
    )?;
    // Its own tests stay behind (they exercise every module), and with them its dev-dependencies.
    let shared_manifest = read(&root.join("shared/Cargo.toml"))?;
    let without_tests = shared_manifest
        .split("\n[dev-dependencies]")
        .next()
        .unwrap_or(&shared_manifest);
    let lints = "\n[lints]\nworkspace = true\n";
    write(
        &destination.join("shared/Cargo.toml"),
        &workspace.standalone(&format!("{}\n{lints}", without_tests.trim_end()), |library| {
            format!("../{library}")
        })?,
    )
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
            if module.chars().next().is_some_and(|c| c.is_lowercase()) {
                modules.insert(module);
            }
        }
    }
    modules
}

/// `lib.rs` without the `mod` lines (and their attributes and doc entries) of `dropped` modules.
fn library_root(lib_rs: &str, dropped: &[&str]) -> String {
    let mentions = |line: &str, module: &str| {
        let line = line.trim();
        line == format!("pub mod {module};")
            || line.starts_with(&format!("//! - [`{module}`]"))
            || line.starts_with(&format!("//! - `{module}`"))
    };
    let lines: Vec<&str> = lib_rs.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for line in lines {
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

fn readme(binary: &str, description: &str, template: &str, libraries: &[&str]) -> String {
    let resources: Vec<String> = template
        .split("\nResources:\n")
        .nth(1)
        .unwrap_or_default()
        .split("\nOutputs:")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let name = line.strip_prefix("  ")?.strip_suffix(':')?;
            name.chars()
                .all(|c| c.is_ascii_alphanumeric())
                .then(|| format!("`{name}`"))
        })
        .collect();
    let bucket_note = if template.contains("BucketName: !Sub \"${AWS::StackName}") {
        "\nThe stack name must be lowercase: the bucket's name is made from it.\n"
    } else {
        ""
    };
    let library_lines: String = libraries
        .iter()
        .map(|library| match *library {
            "shared" => "- `shared/`: the parts of the workshop's library this function uses (logging, \
                         errors, AWS clients, metrics), each module with its own tests.\n"
                .to_owned(),
            _ => "- `testkit/`: for the tests only, the local AWS emulator (moto's server, started on a \
                  free loopback port by each test) and helpers to set up tables in it.\n"
                .to_owned(),
        })
        .collect();
    format!(
        "# {binary}\n\
         \n\
         {description}\n\
         \n\
         A function of the upload catalog workshop, copied out on its own: a Rust AWS Lambda function,\n\
         its tests against a local AWS emulator, and a SAM template that deploys it. Nothing here\n\
         needs the workshop's repository.\n\
         \n\
         ## Test it on this machine\n\
         \n\
         No AWS account and no Docker: the setup script installs the pinned tools (cargo-lambda, zig,\n\
         the SAM CLI and the moto AWS emulator) into `.tools/`, and the tests start the emulator\n\
         themselves. The first `cargo test` compiles the AWS SDK, which takes a few minutes.\n\
         \n\
         ```bash\n\
         ./scripts/setup.sh && cargo test\n\
         ```\n\
         \n\
         ## Deploy it\n\
         \n\
         With AWS credentials for the account and region to deploy to. `--guided` asks for the stack\n\
         name (`{binary}` by default) and the region once, and saves the answers in `samconfig.toml`.\n\
         {bucket_note}\
         \n\
         ```bash\n\
         source scripts/env.sh && sam build && sam deploy --guided\n\
         ```\n\
         \n\
         Remove it all with `sam delete` (empty its bucket first, if it has one).\n\
         \n\
         ## What is here\n\
         \n\
         - `src/main.rs` wires the function (logging, settings, AWS clients) and `src/handler.rs` holds\n\
         its logic and unit tests; `tests/` runs it against the emulator; `events/` has example events.\n\
         {library_lines}\
         - `template.yaml`: this function and what it needs: {resources}.\n\
         - `Cargo.toml`: every version spelled out; the release profile is the one the workshop measured\n\
         for size and cold start.\n",
        resources = resources.join(", "),
    )
}

fn with_stack_name(samconfig: &str, stack_name: &str) -> String {
    samconfig
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("stack_name") {
                format!("stack_name = {stack_name:?}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn depends_on(manifest: &str, library: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(&format!("{library}.")) || line.starts_with(&format!("{library} "))
    })
}

fn package_description(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("description = "))
        .map(|value| value.trim_matches('"').to_owned())
        .unwrap_or_default()
}

fn rust_sources(dir: &Path) -> Result<Vec<String>> {
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

fn copy_tree(from: &Path, to: &Path, include: &dyn Fn(&Path) -> bool) -> Result<()> {
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

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|error| anyhow!("{}: {error}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|error| anyhow!("{} -> {}: {error}", from.display(), to.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| anyhow!("{}: {error}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| anyhow!("{}: {error}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|error| anyhow!("{}: {error}", path.display()))
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
    fn a_dropped_module_loses_its_line_its_attribute_and_its_doc_entry() {
        let lib_rs = "//! - [`aws`]: clients.\n//! - `problem` (feature `http`): errors.\n\npub mod aws;\n#[cfg(feature = \"http\")]\npub mod problem;\n";
        assert_eq!(
            library_root(lib_rs, &["problem"]),
            "//! - [`aws`]: clients.\n\npub mod aws;\n"
        );
    }

    #[test]
    fn the_stack_is_named_after_the_function() {
        let samconfig = "[default.global.parameters]\nstack_name = \"rust-upload-catalog\"\n";
        assert_eq!(
            with_stack_name(samconfig, "s3-put-handler"),
            "[default.global.parameters]\nstack_name = \"s3-put-handler\"\n"
        );
    }
}
