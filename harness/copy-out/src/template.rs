//! `template.yaml` for one function alone, cut from the application's template with its comments.
//!
//! What goes in: the function, everything it refers to (tables, buckets, queues, its log group,
//! the HTTP API), and everything that refers only to what is already in (its alarms, the bucket's
//! policy, the alarm topic's subscription), then the parameters, conditions and outputs those use.
//! What stays behind: the other functions and what belongs to them (their permissions, alarms, event
//! source mappings), and what spans several functions (the dashboard, the saved queries). Storage
//! the function shares with a function left behind comes along without the wiring to it: the uploads
//! bucket, copied with the HTTP API, loses its notifications to the put handler.
//!
//! The template is read as text in its own layout (sections at column 0, one entry per two-space
//! indented name, comments just above what they explain), so the copy keeps every comment. A
//! reference is a logical id written anywhere in an entry outside comments (`!Ref X`,
//! `!GetAtt X.Arn`, `${X}` in a `!Sub`, `DependsOn: X`, `Condition: X`), or a resource's name when
//! it is spelled out with `!Sub` to avoid a circular dependency (the uploads bucket's).

use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Resources that hold data or receive it: copied with a function that uses them even when another
/// function (left behind) is wired to them; that wiring is cut out instead.
const STORAGE: [&str; 5] = [
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Logs::LogGroup",
];

struct Section {
    /// The section's first line and the comments above it.
    head: Vec<String>,
    entries: Vec<Entry>,
}

struct Entry {
    id: String,
    /// The comments above the entry, its name line and everything under it.
    lines: Vec<String>,
}

impl Entry {
    /// The entry's text without comments: what references are looked for in.
    fn code(&self) -> String {
        self.lines
            .iter()
            .map(|line| without_comment(line))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn property(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}:");
        self.lines
            .iter()
            .map(|line| line.trim())
            .find_map(|line| line.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
}

/// The template for `function` (a logical id of an `AWS::Serverless::Function`), its code at `.`.
pub fn for_function(template: &str, function: &str, description: &str) -> Result<String> {
    let sections = parse(template);
    let section = |name: &str| sections.iter().find(|section| section_name(section) == name);
    let resources = section("Resources").context("template.yaml has no Resources")?;
    let by_id: BTreeMap<&str, &Entry> = resources
        .entries
        .iter()
        .map(|entry| (entry.id.as_str(), entry))
        .collect();
    if by_id.get(function).and_then(|entry| entry.property("Type")).as_deref() != Some("AWS::Serverless::Function") {
        return Err(anyhow!("{function} is not a function in template.yaml"));
    }

    // Which resources each entry refers to, including by a name spelled out with !Sub.
    let spelled_names: Vec<(String, &str)> = resources
        .entries
        .iter()
        .filter_map(|entry| {
            let name = entry
                .lines
                .iter()
                .find_map(|line| line.trim().strip_prefix("BucketName: !Sub "))?;
            Some((name.trim_matches('"').to_owned(), entry.id.as_str()))
        })
        .collect();
    let refers_to = |entry: &Entry| -> BTreeSet<String> {
        let code = entry.code();
        let mut ids: BTreeSet<String> = words(&code)
            .filter(|word| by_id.contains_key(word) && *word != entry.id)
            .map(str::to_owned)
            .collect();
        for (name, id) in &spelled_names {
            if code.contains(name.as_str()) && *id != entry.id {
                ids.insert((*id).to_owned());
            }
        }
        ids
    };
    let references: BTreeMap<&str, BTreeSet<String>> = resources
        .entries
        .iter()
        .map(|entry| (entry.id.as_str(), refers_to(entry)))
        .collect();
    let is_function = |id: &str| by_id[id].property("Type").as_deref() == Some("AWS::Serverless::Function");
    let is_storage = |id: &str| {
        by_id[id]
            .property("Type")
            .is_some_and(|kind| STORAGE.contains(&kind.as_str()))
    };
    // Another function, or something wired to one (its permission, alarm, event source mapping).
    let belongs_elsewhere = |id: &str| {
        id != function
            && (is_function(id) || (!is_storage(id) && references[id].iter().any(|r| r != function && is_function(r))))
    };

    let mut kept: BTreeSet<String> = BTreeSet::from([function.to_owned()]);
    loop {
        let before = kept.len();
        let wanted: Vec<String> = kept
            .iter()
            .flat_map(|id| references[id.as_str()].iter().cloned())
            .filter(|id| !belongs_elsewhere(id))
            .collect();
        kept.extend(wanted);
        let attached: Vec<String> = references
            .iter()
            .filter(|(id, refs)| {
                // Wired to the function itself (its alarms, which bring the alarm topic along), or
                // only to what is in already (the bucket's policy, an alarm on the function's queue).
                !belongs_elsewhere(id)
                    && (refs.contains(function) || (!refs.is_empty() && refs.iter().all(|r| kept.contains(r))))
            })
            .map(|(id, _)| (*id).to_owned())
            .collect();
        kept.extend(attached);
        if kept.len() == before {
            break;
        }
    }
    let left_behind: BTreeSet<String> = by_id
        .keys()
        .filter(|id| !kept.contains(**id))
        .map(|id| (*id).to_owned())
        .collect();

    let mut out: Vec<String> = Vec::new();
    let mut kept_code = String::new();
    let mut kept_sections: Vec<(String, Vec<String>)> = Vec::new();
    for section in &sections {
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
                    kept_code.push_str(
                        &entry_lines
                            .iter()
                            .map(|l| without_comment(l))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                    lines.extend(entry_lines);
                }
            }
            "Outputs" => {
                for entry in &section.entries {
                    let refs: BTreeSet<String> = words(&entry.code())
                        .filter(|w| by_id.contains_key(w))
                        .map(str::to_owned)
                        .collect();
                    if refs.iter().all(|r| kept.contains(r)) {
                        kept_code.push_str(&entry.code());
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
        kept_sections.push((name.to_owned(), lines));
    }

    // Conditions the kept entries use, then parameters the kept entries and conditions use.
    let conditions = section("Conditions").map(|s| s.entries.as_slice()).unwrap_or_default();
    let used_conditions: Vec<&Entry> = conditions
        .iter()
        .filter(|entry| words(&kept_code).any(|word| word == entry.id))
        .collect();
    for entry in &used_conditions {
        kept_code.push_str(&entry.code());
    }
    let parameters = section("Parameters").map(|s| s.entries.as_slice()).unwrap_or_default();
    let used: BTreeSet<&str> = words(&kept_code).collect();
    for (name, mut lines) in kept_sections {
        let entries: Vec<&Entry> = match name.as_str() {
            "Conditions" => used_conditions.clone(),
            "Parameters" => parameters
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
    Ok(text)
}

/// The key of the section's line at column 0 (`Resources` for `Resources:`).
fn section_name(section: &Section) -> &str {
    section
        .head
        .iter()
        .find(|line| !line.is_empty() && !line.starts_with([' ', '#']))
        .and_then(|line| line.split(':').next())
        .unwrap_or_default()
}

/// Sections at column 0; entries at two spaces; blank and comment lines go with what follows.
fn parse(template: &str) -> Vec<Section> {
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
        let block_code = block.iter().map(|l| without_comment(l)).collect::<Vec<_>>().join("\n");
        let is_leaf_with_children = indent == 4 && line.trim_end().ends_with(':');
        if is_block_start && !is_leaf_with_children && words(&block_code).any(|word| left_behind.contains(word)) {
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

fn without_comment(line: &str) -> &str {
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

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|character| character.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap()
    }

    fn resources_of(template: &str) -> BTreeSet<String> {
        let sections = parse(template);
        let resources = sections.iter().find(|s| section_name(s) == "Resources").unwrap();
        resources.entries.iter().map(|entry| entry.id.clone()).collect()
    }

    /// The parameters, conditions, resources and outputs `template` declares.
    fn declared(template: &str) -> BTreeSet<String> {
        parse(template)
            .iter()
            .flat_map(|section| section.entries.iter().map(|entry| entry.id.clone()))
            .collect()
    }

    /// Every logical id the copy mentions outside comments is declared in it: nothing dangles.
    fn assert_self_contained(template: &str, application_ids: &BTreeSet<String>) {
        let declared = declared(template);
        let code: String = template.lines().map(without_comment).collect::<Vec<_>>().join("\n");
        let dangling: Vec<&str> = words(&code)
            .filter(|word| application_ids.contains(*word) && !declared.contains(*word))
            .collect();
        assert!(
            dangling.is_empty(),
            "refers to what it does not declare: {dangling:?}\n{template}"
        );
    }

    #[test]
    fn each_function_comes_with_what_it_uses_and_nothing_of_the_others() {
        let application = application();
        let all = declared(&application);
        let expectations: [(&str, &[&str], &[&str]); 3] = [
            (
                "PutHandlerFunction",
                &[
                    "UploadsBucket",
                    "UploadsBucketPolicy",
                    "ObjectsTable",
                    "PutHandlerInvokePermission",
                    "FailedUploadsQueue",
                    "FailedUploadsAlarm",
                    "PutHandlerErrorsAlarm",
                    "AlarmTopic",
                    "AlarmEmailSubscription",
                ],
                &[
                    "ApiFunction",
                    "StatisticsTable",
                    "CatalogDashboard",
                    "ObjectsStreamMapping",
                ],
            ),
            (
                "StreamConsumerFunction",
                &[
                    "ObjectsTable",
                    "StatisticsTable",
                    "ProcessedRecordsTable",
                    "ObjectsStreamMapping",
                    "StreamFailuresQueue",
                    "StreamConsumerIteratorAgeAlarm",
                ],
                &["UploadsBucket", "PutHandlerFunction", "FailedUploadsQueue"],
            ),
            (
                "ApiFunction",
                &[
                    "CatalogApi",
                    "CatalogApiAccessLogGroup",
                    "UploadsBucket",
                    "ObjectsTable",
                    "StatisticsTable",
                    "ApiDemoUrl",
                    "Api5xxAlarm",
                ],
                &[
                    "PutHandlerFunction",
                    "PutHandlerInvokePermission",
                    "ObjectsStreamMapping",
                    "ErrorsQuery",
                ],
            ),
        ];
        for (function, present, absent) in expectations {
            let copy = for_function(&application, function, "One function.").unwrap();
            let resources = resources_of(&copy);
            for id in present {
                assert!(resources.contains(*id), "{function}'s copy lacks {id}");
            }
            for id in absent {
                assert!(!resources.contains(*id), "{function}'s copy has {id}");
            }
            assert_self_contained(&copy, &all);
            assert!(
                copy.contains("      CodeUri: .\n"),
                "{function}: the code is at the copy's root"
            );
            assert!(
                copy.contains("Description: >-\n  One function.\n\n"),
                "{function}: its own description"
            );
        }
    }

    #[test]
    fn the_bucket_copied_with_the_api_loses_its_notifications_but_keeps_its_comments() {
        let copy = for_function(&application(), "ApiFunction", "One function.").unwrap();
        let bucket = copy
            .split("  UploadsBucket:")
            .nth(1)
            .unwrap()
            .split("\n  UploadsBucketPolicy:")
            .next()
            .unwrap();
        assert!(
            !bucket.contains("NotificationConfiguration") && !bucket.contains("DependsOn"),
            "{bucket}"
        );
        assert!(
            bucket.contains("CorsConfiguration") && bucket.contains("# Versioning is off on purpose"),
            "{bucket}"
        );
    }

    #[test]
    fn every_function_copies_out_self_contained() {
        let application = application();
        let all = declared(&application);
        let functions: Vec<String> = parse(&application)
            .iter()
            .flat_map(|s| s.entries.iter())
            .filter(|e| e.property("Type").as_deref() == Some("AWS::Serverless::Function"))
            .map(|e| e.id.clone())
            .collect();
        assert!(functions.len() >= 5, "{functions:?}");
        for function in functions {
            let copy = for_function(&application, &function, "One function.").unwrap();
            assert_self_contained(&copy, &all);
            let others = resources_of(&copy)
                .into_iter()
                .filter(|id| id.ends_with("Function") && *id != function)
                .count();
            assert_eq!(others, 0, "{function}'s copy has another function");
        }
    }

    #[test]
    fn asking_for_what_is_not_a_function_is_an_error() {
        assert!(for_function(&application(), "ObjectsTable", "x").is_err());
        assert!(for_function(&application(), "NoSuchThing", "x").is_err());
    }
}
