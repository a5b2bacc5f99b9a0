//! The ```` ```bash ```` blocks of a Markdown text, with the comment before each and the
//! ```` ```text ```` block after it, as CommonMark reads them (`pulldown-cmark`): a fence in a
//! list item, a comment right above a fence, an unclosed fence are what a renderer shows.

use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// What a block needs, from the comment before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    Local,
    /// Runs locally and must fail (an error the docs show on purpose).
    Fails,
    /// Started and left running for the blocks after it, as in a second terminal; ready once
    /// the address (`127.0.0.1:5000`) accepts connections.
    Background(String),
    Aws,
    /// Run by `.ci/run` itself.
    Ci,
    Unmarked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The Markdown file, relative to the repository's root.
    pub file: PathBuf,
    /// The line of its opening fence, from 1.
    pub line: usize,
    pub needs: Needs,
    pub code: String,
    /// The ```text block right after it: what the docs say it prints.
    pub expected: Option<String>,
}

/// What came right before the current block, blank lines and the edges of lists aside.
enum Before {
    Other,
    /// A `<!-- docs: ... -->` comment: what the next block needs.
    Marker(Needs),
    /// A bash block (its index in the blocks found): a ```text block now is what it prints.
    Bash(usize),
}

/// The fenced block being read.
struct Open {
    language: String,
    line: usize,
    text: String,
    needs: Needs,
}

/// The ```bash blocks of one Markdown text.
pub fn blocks(file: &Path, markdown: &str) -> Vec<Block> {
    let mut found: Vec<Block> = Vec::new();
    let mut before = Before::Other;
    let mut open: Option<Open> = None;
    let mut html: Option<String> = None;
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let needs = match std::mem::replace(&mut before, Before::Other) {
                    Before::Marker(needs) => needs,
                    // What the bash block before prints: it stays the block to attach it to.
                    Before::Bash(index) if info.trim() == "text" => {
                        before = Before::Bash(index);
                        Needs::Unmarked
                    }
                    _ => Needs::Unmarked,
                };
                open = Some(Open {
                    language: info.trim().to_owned(),
                    line: markdown
                        .as_bytes()
                        .get(..range.start)
                        .map_or(0, |before| before.iter().filter(|&&byte| byte == b'\n').count())
                        + 1,
                    text: String::new(),
                    needs,
                });
            }
            Event::Text(text) => match (open.as_mut(), html.as_mut()) {
                (Some(open), _) => open.text.push_str(&text),
                (None, Some(html)) => html.push_str(&text),
                (None, None) => before = Before::Other,
            },
            Event::End(TagEnd::CodeBlock) => {
                let Some(block) = open.take() else { continue };
                // Lines as `str::lines` cuts them: no final newline, no `\r` of a CRLF file.
                let code = block.text.lines().collect::<Vec<_>>().join("\n");
                match (block.language.as_str(), &before) {
                    ("bash", _) => {
                        found.push(Block {
                            file: file.to_path_buf(),
                            line: block.line,
                            needs: block.needs,
                            code,
                            expected: None,
                        });
                        before = Before::Bash(found.len() - 1);
                    }
                    ("text", Before::Bash(index)) => {
                        if let Some(bash) = found.get_mut(*index) {
                            bash.expected = Some(code);
                        }
                        before = Before::Other;
                    }
                    _ => before = Before::Other,
                }
            }
            Event::Start(Tag::HtmlBlock) => html = Some(String::new()),
            Event::Html(text) => match html.as_mut() {
                Some(html) => html.push_str(&text),
                None => before = Before::Other,
            },
            Event::End(TagEnd::HtmlBlock) => {
                before = html
                    .take()
                    .and_then(|comment| marker(&comment))
                    .map_or(Before::Other, Before::Marker);
            }
            // Where a list or a quote starts or ends is layout: a comment before a list's first
            // block still says what that block needs, as the line before its fence.
            Event::Start(Tag::List(_) | Tag::Item | Tag::BlockQuote(_)) | Event::End(_) => {}
            _ if open.is_some() => {}
            _ => before = Before::Other,
        }
    }
    found
}

/// What a `<!-- docs: ... -->` comment says a block needs.
fn marker(comment: &str) -> Option<Needs> {
    let marker = comment.trim().strip_prefix("<!-- docs:")?.strip_suffix("-->")?.trim();
    Some(match marker.split_once(' ').unwrap_or((marker, "")) {
        ("run", _) => Needs::Local,
        ("fails", _) => Needs::Fails,
        ("aws", _) => Needs::Aws,
        ("ci", _) => Needs::Ci,
        ("background", address) => Needs::Background(address.trim().to_owned()),
        _ => Needs::Unmarked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKDOWN: &str = "# Title

<!-- docs: run -->
```bash
echo hello
```

```text
hello
```

<!-- docs: aws -->
```bash
sam deploy
```

1. A step:

   ```bash
   cargo test -p x
   ```
";

    #[test]
    fn blocks_are_read_with_what_they_need_and_what_they_print() {
        let found = blocks(Path::new("README.md"), MARKDOWN);
        assert_eq!(found.len(), 3);
        assert_eq!(
            (found[0].line, found[0].needs.clone(), found[0].code.as_str()),
            (4, Needs::Local, "echo hello")
        );
        assert_eq!(found[0].expected.as_deref(), Some("hello"));
        assert_eq!((&found[1].needs, found[1].expected.as_deref()), (&Needs::Aws, None));
        // An indented block (in a list) loses its indentation.
        assert_eq!(
            (found[2].needs.clone(), found[2].code.as_str()),
            (Needs::Unmarked, "cargo test -p x")
        );
    }

    #[test]
    fn a_comment_says_what_the_next_block_needs_only_when_nothing_comes_between() {
        let markdown = "<!-- docs: background 127.0.0.1:5000 -->
```bash
cargo lambda watch
```

<!-- docs: run -->
Some words.

```bash
echo unmarked
```

1. In a list:

   <!-- docs: fails -->
   ```bash
   false
     indented
   ```

   ```text
   nothing
   ```
";
        let found = blocks(Path::new("README.md"), markdown);
        let read: Vec<_> = found
            .iter()
            .map(|block| {
                (
                    block.line,
                    block.needs.clone(),
                    block.code.as_str(),
                    block.expected.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (
                    2,
                    Needs::Background("127.0.0.1:5000".to_owned()),
                    "cargo lambda watch",
                    None
                ),
                (9, Needs::Unmarked, "echo unmarked", None),
                (16, Needs::Fails, "false\n  indented", Some("nothing")),
            ]
        );
    }

    #[test]
    fn only_a_text_block_right_after_a_bash_block_is_what_it_prints() {
        let markdown = "<!-- docs: run -->
```bash
echo one
```

Then:

```text
one
```

```rust
fn main() {}
```

```bash
echo unclosed
";
        let found = blocks(Path::new("README.md"), markdown);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].needs.clone(), found[0].expected.as_deref()),
            (Needs::Local, None)
        );
        assert_eq!((found[1].line, found[1].code.as_str()), (16, "echo unclosed"));
    }
}
