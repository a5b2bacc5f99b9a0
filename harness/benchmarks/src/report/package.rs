//! Deployment package sizes: what each language uploads to Lambda.

use std::io::{Cursor, Write as _};
use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::mib;
use crate::launcher::python_folder;

/// zlib's default level: Python's zipfile uses it, and so SAM CLI when it zips a function for
/// upload, so the sizes are those of what is deployed.
const DEFLATE_LEVEL: i64 = 6;

/// A function's deployment package, in both languages.
#[derive(Debug)]
pub struct Package {
    pub function: String,
    /// The stripped arm64 `bootstrap` and its zip, if `sam build` (or `cargo lambda build`) made it.
    pub bootstrap: Option<(u64, u64)>,
    /// The Python handler's zip (boto3 is part of Lambda's Python runtime).
    pub python_zip: u64,
}

pub fn package(root: &Path, function: &str, logical_id: &str) -> Result<Package> {
    let candidates = [
        root.join(".aws-sam/build").join(logical_id).join("bootstrap"),
        root.join("target/lambda").join(function).join("bootstrap"),
    ];
    let bootstrap = match candidates.iter().find(|path| path.is_file()) {
        Some(path) => {
            let size = std::fs::metadata(path)
                .map_err(|error| anyhow!("{}: {error}", path.display()))?
                .len();
            Some((size, zipped_size(path, "bootstrap")?))
        }
        None => None,
    };
    let python = python_folder(root, function).join("lambda_function.py");
    let python_zip = zipped_size(&python, "lambda_function.py")?;
    let rust = match bootstrap {
        Some((size, zip)) => format!("arm64 bootstrap {:.2} MiB, its zip {:.2} MiB", mib(size), mib(zip)),
        None => "no arm64 bootstrap yet (run `sam build` first to include it)".to_owned(),
    };
    println!(
        "    {function}: {rust}; Python zip {:.1} KiB",
        python_zip as f64 / 1024.0
    );
    Ok(Package {
        function: function.to_owned(),
        bootstrap,
        python_zip,
    })
}

/// The size of a deployment zip holding `file` as `name`. Made in memory: only its length is
/// wanted, and a few MiB of zip is nothing beside the processes measured.
fn zipped_size(file: &Path, name: &str) -> Result<u64> {
    let zipping = || format!("zipping {}", file.display());
    let mut source = std::fs::File::open(file).with_context(zipping)?;
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL));
    zip.start_file(name, options).with_context(zipping)?;
    std::io::copy(&mut source, &mut zip).with_context(zipping)?;
    zip.flush().with_context(zipping)?;
    let archive = zip.finish().with_context(zipping)?;
    Ok(archive.into_inner().len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_deflates_its_file_and_names_it() -> Result<()> {
        let folder = std::env::temp_dir().join(format!("bench-zip-{}", std::process::id()));
        std::fs::create_dir_all(&folder)?;
        let file = folder.join("input");
        let contents = "def lambda_handler(event, context):\n    return event\n".repeat(200);
        std::fs::write(&file, &contents)?;
        let size = zipped_size(&file, "lambda_function.py")?;
        std::fs::remove_dir_all(&folder)?;
        // Repetitive text deflates to a small fraction; the name is stored twice (local header
        // and central directory), so the zip is never smaller than that.
        assert!(size < contents.len() as u64 / 10, "{size} bytes");
        assert!(size > 2 * "lambda_function.py".len() as u64, "{size} bytes");
        Ok(())
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = zipped_size(Path::new("/nonexistent/bootstrap"), "bootstrap").err();
        assert!(error.is_some_and(|error| error.to_string().contains("/nonexistent/bootstrap")));
    }
}
