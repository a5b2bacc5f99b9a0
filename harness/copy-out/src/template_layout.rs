//! `template.yaml` read as text in its own layout: sections at column 0, one entry per two-space
//! indented name, comments just above what they explain. A YAML library would drop the comments
//! the copy should keep, so the cut works on these lines instead.

pub struct Section {
    /// The section's first line and the comments above it.
    pub head: Vec<String>,
    pub entries: Vec<Entry>,
}

pub struct Entry {
    pub id: String,
    /// The comments above the entry, its name line and everything under it.
    pub lines: Vec<String>,
}

impl Entry {
    /// The entry's text without comments: what references are looked for in.
    pub fn code(&self) -> String {
        code(&self.lines)
    }

    pub fn property(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}:");
        self.lines
            .iter()
            .map(|line| line.trim())
            .find_map(|line| line.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
}

/// The key of the section's line at column 0 (`Resources` for `Resources:`).
pub fn section_name(section: &Section) -> &str {
    section
        .head
        .iter()
        .find(|line| !line.is_empty() && !line.starts_with([' ', '#']))
        .and_then(|line| line.split(':').next())
        .unwrap_or_default()
}

/// Sections at column 0; entries at two spaces; blank and comment lines go with what follows.
pub fn parse(template: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for line in template.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            pending.push(line.to_owned());
        } else if indent == 0 {
            pending.push(line.to_owned());
            sections.push(Section {
                head: std::mem::take(&mut pending),
                entries: Vec::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            let starts_entry =
                indent == 2 && trimmed.split(':').next().is_some_and(is_identifier) && trimmed.contains(':');
            // Under `Description: >-` an indented `Word:` is text, not an entry.
            if starts_entry
                && !section
                    .head
                    .last()
                    .is_some_and(|head| head.ends_with(">-") || head.ends_with('|'))
            {
                pending.push(line.to_owned());
                let id = trimmed.split(':').next().unwrap_or_default().to_owned();
                section.entries.push(Entry {
                    id,
                    lines: std::mem::take(&mut pending),
                });
            } else {
                let lines = match section.entries.last_mut() {
                    Some(entry) => &mut entry.lines,
                    None => &mut section.head,
                };
                lines.append(&mut pending);
                lines.push(line.to_owned());
            }
        }
    }
    if let Some(section) = sections.last_mut() {
        section.head.append(&mut pending);
    }
    sections
}

/// `lines` without their comments, joined.
pub fn code(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| without_comment(line))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn without_comment(line: &str) -> &str {
    let mut quoted = false;
    for (position, character) in line.char_indices() {
        match character {
            '"' => quoted = !quoted,
            '#' if !quoted && (position == 0 || line[..position].ends_with(char::is_whitespace)) => {
                return &line[..position];
            }
            _ => {}
        }
    }
    line
}

/// The words of `text` that could be logical ids: wherever one is written (`!Ref X`,
/// `!GetAtt X.Arn`, `${X}`, `DependsOn: X`), it stands between non-alphanumeric characters.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|character| character.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_with_the_entry_below_them_and_block_text_is_not_an_entry() {
        let template = "Description: >-\n  Not: an entry\n\nResources:\n  # Why A.\n  A:\n    Type: X\n    Size: 1 # Inline.\n  B:\n    Type: Y\n";
        let sections = parse(template);
        let names: Vec<&str> = sections.iter().map(section_name).collect();
        assert_eq!(names, ["Description", "Resources"]);
        assert!(sections[0].entries.is_empty());
        let resources = &sections[1].entries;
        assert_eq!(resources[0].id, "A");
        assert_eq!(resources[0].lines[0], "  # Why A.");
        assert_eq!(resources[0].property("Type").as_deref(), Some("X"));
        assert_eq!(resources[0].code(), "  \n  A:\n    Type: X\n    Size: 1 ");
        assert_eq!(resources[1].id, "B");
    }

    #[test]
    fn a_hash_inside_quotes_is_not_a_comment() {
        assert_eq!(without_comment("  Value: \"a # b\" # c"), "  Value: \"a # b\" ");
        assert_eq!(without_comment("  Value: a#b"), "  Value: a#b");
    }
}
