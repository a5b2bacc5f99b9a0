//! The machine and the versions of everything measured: numbers from another machine or another
//! Python are not comparable, so the report says whose they are.

use std::path::Path;
use std::process::Command;

/// Each as (name, version); "unknown" where a tool is missing, so the report is still written.
pub fn machine(root: &Path, python: &Path) -> Vec<(String, String)> {
    let output = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let python_package = |name: &str| {
        output(
            python,
            &[
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{name}'))"),
            ],
        )
    };
    vec![
        ("CPU".to_owned(), format!("{cpu}, {cores} cores")),
        ("Kernel".to_owned(), output(Path::new("uname"), &["-sr"])),
        ("Rust".to_owned(), output(Path::new("rustc"), &["--version"])),
        (
            "cargo-lambda".to_owned(),
            output(Path::new("cargo"), &["lambda", "--version"]),
        ),
        ("Python".to_owned(), output(python, &["--version"])),
        ("boto3".to_owned(), python_package("boto3")),
        ("awslambdaric".to_owned(), python_package("awslambdaric")),
        ("moto (the emulator)".to_owned(), python_package("moto")),
    ]
}
