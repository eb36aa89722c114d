//! `mediaItems:batchCreate`: turns upload tokens into media items. Whole-call checks
//! (scope, serial-per-user, write quota, JSON shape, item count, album ownership and
//! position, every token, description and file-name limits, storage, album capacity) run
//! before anything changes; then each item gets its own status inside the 200, in input
//! order: an injected `ItemStatus`, `BAD_IMAGE` for bytes that are not a photo or video, the
//! existing item for identical bytes (or `EXISTS` for videos when configured), or a new item.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Need;
use crate::errors::{
    ApiError, ApiResult, MSG_BAD_IMAGE, MSG_EXISTS, MSG_INVALID_MEDIA_ITEM,
    MSG_INVALID_UPLOAD_TOKEN, MSG_NO_ALBUM_PERMISSION, MSG_TOO_MANY_ITEMS, json_ok,
};
use crate::media::media_item_json;
use crate::server::Ctx;
use crate::store::{Inner, ItemData, random_id};

/// Items per album, per the discovery document.
pub(crate) const ALBUM_CAPACITY: usize = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Request {
    album_id: Option<String>,
    new_media_items: Option<Vec<NewMediaItem>>,
    album_position: Option<AlbumPosition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewMediaItem {
    description: Option<String>,
    simple_media_item: Option<SimpleMediaItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SimpleMediaItem {
    upload_token: Option<String>,
    file_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AlbumPosition {
    position: Option<String>,
    relative_media_item_id: Option<String>,
    relative_enrichment_item_id: Option<String>,
}

/// Where new album entries go.
pub(crate) enum Placement {
    First,
    Last,
    After(String),
}

const RULE: &str = "batch_create";

pub(crate) async fn handle(mut ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Append)?;
    ctx.check_serial_batch()?;
    let now = ctx.shared.clock.now();
    ctx.take_write(now)?;
    let req: Request = ctx.read_json().await?;
    let new_items = req.new_media_items.unwrap_or_default();
    if new_items.is_empty() {
        return Err(ApiError::invalid(
            "Request must contain at least one newMediaItem.",
            format!("{RULE}: newMediaItems is missing or empty"),
        ));
    }
    if new_items.len() > 50 {
        return Err(ApiError::invalid(
            MSG_TOO_MANY_ITEMS,
            format!(
                "{RULE}: {} items in one call; the limit is 50",
                new_items.len()
            ),
        ));
    }
    let config = ctx.shared.config.clone();
    let client = principal.client_id;
    let mut inner = ctx.shared.lock();
    let placement = match &req.album_id {
        Some(album_id) => {
            match inner.album(album_id) {
                Some(a) if a.client_id == client => {}
                // Deleted by the user in the app: the client could not know.
                None if inner.album_deleted_by(album_id) == Some(client.as_str()) => {
                    return Err(ApiError::google(
                        StatusCode::BAD_REQUEST,
                        MSG_NO_ALBUM_PERMISSION,
                    ));
                }
                _ => {
                    return Err(ApiError::invalid(
                        MSG_NO_ALBUM_PERMISSION,
                        format!(
                            "{RULE}: albumId {album_id:?} is not an album created by this OAuth client"
                        ),
                    ));
                }
            }
            Some(placement(&inner, album_id, req.album_position.as_ref())?)
        }
        None if req.album_position.is_some() => {
            return Err(ApiError::invalid(
                "albumPosition requires albumId.",
                format!("{RULE}: albumPosition set without albumId"),
            ));
        }
        None => None,
    };

    // Validate every item before touching anything.
    let mut seen_tokens = HashSet::new();
    let mut tokens = Vec::with_capacity(new_items.len());
    for (i, item) in new_items.iter().enumerate() {
        let simple = item.simple_media_item.as_ref();
        let token = simple
            .and_then(|s| s.upload_token.clone())
            .unwrap_or_default();
        let invalid = |why: &str| {
            ApiError::invalid(
                MSG_INVALID_UPLOAD_TOKEN,
                format!("{RULE}: newMediaItems[{i}] upload token {why}"),
            )
        };
        let Some(upload) = inner.uploads.get(&token).filter(|_| !token.is_empty()) else {
            return Err(invalid(if token.is_empty() {
                "is missing or empty"
            } else {
                "was never issued by /v1/uploads"
            }));
        };
        if upload.client_id != client {
            return Err(invalid("belongs to another OAuth client"));
        }
        if now.duration_since(upload.created).unwrap_or_default() >= config.upload_token_ttl {
            return Err(invalid("has expired (upload tokens are valid for one day)"));
        }
        if !config.allow_token_reuse && (upload.consumed || !seen_tokens.insert(token.clone())) {
            return Err(invalid("was already used by a successful create"));
        }
        if let Some(d) = &item.description
            && d.chars().count() >= 1000
        {
            return Err(ApiError::invalid(
                "Description must be shorter than 1000 characters.",
                format!(
                    "{RULE}: newMediaItems[{i}].description has {} characters; it must be shorter than 1000",
                    d.chars().count()
                ),
            ));
        }
        if let Some(name) = simple.and_then(|s| s.file_name.as_ref())
            && name.chars().count() > 255
        {
            return Err(ApiError::invalid(
                "File name must not be longer than 255 characters.",
                format!(
                    "{RULE}: newMediaItems[{i}].simpleMediaItem.fileName has {} characters; the limit is 255",
                    name.chars().count()
                ),
            ));
        }
        tokens.push(token);
    }

    // Storage and album capacity, counting distinct new bytes and distinct additions.
    let mut new_shas = HashSet::new();
    let mut new_bytes = 0u64;
    let mut additions = HashSet::new();
    for token in &tokens {
        let up = &inner.uploads[token];
        if up.detected.is_none() {
            continue;
        }
        match inner.item_by_sha.get(&up.sha256) {
            Some(&idx) => {
                additions.insert(inner.items[idx].id.clone());
            }
            None => {
                if new_shas.insert(up.sha256.clone()) {
                    new_bytes += up.size;
                    additions.insert(up.sha256.clone());
                }
            }
        }
    }
    if let Some(limit) = inner.storage_limit
        && inner.storage_used + new_bytes > limit
    {
        return Err(ApiError::storage_full());
    }
    if let Some(album_id) = &req.album_id {
        let album = inner
            .album(album_id)
            .map(|a| a.item_ids.clone())
            .unwrap_or_default();
        let adding = additions.iter().filter(|id| !album.contains(id)).count();
        if album.len() + adding > ALBUM_CAPACITY {
            return Err(ApiError::invalid(
                "The album is full: an album can hold at most 20000 media items.",
                format!(
                    "{RULE}: adding {adding} items to an album of {} would pass 20000",
                    album.len()
                ),
            ));
        }
    }

    let mut results = Vec::with_capacity(tokens.len());
    let mut to_album = Vec::new();
    for (token, item) in tokens.iter().zip(&new_items) {
        let (status, media) = create_one(&mut inner, &config, &client, token, item, now);
        if let Some(id) = &media {
            to_album.push(id.clone());
        }
        let mut r = serde_json::Map::new();
        r.insert("uploadToken".into(), json!(token));
        r.insert("status".into(), status);
        if let Some(id) = media {
            let item = inner.item(&id).map(|i| media_item_json(i, false));
            r.insert("mediaItem".into(), item.unwrap_or(Value::Null));
        }
        results.push(Value::Object(r));
    }
    if let (Some(album_id), Some(place)) = (&req.album_id, placement) {
        add_to_album(&mut inner, album_id, &to_album, &place);
    }
    Ok(json_ok(&json!({ "newMediaItemResults": results })))
}

/// One item's outcome: its status JSON and, on success, the media item id.
fn create_one(
    inner: &mut Inner,
    config: &crate::Config,
    client: &str,
    token: &str,
    item: &NewMediaItem,
    now: std::time::SystemTime,
) -> (Value, Option<String>) {
    if let Some((code, message)) = inner.faults.take_item_status() {
        return (json!({"code": code, "message": message}), None);
    }
    let upload = inner.uploads[token].clone();
    let Some(detected) = upload.detected.clone() else {
        return (json!({"code": 3, "message": MSG_BAD_IMAGE}), None);
    };
    if let Some(&idx) = inner.item_by_sha.get(&upload.sha256) {
        if detected.video && config.video_duplicate_exists {
            return (json!({"code": 6, "message": MSG_EXISTS}), None);
        }
        inner.items[idx].uses += 1;
        if let Some(u) = inner.uploads.get_mut(token) {
            u.consumed = true;
        }
        return (success(), Some(inner.items[idx].id.clone()));
    }
    let simple = item.simple_media_item.as_ref();
    let filename = simple
        .and_then(|s| s.file_name.clone())
        .or(upload.file_name.clone())
        .unwrap_or_default();
    let id = random_id();
    inner.items.push(ItemData {
        id: id.clone(),
        filename,
        description: item.description.clone().filter(|d| !d.is_empty()),
        detected,
        album_ids: Vec::new(),
        sha256: upload.sha256.clone(),
        size: upload.size,
        client_id: client.to_owned(),
        created: now,
        uses: 1,
    });
    let idx = inner.items.len() - 1;
    inner.item_by_sha.insert(upload.sha256, idx);
    inner.storage_used += upload.size;
    if let Some(u) = inner.uploads.get_mut(token) {
        u.consumed = true;
    }
    (success(), Some(id))
}

/// proto3 JSON omits `code` when it is 0 (OK).
fn success() -> Value {
    json!({"message": "Success"})
}

/// Validates `albumPosition` against the album.
pub(crate) fn placement(
    inner: &Inner,
    album_id: &str,
    pos: Option<&AlbumPosition>,
) -> ApiResult<Placement> {
    let Some(pos) = pos else {
        return Ok(Placement::Last);
    };
    let bad =
        |msg: &str, rule: String| Err(ApiError::invalid(msg.to_owned(), format!("{RULE}: {rule}")));
    let kind = pos
        .position
        .as_deref()
        .unwrap_or("POSITION_TYPE_UNSPECIFIED");
    if pos.relative_media_item_id.is_some() && kind != "AFTER_MEDIA_ITEM" {
        return bad(
            "relativeMediaItemId is only valid with AFTER_MEDIA_ITEM.",
            format!("albumPosition {kind} with relativeMediaItemId"),
        );
    }
    if pos.relative_enrichment_item_id.is_some() && kind != "AFTER_ENRICHMENT_ITEM" {
        return bad(
            "relativeEnrichmentItemId is only valid with AFTER_ENRICHMENT_ITEM.",
            format!("albumPosition {kind} with relativeEnrichmentItemId"),
        );
    }
    match kind {
        "POSITION_TYPE_UNSPECIFIED" | "LAST_IN_ALBUM" => Ok(Placement::Last),
        "FIRST_IN_ALBUM" => Ok(Placement::First),
        "AFTER_MEDIA_ITEM" => {
            let Some(rel) = &pos.relative_media_item_id else {
                return bad(
                    "relativeMediaItemId is required for AFTER_MEDIA_ITEM.",
                    "AFTER_MEDIA_ITEM without relativeMediaItemId".into(),
                );
            };
            let in_album = inner
                .album(album_id)
                .is_some_and(|a| a.item_ids.contains(rel));
            if !in_album {
                return bad(
                    MSG_INVALID_MEDIA_ITEM,
                    format!("relativeMediaItemId {rel:?} is not in album {album_id:?}"),
                );
            }
            Ok(Placement::After(rel.clone()))
        }
        "AFTER_ENRICHMENT_ITEM" => bad(
            "Request contains an invalid enrichment item id.",
            "AFTER_ENRICHMENT_ITEM names an enrichment that does not exist in the album".into(),
        ),
        other => bad(
            &format!("Invalid value at 'album_position.position', \"{other}\""),
            format!("albumPosition.position {other:?} is not a PositionType"),
        ),
    }
}

/// Adds `ids` (in order, skipping ones already present) to the album at `place`.
pub(crate) fn add_to_album(inner: &mut Inner, album_id: &str, ids: &[String], place: &Placement) {
    let Some(album) = inner.album_mut(album_id) else {
        return;
    };
    let mut fresh: Vec<String> = Vec::new();
    for id in ids {
        if !album.item_ids.contains(id) && !fresh.contains(id) {
            fresh.push(id.clone());
        }
    }
    let at = match place {
        Placement::First => 0,
        Placement::Last => album.item_ids.len(),
        Placement::After(rel) => album
            .item_ids
            .iter()
            .position(|i| i == rel)
            .map_or(album.item_ids.len(), |p| p + 1),
    };
    album.item_ids.splice(at..at, fresh.iter().cloned());
    for id in &fresh {
        if let Some(item) = inner.items.iter_mut().find(|i| &i.id == id) {
            item.album_ids.push(album_id.to_owned());
        }
    }
}
