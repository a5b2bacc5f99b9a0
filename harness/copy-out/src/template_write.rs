//! Writing the cut template: the kept resources with what refers to the others cut out of them,
//! then the outputs, conditions and parameters they still use, each with its comments.

use std::collections::BTreeSet;

use crate::template_layout::{code, section_name, words, Entry, Section};

/// The template with the resources in `kept` only, `function`'s code at the copy's root and
/// `description` as its own.
pub fn write(sections: &[Section], function: &str, description: &str, kept: &BTreeSet<String>) -> String {
    let resources: BTreeSet<&str> = sections
        .iter()
        .filter(|section| section_name(section) == "Resources")
        .flat_map(|section| section.entries.iter().map(|entry| entry.id.as_str()))
        .collect();
    let left_behind: BTreeSet<String> = resources
        .iter()
        .filter(|id| !kept.contains(**id))
        .map(|id| (*id).to_owned())
        .collect();

    // What is kept of each section, and the code of it: conditions and parameters are kept only
    // where that code uses them, so they are written last.
    let mut kept_code = String::new();
    let mut kept_sections: Vec<(&str, Vec<String>)> = Vec::new();
    for section in sections {
        let name = section_name(section);
        let mut lines = section.head.clone();
        match name {
            "Description" => lines = vec![format!("Description: >-\n  {description}")],
            "Resources" => {
                for entry in section.entries.iter().filter(|entry| kept.contains(&entry.id)) {
                    let mut entry_lines = cut(&entry.lines, &left_behind);
                    if entry.id == function {
                        for line in &mut entry_lines {
                            if line.trim_start().starts_with("CodeUri:") {
                                *line = "      CodeUri: .".to_owned();
                            }
                        }
                    }
                    kept_code.push_str(&code(&entry_lines));
                    lines.extend(entry_lines);
                }
            }
            "Outputs" => {
                for entry in &section.entries {
                    let code = entry.code();
                    if words(&code).all(|word| !left_behind.contains(word)) {
                        kept_code.push_str(&code);
                        lines.extend(entry.lines.iter().cloned());
                    }
                }
            }
            "Parameters" | "Conditions" => {}
            _ => {
                kept_code.push_str(&section.entries.iter().map(Entry::code).collect::<Vec<_>>().join("\n"));
                lines.extend(section.entries.iter().flat_map(|entry| entry.lines.iter().cloned()));
            }
        }
        kept_sections.push((name, lines));
    }

    // Conditions the kept entries use, then parameters the kept entries and conditions use.
    let entries_of = |name: &str| {
        sections
            .iter()
            .find(|section| section_name(section) == name)
            .map(|section| section.entries.as_slice())
            .unwrap_or_default()
    };
    let used_conditions: Vec<&Entry> = entries_of("Conditions")
        .iter()
        .filter(|entry| words(&kept_code).any(|word| word == entry.id))
        .collect();
    for entry in &used_conditions {
        kept_code.push_str(&entry.code());
    }
    let used: BTreeSet<&str> = words(&kept_code).collect();
    let mut out: Vec<String> = Vec::new();
    for (name, mut lines) in kept_sections {
        let entries: Vec<&Entry> = match name {
            "Conditions" => used_conditions.clone(),
            "Parameters" => entries_of("Parameters")
                .iter()
                .filter(|entry| used.contains(entry.id.as_str()))
                .collect(),
            _ => {
                out.extend(lines);
                continue;
            }
        };
        if entries.is_empty() {
            continue;
        }
        lines.extend(entries.iter().flat_map(|entry| entry.lines.iter().cloned()));
        out.extend(lines);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// An entry without the blocks that refer to something left behind: a resource attribute
/// (`DependsOn`, four spaces in) or a property (six spaces in), with the comments above it.
fn cut(lines: &[String], left_behind: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = &lines[index];
        let indent = line.len() - line.trim_start().len();
        let is_block_start =
            !line.trim().is_empty() && !line.trim_start().starts_with('#') && (indent == 4 || indent == 6);
        let end = if is_block_start {
            lines[index + 1..]
                .iter()
                .position(|next| {
                    let next_indent = next.len() - next.trim_start().len();
                    !next.trim().is_empty() && next_indent <= indent
                })
                .map_or(lines.len(), |offset| index + 1 + offset)
        } else {
            index + 1
        };
        let block = &lines[index..end];
        // `Properties:` holds every property: look inside it rather than drop it whole.
        let is_leaf_with_children = indent == 4 && line.trim_end().ends_with(':');
        if is_block_start && !is_leaf_with_children && words(&code(block)).any(|word| left_behind.contains(word)) {
            // Drop it and the comment lines right above it.
            while out
                .last()
                .is_some_and(|previous| previous.trim_start().starts_with('#'))
            {
                out.pop();
            }
            // A block's trailing blank lines belong to the layout, not to it.
            out.extend(block.iter().rev().take_while(|l| l.trim().is_empty()).cloned());
        } else if is_block_start && is_leaf_with_children {
            out.push(line.clone());
            out.extend(cut(&block[1..], left_behind));
        } else {
            out.extend(block.iter().cloned());
        }
        index = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_naming_what_is_left_behind_goes_with_its_comment() {
        let entry: Vec<String> = [
            "  Bucket:",
            "    Type: AWS::S3::Bucket",
            "    DependsOn: Other",
            "    Properties:",
            "      # Why it notifies.",
            "      Notification:",
            "        Function: !GetAtt Other.Arn",
            "      # Why it is named.",
            "      BucketName: kept",
        ]
        .map(str::to_owned)
        .to_vec();
        let left_behind = BTreeSet::from(["Other".to_owned()]);
        assert_eq!(
            cut(&entry, &left_behind),
            [
                "  Bucket:",
                "    Type: AWS::S3::Bucket",
                "    Properties:",
                "      # Why it is named.",
                "      BucketName: kept",
            ]
        );
    }
}
