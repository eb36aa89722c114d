//! Reading app-created media items: `mediaItems.list`, `get`, `batchGet` and `search`.
//! Only items the calling OAuth client created are visible (the post-March-2025 rule), and
//! everything needs `photoslibrary.readonly.appcreateddata`. Listing is newest first; an
//! album search follows album order. An item the user deleted answers exactly like an
//! unknown id (observed: `get` 400, `batchGet` per-item code 3 `Invalid media item ID.`),
//! without blaming the client.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::access::Need;
use crate::clock::date_of;
use crate::errors::{ApiError, ApiResult, MSG_INVALID_ALBUM, json_ok};
use crate::media::media_item_json;
use crate::pagination::{page, page_size, parse_page_size, read_token};
use crate::server::Ctx;
use crate::store::ItemData;

const MSG_INVALID_ITEM_ID: &str = "Invalid media item ID.";

pub(crate) async fn list(ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let what = "media_items_list";
    let size = page_size(parse_page_size(ctx.query("pageSize"), what)?, 25, 100, what)?;
    let query = format!("list|{}", principal.client_id);
    let offset = read_token(ctx.query("pageToken").as_deref(), &query, what)?;
    let inner = ctx.shared.lock();
    let mine: Vec<&ItemData> = inner
        .items
        .iter()
        .rev()
        .filter(|i| i.client_id == principal.client_id)
        .collect();
    let (items, next) = page(&mine, offset, size, &query);
    Ok(json_ok(&items_page(&items, next)))
}

fn items_page(items: &[&ItemData], next: Option<String>) -> Value {
    let mut out = Map::new();
    if !items.is_empty() {
        let list: Vec<Value> = items.iter().map(|i| media_item_json(i, true)).collect();
        out.insert("mediaItems".into(), Value::Array(list));
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Value::Object(out)
}

pub(crate) async fn get(ctx: Ctx, id: &str) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let inner = ctx.shared.lock();
    match inner.item(id) {
        Some(item) if item.client_id == principal.client_id => {
            Ok(json_ok(&media_item_json(item, true)))
        }
        // The user deleted it in the app: the client could not know, so no violation.
        None if inner.deleted_by(id) == Some(principal.client_id.as_str()) => Err(
            ApiError::google(StatusCode::BAD_REQUEST, MSG_INVALID_ITEM_ID),
        ),
        _ => Err(ApiError::invalid(
            MSG_INVALID_ITEM_ID,
            format!("media_items_get: {id:?} is not a media item created by this OAuth client"),
        )),
    }
}

pub(crate) async fn batch_get(ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let what = "media_items_batch_get";
    let ids: Vec<String> =
        url::form_urlencoded::parse(ctx.parts.uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == "mediaItemIds")
            .map(|(_, v)| v.into_owned())
            .collect();
    if ids.is_empty() || ids.len() > 50 {
        return Err(ApiError::invalid(
            "Request must have between 1 and 50 media item ids.",
            format!("{what}: {} mediaItemIds; 1 to 50 are allowed", ids.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(*id)) {
        return Err(ApiError::invalid(
            "Request contains duplicate media item ids.",
            format!("{what}: mediaItemIds repeats {dup:?}"),
        ));
    }
    let inner = ctx.shared.lock();
    let results: Vec<Value> = ids
        .iter()
        .map(|id| match inner.item(id) {
            Some(item) if item.client_id == principal.client_id => {
                json!({"mediaItem": media_item_json(item, true)})
            }
            _ => json!({"status": {"code": 3, "message": MSG_INVALID_ITEM_ID}}),
        })
        .collect();
    Ok(json_ok(&json!({ "mediaItemResults": results })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchRequest {
    album_id: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
    filters: Option<Filters>,
    order_by: Option<String>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Filters {
    date_filter: Option<DateFilter>,
    media_type_filter: Option<MediaTypeFilter>,
    /// Accepted for shape compatibility; the emulator has no content categories or
    /// features, so these never exclude anything.
    content_filter: Option<Value>,
    feature_filter: Option<Value>,
    include_archived_media: Option<bool>,
    exclude_non_app_created_data: Option<bool>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct DateFilter {
    #[serde(default)]
    dates: Vec<Date>,
    #[serde(default)]
    ranges: Vec<DateRange>,
}

#[derive(Deserialize, Serialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Date {
    #[serde(default)]
    year: i32,
    #[serde(default)]
    month: u32,
    #[serde(default)]
    day: u32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DateRange {
    start_date: Date,
    end_date: Date,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MediaTypeFilter {
    media_types: Vec<String>,
}

impl Date {
    /// Google's partial dates: a zero field is a wildcard.
    fn matches(self, d: chrono::NaiveDate) -> bool {
        use chrono::Datelike;
        (self.year == 0 || self.year == d.year())
            && (self.month == 0 || self.month == d.month())
            && (self.day == 0 || self.day == d.day())
    }

    fn key(self, end: bool) -> (i32, u32, u32) {
        let fill = |v: u32, max: u32| if v == 0 { if end { max } else { 0 } } else { v };
        (self.year, fill(self.month, 12), fill(self.day, 31))
    }
}

impl Filters {
    fn keep(&self, item: &ItemData) -> bool {
        use chrono::Datelike;
        if let Some(mt) = &self.media_type_filter {
            let ok = mt.media_types.iter().any(|t| match t.as_str() {
                "PHOTO" => !item.detected.video,
                "VIDEO" => item.detected.video,
                _ => true,
            });
            if !ok {
                return false;
            }
        }
        if let Some(df) = &self.date_filter {
            let d = date_of(item.created);
            let k = (d.year(), d.month(), d.day());
            let in_dates = df.dates.iter().any(|x| x.matches(d));
            let in_ranges = df
                .ranges
                .iter()
                .any(|r| r.start_date.key(false) <= k && k <= r.end_date.key(true));
            if !(in_dates || in_ranges) {
                return false;
            }
        }
        true
    }
}

pub(crate) async fn search(mut ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let what = "media_items_search";
    let req: SearchRequest = ctx.read_json().await?;
    if req.album_id.is_some() && req.filters.is_some() {
        return Err(ApiError::invalid(
            "Request must not contain both albumId and filters.",
            format!("{what}: albumId and filters in one search"),
        ));
    }
    if let Some(order) = &req.order_by {
        let date_filtered = req
            .filters
            .as_ref()
            .is_some_and(|f| f.date_filter.is_some());
        let valid = matches!(
            order.trim(),
            "MediaMetadata.creation_time" | "MediaMetadata.creation_time desc"
        );
        if !valid || !date_filtered {
            return Err(ApiError::invalid(
                "Invalid orderBy: only MediaMetadata.creation_time [desc] with a dateFilter.",
                format!(
                    "{what}: orderBy {order:?} (only creation time, and only with a dateFilter)"
                ),
            ));
        }
    }
    if let Some(mt) = req
        .filters
        .as_ref()
        .and_then(|f| f.media_type_filter.as_ref())
        && (mt.media_types.len() != 1
            || !["ALL_MEDIA", "PHOTO", "VIDEO"].contains(&mt.media_types[0].as_str()))
    {
        return Err(ApiError::invalid(
            "mediaTypeFilter must contain exactly one of ALL_MEDIA, PHOTO, VIDEO.",
            format!("{what}: mediaTypeFilter.mediaTypes {:?}", mt.media_types),
        ));
    }
    let size = page_size(req.page_size, 25, 100, what)?;
    let query = format!(
        "search|{}|{:?}|{}|{:?}",
        principal.client_id,
        req.album_id,
        serde_json::to_string(&req.filters).unwrap_or_default(),
        req.order_by
    );
    let offset = read_token(req.page_token.as_deref(), &query, what)?;
    let inner = ctx.shared.lock();
    let found: Vec<&ItemData> = match &req.album_id {
        Some(album_id) => {
            let Some(album) = inner
                .album(album_id)
                .filter(|a| a.client_id == principal.client_id)
            else {
                return Err(ApiError::invalid(
                    MSG_INVALID_ALBUM,
                    format!(
                        "{what}: albumId {album_id:?} is not an album created by this OAuth client"
                    ),
                ));
            };
            album
                .item_ids
                .iter()
                .filter_map(|id| inner.item(id))
                .collect()
        }
        None => {
            let mut v: Vec<&ItemData> = inner
                .items
                .iter()
                .rev()
                .filter(|i| i.client_id == principal.client_id)
                .filter(|i| req.filters.as_ref().is_none_or(|f| f.keep(i)))
                .collect();
            if req.order_by.as_deref().map(str::trim) == Some("MediaMetadata.creation_time") {
                v.reverse();
            }
            v
        }
    };
    let (items, next) = page(&found, offset, size, &query);
    Ok(json_ok(&items_page(&items, next)))
}
