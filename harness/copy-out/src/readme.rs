//! The copy's README: what the function does, the two commands that test and deploy it, and what
//! each part of the folder is. `scripts/check-copy-out.sh` runs its first command block, so the
//! commands here are the ones proven to work on a copy.

/// `template` is the copy's own, for the resources it deploys; `libraries` are the ones beside it.
pub fn readme(binary: &str, description: &str, template: &str, libraries: &[&str]) -> String {
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
