//! `GET /stats` (every folder, a page at a time) and `GET /stats/{folder+}`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use shared::catalog::FolderStats;
use tracing::Instrument;

use crate::pages::{decode_stats_cursor, encode_cursor, page_limit};
use crate::{check_folder, json_response, readable, Answer, Deps, Failure};

/// A page of `GET /stats`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsPage {
    /// Sorted by folder within the page; pages come in the table's own order, not alphabetical.
    pub folders: Vec<FolderStats>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub(crate) async fn list_stats(deps: &Deps, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let limit = page_limit(query.first("limit"))?;
    let start = query.first("cursor").map(decode_stats_cursor).transpose()?;
    // One page per request, like /objects: a response that grew with the number of folders
    // would one day pass Lambda's 6 MB limit and fail for good.
    let output = deps
        .dynamodb
        .scan()
        .table_name(&deps.config.statistics_table)
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .instrument(tracing::info_span!("DynamoDB.Scan"))
        .await
        .map_err(|error| Failure::aws("scanning statistics", error))?;
    let mut folders: Vec<FolderStats> = output
        .items
        .unwrap_or_default()
        .into_iter()
        .filter_map(readable_stats)
        .collect();
    folders.sort_by(|left, right| left.folder.cmp(&right.folder));
    let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
    Ok(json_response(StatusCode::OK, &StatsPage { folders, next_cursor }))
}

pub(crate) async fn get_stats(deps: &Deps, folder: &str) -> Answer {
    check_folder(folder)?;
    let output = deps
        .dynamodb
        .get_item()
        .table_name(&deps.config.statistics_table)
        .key("folder", AttributeValue::S(folder.to_owned()))
        .send()
        .instrument(tracing::info_span!("DynamoDB.GetItem"))
        .await
        .map_err(|error| Failure::aws("reading statistics", error))?;
    let stats = output
        .item
        .and_then(readable_stats)
        .ok_or_else(|| Failure::client(StatusCode::NOT_FOUND, format!("No statistics for folder {folder:?}.")))?;
    Ok(json_response(StatusCode::OK, &stats))
}

/// The statistics an item holds; `None` for one that is not a statistics item (see [`readable`]).
fn readable_stats(item: HashMap<String, AttributeValue>) -> Option<FolderStats> {
    readable(
        item,
        "folder",
        "an item of the statistics table that is not a statistics item: left out",
    )
}
