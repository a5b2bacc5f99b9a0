//! `cargo xtask browser [--screenshot FILE]`: the catalog's web page in a real browser.
//!
//! Headless Chromium, driven by chromedriver over the WebDriver protocol (through the
//! `fantoccini` client), loads the page the HTTP function serves at `GET /` and does what a
//! person would: uploads a file whose name has a space and a `+` through the file picker, sees it
//! indexed with its size and SHA-256, sees its folder's statistics change, opens it, then causes
//! an error and sees it explained. Every step is checked against the catalog itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{heading, Result};
use anyhow::{anyhow, Context};
use support::http;

/// How long a check may wait for the page to show what it expects.
const PATIENCE: Duration = Duration::from_secs(60);

/// The file the browser uploads: a space and a `+` in its name, the characters S3 encodes
/// differently in its events.
const FILE_NAME: &str = "Q4 plan + budget.txt";
const FILE_CONTENT: &str = "Plan for Q4: ship the catalog.\nBudget: 42.\n";

/// Where chromium and chromedriver are, from `PATH`.
fn find(program: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|folder| folder.join(program))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!(
            "{program} not found on PATH: run ./scripts/browser-test.sh, which installs Debian's chromium and chromium-driver packages (or install them yourself: sudo apt-get install chromium chromium-driver)"
        ))
}

/// chromedriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Result<Driver> {
        let port = testkit::free_port();
        let child = support::tool(find("chromedriver")?)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| anyhow!("starting chromedriver: {error}"))?;
        Ok(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session, through the `fantoccini` WebDriver client.
struct Browser {
    client: Client,
}

impl Browser {
    async fn open(driver: &Driver) -> Result<Browser> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while http::send("GET", &format!("{}/status", driver.url), &[], Vec::new())
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(anyhow!("chromedriver did not start within 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chromium = find("chromium")?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // A phone-sized window would hide the wide columns; this is a laptop's.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1500"]
            }
        });
        let Value::Object(capabilities) = capabilities else {
            return Err(anyhow!("the capabilities are not a JSON object"));
        };
        // Plain HTTP: chromedriver is on loopback.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .context("chromedriver opened no session")?;
        Ok(Browser { client })
    }

    async fn go(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("WebDriver: opening {url}"))
    }

    /// Runs `script` in the page and returns what it returns.
    async fn script(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.client
            .execute(script, args)
            .await
            .context("WebDriver: running a script in the page")
    }

    /// The text of the first element matching `selector`, as a person sees it.
    async fn text(&self, selector: &str) -> Result<String> {
        let text = self
            .script(
                "const element = document.querySelector(arguments[0]); return element ? element.innerText : null;",
                vec![json!(selector)],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the text of `selector` satisfies `done`, and returns it.
    async fn wait_for_text(&self, selector: &str, what: &str, done: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text(selector).await?;
            if done(&text) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "the page did not show {what} within {} s; {selector} reads: {text:?}",
                    PATIENCE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Types `text` into the element, as a person would (into a file input: a file's path, which
    /// is how a file is chosen without the picker's dialog).
    async fn type_into(&self, selector: &str, text: &str, clear_first: bool) -> Result<()> {
        let element = self
            .client
            .find(Locator::Css(selector))
            .await
            .with_context(|| format!("no element {selector} on the page"))?;
        if clear_first {
            element
                .clear()
                .await
                .with_context(|| format!("WebDriver: clearing {selector}"))?;
        }
        element
            .send_keys(text)
            .await
            .with_context(|| format!("WebDriver: typing into {selector}"))
    }

    async fn screenshot(&self, file: &Path) -> Result<()> {
        let png = self.client.screenshot().await.context("WebDriver: the screenshot")?;
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder).map_err(|error| anyhow!("{}: {error}", folder.display()))?;
        }
        std::fs::write(file, png).map_err(|error| anyhow!("{}: {error}", file.display()))
    }

    /// Ends the session, which closes the browser; chromedriver itself stops with [`Driver`].
    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The browser test against the running application; `page` is the page's address.
pub async fn run(page: &str, prefix: &str, root: &Path, screenshot: &Path) -> Result<()> {
    let driver = Driver::start()?;
    let browser = Browser::open(&driver).await?;
    let outcome = walk(&browser, page, prefix, root, screenshot).await;
    browser.close().await;
    outcome
}

async fn walk(browser: &Browser, page: &str, prefix: &str, root: &Path, screenshot: &Path) -> Result<()> {
    heading(&format!("1. Open the page: {page}"));
    browser.go(page).await?;
    let health = browser
        .wait_for_text("#health", "the API's health", |text| text.starts_with("API ok"))
        .await?;
    println!("    {health}");

    let folder = format!("{prefix}web/");
    let objects_before = statistics_row(&browser.text("#stats tbody").await?, &folder).map_or(0, |(count, _)| count);
    println!("    {folder} holds {objects_before} objects before the upload");

    heading(&format!("2. Upload {FILE_NAME:?} with the file picker"));
    let file = root.join("target/local/browser").join(FILE_NAME);
    std::fs::create_dir_all(file.parent().unwrap_or(root)).map_err(|error| anyhow!("{error}"))?;
    std::fs::write(&file, FILE_CONTENT).map_err(|error| anyhow!("{}: {error}", file.display()))?;
    // The browser takes a file's path only in its canonical form.
    let file = file
        .canonicalize()
        .map_err(|error| anyhow!("{}: {error}", file.display()))?;
    browser.type_into("#files", &file.to_string_lossy(), false).await?;
    let hash = hex::encode(Sha256::digest(FILE_CONTENT.as_bytes()));
    let size = FILE_CONTENT.len();
    let uploads = browser
        .wait_for_text("#uploads tbody", "the file indexed with its hash", |text| {
            text.contains(&hash) || text.contains("failed")
        })
        .await?;
    let expected = format!("indexed: {size} bytes");
    if !uploads.contains(&expected) || !uploads.contains(&hash) {
        let shown = browser.text("#error").await.unwrap_or_default();
        return Err(anyhow!(
            "expected \"{expected}\" and {hash} in the uploads table, it reads: {uploads:?}; the page's error: {shown:?}"
        ));
    }
    println!("    uploads table: {FILE_NAME}, {expected}, sha256 {}…", &hash[..12]);

    heading("3. See the folder's statistics change");
    let stats = browser
        .wait_for_text("#stats tbody", "the new statistics", |text| {
            statistics_row(text, &folder).is_some_and(|(count, _)| count == objects_before + 1)
        })
        .await?;
    let (count, bytes) = statistics_row(&stats, &folder).unwrap_or_default();
    println!("    {folder}: {objects_before} -> {count} objects, {bytes} bytes");

    heading("4. See it listed in its folder, and open it");
    let listing = browser
        .wait_for_text("#objects tbody", "the file in its folder", |text| {
            text.contains(FILE_NAME)
        })
        .await?;
    let line = listing
        .lines()
        .find(|line| line.contains(FILE_NAME))
        .unwrap_or_default();
    println!("    {}", line.replace('\t', "  "));
    if !line.contains(&size.to_string()) {
        return Err(anyhow!("the listing shows the wrong size: {line:?}"));
    }
    browser
        .script(
            "[...document.querySelectorAll('#objects tbody button')].find(b => b.textContent === arguments[0]).click();",
            vec![json!(FILE_NAME)],
        )
        .await?;
    let details = browser
        .wait_for_text("#details", "the object's details", |text| text.contains(&hash))
        .await?;
    println!("    details: {} lines, sha256 included", details.lines().count());

    heading("5. Cause an error: a folder with a `..` segment");
    browser.type_into("#folder", "../", true).await?;
    browser.type_into("#files", &file.to_string_lossy(), false).await?;
    let error = browser
        .wait_for_text("#error", "the API's error", |text| text.contains("400"))
        .await?;
    let first_lines: Vec<&str> = error.lines().filter(|line| !line.is_empty()).take(2).collect();
    println!("    {}", first_lines.join(" / "));
    if !error.contains("..") {
        return Err(anyhow!("the error does not say what was wrong: {error:?}"));
    }

    browser.screenshot(screenshot).await?;
    println!("    screenshot: {}", screenshot.display());
    Ok(())
}

/// The (objects, bytes) the statistics table shows for `folder`, from its text (tab-separated
/// cells, one row per line).
fn statistics_row(table: &str, folder: &str) -> Option<(u64, u64)> {
    let cells: Vec<&str> = table
        .lines()
        .find(|line| line.starts_with(folder))?
        .split('\t')
        .collect();
    let number = |cell: &str| cell.trim().replace(',', "").parse::<u64>().ok();
    Some((number(cells.get(1)?)?, number(cells.get(2)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statistics_row_is_read_from_the_table_text() {
        let table = "uploads/reports/\t2\t1,234\t2026-11-28T10:00:00Z\nuploads/web/\t1\t45\t2026-11-28T10:00:01Z";
        assert_eq!(statistics_row(table, "uploads/web/"), Some((1, 45)));
        assert_eq!(statistics_row(table, "uploads/reports/"), Some((2, 1234)));
        assert_eq!(statistics_row(table, "uploads/none/"), None);
    }
}
