//! The docs against `template.yaml`: what the deploy pages tell a reader to look for in AWS (an
//! output, a parameter, a queue or an alarm by name, how many alarms, what each role may do) is
//! what the template creates. These pages cannot be run by CI (they need an account), so this is
//! what keeps them from drifting when the template changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::least_privilege::statement_actions;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Value {
    serde_norway::from_str(include_str!("../../../template.yaml")).unwrap()
}

fn keys(section: &Value) -> BTreeSet<String> {
    section
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(key, _)| key.as_str().map(str::to_owned))
        .collect()
}

/// The README, every page under docs/ and every crate's README, with their paths.
fn pages() -> Vec<(String, String)> {
    let root = root();
    let mut paths = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|extension| extension == "md") {
                paths.push(path);
            }
        }
    }
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let readme = entry.unwrap().path().join("README.md");
        if readme.exists() {
            paths.push(readme);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
            (shown, text)
        })
        .collect()
}

/// The words that follow `marker` on a page, up to the first character that cannot be in a name.
fn names_after<'a>(text: &'a str, marker: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(marker).map(move |(at, _)| {
        let rest = &text[at + marker.len()..];
        let end = rest
            .find(|character: char| !character.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// Words in backticks spelled like a template's logical id (`StreamFailuresQueue`): two or more
/// capitalised parts, ending in what the template's ids and outputs end in. IAM actions
/// (`ListBucket`) start with a verb and are left to the roles table's test.
fn template_like_names(text: &str) -> Vec<&str> {
    const ENDINGS: [&str; 12] = [
        "Queue",
        "Alarm",
        "Function",
        "Table",
        "Bucket",
        "Url",
        "Name",
        "Arn",
        "Topic",
        "Mapping",
        "Dashboard",
        "Query",
    ];
    const IAM_VERBS: [&str; 7] = ["List", "Get", "Put", "Delete", "Create", "Describe", "Update"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| {
            word.chars().all(|character| character.is_ascii_alphanumeric())
                && word.chars().next().is_some_and(|first| first.is_ascii_uppercase())
                && word.chars().filter(char::is_ascii_uppercase).count() >= 2
                && ENDINGS.iter().any(|ending| word.ends_with(ending))
                && !IAM_VERBS.iter().any(|verb| word.starts_with(verb))
        })
        .collect()
}

#[test]
fn every_output_parameter_and_resource_the_docs_name_is_in_the_template() {
    let template = template();
    let outputs = keys(&template["Outputs"]);
    let parameters = keys(&template["Parameters"]);
    let mut anything = keys(&template["Resources"]);
    anything.extend(outputs.iter().cloned());
    anything.extend(parameters.iter().cloned());

    let mut missing = Vec::new();
    let mut checked = 0;
    for (page, text) in pages() {
        let wanted = names_after(&text, "OutputKey=='")
            .chain(names_after(&text, "output "))
            .filter(|name| name.chars().next().is_some_and(|first| first.is_ascii_uppercase()))
            .map(|name| (name, &outputs, "an output"))
            .chain(names_after(&text, "--parameter-overrides ").map(|name| (name, &parameters, "a parameter")))
            .chain(
                template_like_names(&text)
                    .into_iter()
                    .map(|name| (name, &anything, "a resource, output or parameter")),
            );
        for (name, known, kind) in wanted {
            checked += 1;
            if !known.contains(name) {
                missing.push(format!("{page}: `{name}` is not {kind} of template.yaml"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(
        checked >= 20,
        "only {checked} names found: has the way the docs name things changed?"
    );
}

#[test]
fn the_docs_count_the_alarms_the_template_creates() {
    let template = template();
    // With the parameters' defaults: the public door's alarm comes only with the door.
    let alarms = template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter(|(_, resource)| resource["Condition"].is_null())
        .count();
    let mut counts = Vec::new();
    for (page, text) in pages() {
        let words: Vec<&str> = text.split_whitespace().collect();
        for window in words.windows(3) {
            // "14 alarms", or CloudWatch's list: "Alarms lists 14".
            let counted = match window {
                [number, alarms, _] if alarms.starts_with("alarms") => number,
                [alarms, "lists", number] if alarms.ends_with("Alarms") => number,
                _ => continue,
            };
            if let Ok(number) = counted.trim_end_matches([',', ':', '.']).parse::<usize>() {
                counts.push((page.clone(), number));
            }
        }
    }
    assert!(!counts.is_empty(), "no page says how many alarms the stack has");
    let wrong: Vec<_> = counts.iter().filter(|(_, number)| *number != alarms).collect();
    assert!(
        wrong.is_empty(),
        "the template creates {alarms} alarms; these pages say otherwise: {wrong:?}"
    );
}

/// Module 7's table of roles: for each function (by crate name), the IAM actions it lists. A
/// `service:Action` sets the service for the bare `Action`s after it; logical ids (`on
/// StreamFailuresQueue`) and resource patterns are what the action is on, not actions.
fn documented_roles(page: &str, ids: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut roles = BTreeMap::new();
    for row in page.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(function), Some(may)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let mut service = String::new();
        let mut actions = BTreeSet::new();
        for word in may.split('`').skip(1).step_by(2) {
            if let Some((prefix, _)) = word.split_once(':') {
                service = prefix.to_owned();
                actions.insert(word.to_owned());
            } else if word.chars().all(|character| character.is_ascii_alphanumeric())
                && word.starts_with(|first: char| first.is_ascii_uppercase())
                && !ids.contains(word)
            {
                actions.insert(format!("{service}:{word}"));
            }
        }
        roles.insert(function.trim_matches('`').to_owned(), actions);
    }
    roles
}

#[test]
fn module_7s_roles_table_lists_exactly_what_each_role_grants() {
    let template = template();
    let ids = keys(&template["Resources"]);
    let page = std::fs::read_to_string(root().join("docs/workshop/07-deploy-and-monitor.md")).unwrap();
    let documented = documented_roles(&page, &ids);

    let mut granted_by_crate = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let mut granted = BTreeSet::new();
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                granted.extend(statement_actions(binary, statement));
            }
        }
        granted_by_crate.insert(binary.to_owned(), granted);
    }
    let mut differences = Vec::new();
    let crates: BTreeSet<&String> = documented.keys().chain(granted_by_crate.keys()).collect();
    let nothing = BTreeSet::new();
    for name in crates {
        let says = documented.get(name).unwrap_or(&nothing);
        let grants = granted_by_crate.get(name).unwrap_or(&nothing);
        let unsaid: Vec<_> = grants.difference(says).collect();
        let ungranted: Vec<_> = says.difference(grants).collect();
        if !unsaid.is_empty() || !ungranted.is_empty() {
            differences.push(format!(
                "{name}: granted but not in the table {unsaid:?}; in the table but not granted {ungranted:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "module 7's table of roles against the template's policies:\n{}",
        differences.join("\n")
    );
}

#[test]
fn a_roles_row_reads_prefixed_and_bare_actions_and_skips_what_they_are_on() {
    let ids = BTreeSet::from(["StreamFailuresQueue".to_owned()]);
    let page = "| function | may | because |\n\
                | `f` | `dynamodb:PutItem`, `DeleteItem` on `<table>`; `sqs:SendMessage` on `StreamFailuresQueue`; `ListStreams` | x |\n";
    let roles = documented_roles(page, &ids);
    let expected: BTreeSet<String> = [
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
        "sqs:ListStreams",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(roles.get("f"), Some(&expected));
}

#[test]
fn names_in_backticks_count_only_when_spelled_like_a_template_name() {
    let text = "`StreamFailuresQueue` `ListBucket` `ObjectsIndexed` `Queue` `AlarmTopicArn` `uploads/`";
    assert_eq!(template_like_names(text), ["StreamFailuresQueue", "AlarmTopicArn"]);
}
