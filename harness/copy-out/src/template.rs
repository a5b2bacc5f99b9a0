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
//! The template is read as text in its own layout (`template_layout`), so the copy keeps every
//! comment, and written back with the kept parts only (`template_write`). A reference is a
//! logical id written anywhere in an entry outside comments (`!Ref X`, `!GetAtt X.Arn`, `${X}` in
//! a `!Sub`, `DependsOn: X`, `Condition: X`), or a resource's name when it is spelled out with
//! `!Sub` to avoid a circular dependency (the uploads bucket's).

use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, BTreeSet};

use crate::template_layout::{parse, section_name, words, Entry};
use crate::template_write;

/// Resources that hold data or receive it: copied with a function that uses them even when another
/// function (left behind) is wired to them; that wiring is cut out instead.
const STORAGE: [&str; 5] = [
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Logs::LogGroup",
];

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
    Ok(template_write::write(&sections, function, description, &kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template_layout::without_comment;

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
