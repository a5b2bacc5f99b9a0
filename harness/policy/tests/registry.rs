//! One registry of the functions: the template's `AWS::Serverless::Function` resources, read by
//! `template_plan` (which the local run, the benchmarks and copy-out use too). Every list in the
//! template that is about "the functions" must name all of them, so that adding a function to
//! the template and forgetting it in the dashboard or a saved query fails here, by name. The
//! alarms have their test in `template.rs` (`every_function_and_every_failure_queue_has_its_alarm...`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_norway::Value;
use template_plan::{plan, Function};

fn template_text() -> &'static str {
    include_str!("../../../template.yaml")
}

fn template() -> Value {
    serde_norway::from_str(template_text()).unwrap()
}

fn functions() -> Vec<Function> {
    plan(template_text()).unwrap().functions
}

/// The resource a `!Ref X` names.
fn referenced(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        _ => None,
    }
}

/// Each function's own log group (its `LoggingConfig.LogGroup`), by the function's logical id.
fn log_groups(template: &Value) -> BTreeMap<String, String> {
    functions()
        .into_iter()
        .map(|function| {
            let properties = &template["Resources"][function.logical_id.as_str()]["Properties"];
            let group = referenced(&properties["LoggingConfig"]["LogGroup"]).unwrap_or_else(|| {
                panic!(
                    "{} has no LoggingConfig.LogGroup: !Ref <its log group>",
                    function.logical_id
                )
            });
            (function.logical_id, group.to_owned())
        })
        .collect()
}

#[test]
fn every_saved_query_reads_every_functions_log_group() {
    let template = template();
    let groups = log_groups(&template);
    let queries: Vec<(&str, &Value)> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Logs::QueryDefinition"))
        .map(|(id, resource)| (id.as_str().unwrap(), &resource["Properties"]))
        .collect();
    assert!(!queries.is_empty(), "the template saves no Logs Insights query");
    for (query, properties) in queries {
        let read: BTreeSet<&str> = properties["LogGroupNames"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{query} has no LogGroupNames"))
            .iter()
            .filter_map(referenced)
            .collect();
        for (function, group) in &groups {
            assert!(
                read.contains(group.as_str()),
                "the saved query {query} leaves out {function}: add !Ref {group} to its LogGroupNames"
            );
        }
    }
}

/// The metric rows of a dashboard widget with CloudWatch's shorthand expanded: `"..."` first
/// repeats the previous row but for the values given after it, `"."` repeats the previous row's
/// value at that place. A row's trailing `{...}` (how to draw it) is dropped.
fn expanded_rows(metrics: &[Json]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for row in metrics {
        let items: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect();
        let previous = rows.last().cloned().unwrap_or_default();
        let expanded = if items.first().map(String::as_str) == Some("...") {
            let given = &items[1..];
            let mut row = previous[..previous.len() - given.len()].to_vec();
            row.extend_from_slice(given);
            row
        } else {
            items
                .iter()
                .enumerate()
                .map(|(at, item)| {
                    if item == "." {
                        previous[at].clone()
                    } else {
                        item.clone()
                    }
                })
                .collect()
        };
        rows.push(expanded);
    }
    rows
}

/// For each (widget, namespace, metric) of the dashboard: the functions it is shown for, whether
/// named by the `FunctionName` dimension (`${LogicalId}`) or the `service` dimension (the binary).
fn dashboard_metrics_by_function(template: &Value) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let dashboards: Vec<&Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::CloudWatch::Dashboard"))
        .collect();
    assert!(!dashboards.is_empty(), "the template has no dashboard");
    let by_binary: BTreeMap<String, String> = functions()
        .into_iter()
        .map(|function| (function.binary, function.logical_id))
        .collect();
    let mut shown: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for dashboard in dashboards {
        let Value::Tagged(body) = &dashboard["Properties"]["DashboardBody"] else {
            panic!("the dashboard's body is not a !Sub string");
        };
        let body: Json = serde_json::from_str(body.value.as_str().unwrap()).unwrap();
        for widget in body["widgets"].as_array().unwrap() {
            let title = widget["properties"]["title"].as_str().unwrap_or_default().to_owned();
            let Some(metrics) = widget["properties"]["metrics"].as_array() else {
                continue;
            };
            for row in expanded_rows(metrics) {
                let dimension = |name: &str| row.iter().position(|item| item == name).and_then(|at| row.get(at + 1));
                let function = match (dimension("FunctionName"), dimension("service")) {
                    (Some(reference), _) => reference.trim_start_matches("${").trim_end_matches('}').to_owned(),
                    (None, Some(service)) => by_binary.get(service).cloned().unwrap_or_default(),
                    (None, None) => continue,
                };
                shown
                    .entry((title.clone(), row[0].clone(), row[1].clone()))
                    .or_default()
                    .insert(function);
            }
        }
    }
    shown
}

#[test]
fn every_dashboard_metric_shown_per_function_is_shown_for_every_function() {
    let template = template();
    let every: BTreeSet<String> = functions().into_iter().map(|function| function.logical_id).collect();
    let shown = dashboard_metrics_by_function(&template);
    let per_function: Vec<_> = shown.iter().filter(|(_, functions)| functions.len() > 1).collect();
    assert!(!per_function.is_empty(), "no dashboard metric is shown per function");
    for ((widget, namespace, metric), functions) in per_function {
        let missing: Vec<&String> = every.difference(functions).collect();
        assert!(
            missing.is_empty(),
            "the dashboard's \"{widget}\" shows {namespace} {metric} for some functions but not for {missing:?}"
        );
    }
}

#[test]
fn the_dashboards_shorthand_expands_as_cloudwatch_reads_it() {
    let metrics: Vec<Json> = serde_json::from_str(
        r#"[["AWS/Lambda", "Errors", "FunctionName", "${A}"], ["...", "${B}"],
            ["NS", "ColdStart", "service", "a", {"stat": "Sum"}], [".", "Other", ".", "."]]"#,
    )
    .unwrap();
    assert_eq!(
        expanded_rows(&metrics),
        [
            ["AWS/Lambda", "Errors", "FunctionName", "${A}"],
            ["AWS/Lambda", "Errors", "FunctionName", "${B}"],
            ["NS", "ColdStart", "service", "a"],
            ["NS", "Other", "service", "a"],
        ]
    );
}

#[test]
fn the_readme_lists_every_function_and_every_function_has_a_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for function in functions() {
        let row = format!("| [`{0}`](crates/{0}) |", function.binary);
        assert!(
            readme.lines().any(|line| line.starts_with(&row)),
            "README.md's table of functions has no row for {}: add one starting {row}",
            function.binary
        );
        let own = root.join("crates").join(&function.binary).join("README.md");
        assert!(own.is_file(), "{} has no README.md", function.binary);
    }
}
