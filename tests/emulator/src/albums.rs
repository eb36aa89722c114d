//! Albums: `albums.create`, `list`, `get` and `batchAddMediaItems`, all limited to albums
//! the calling OAuth client created. `mediaItemsCount` is a string and, like every proto3
//! zero, omitted when 0 (clients must treat a missing count as 0).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::access::Need;
use crate::errors::{
    ApiError, ApiResult, MSG_INVALID_ALBUM, MSG_INVALID_MEDIA_ITEM, MSG_NO_ALBUM_PERMISSION,
    json_ok,
};
use crate::media::batch_create::{ALBUM_CAPACITY, Placement, add_to_album};
use crate::pagination::{page, page_size, parse_page_size, read_token};
use crate::server::Ctx;
use crate::store::{AlbumData, album_product_url, random_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    album: Option<NewAlbum>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewAlbum {
    title: Option<String>,
    /// Output-only fields Google ignores on input; accepted so a round-tripped album works.
    id: Option<String>,
    product_url: Option<String>,
    is_writeable: Option<bool>,
    media_items_count: Option<String>,
    cover_photo_base_url: Option<String>,
    cover_photo_media_item_id: Option<String>,
}

pub(crate) fn album_json(a: &AlbumData) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    m.insert("title".into(), json!(a.title));
    m.insert("productUrl".into(), json!(album_product_url(&a.id)));
    m.insert("isWriteable".into(), json!(true));
    if let Some(first) = a.item_ids.first() {
        m.insert(
            "mediaItemsCount".into(),
            json!(a.item_ids.len().to_string()),
        );
        m.insert(
            "coverPhotoBaseUrl".into(),
            json!(format!("https://lh3.googleusercontent.com/lr/{first}")),
        );
        m.insert("coverPhotoMediaItemId".into(), json!(first));
    }
    Value::Object(m)
}

pub(crate) async fn create(mut ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Append)?;
    ctx.take_write(ctx.shared.clock.now())?;
    let req: CreateRequest = ctx.read_json().await?;
    let Some(album) = req.album else {
        return Err(ApiError::invalid(
            "Request must contain an album.",
            "albums_create: body must be {\"album\":{\"title\":…}}",
        ));
    };
    let _ignored = (
        album.id,
        album.product_url,
        album.is_writeable,
        album.media_items_count,
        album.cover_photo_base_url,
        album.cover_photo_media_item_id,
    );
    let title = album.title.unwrap_or_default();
    if title.chars().count() > 500 {
        return Err(ApiError::invalid(
            "Album title must not be longer than 500 characters.",
            format!(
                "albums_create: title has {} characters; the limit is 500",
                title.chars().count()
            ),
        ));
    }
    let data = AlbumData {
        id: random_id(),
        title,
        item_ids: Vec::new(),
        client_id: principal.client_id,
    };
    let body = album_json(&data);
    ctx.shared.lock().albums.push(data);
    Ok(json_ok(&body))
}

pub(crate) async fn list(ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let what = "albums_list";
    let size = page_size(parse_page_size(ctx.query("pageSize"), what)?, 20, 50, what)?;
    if let Some(v) = ctx.query("excludeNonAppCreatedData")
        && v != "true"
        && v != "false"
    {
        return Err(ApiError::invalid(
            format!("Invalid value at 'exclude_non_app_created_data' (TYPE_BOOL), \"{v}\""),
            format!("{what}: excludeNonAppCreatedData {v:?} is not a boolean"),
        ));
    }
    let query = format!("albums|{}", principal.client_id);
    let offset = read_token(ctx.query("pageToken").as_deref(), &query, what)?;
    let inner = ctx.shared.lock();
    let mine: Vec<&AlbumData> = inner
        .albums
        .iter()
        .filter(|a| a.client_id == principal.client_id)
        .collect();
    let (albums, next) = page(&mine, offset, size, &query);
    let mut out = Map::new();
    if !albums.is_empty() {
        out.insert(
            "albums".into(),
            Value::Array(albums.iter().map(|a| album_json(a)).collect()),
        );
    }
    if let Some(t) = next {
        out.insert("nextPageToken".into(), json!(t));
    }
    Ok(json_ok(&Value::Object(out)))
}

pub(crate) async fn get(ctx: Ctx, id: &str) -> ApiResult {
    let principal = ctx.authorize(Need::Read)?;
    let inner = ctx.shared.lock();
    match inner.album(id) {
        Some(a) if a.client_id == principal.client_id => Ok(json_ok(&album_json(a))),
        None if inner.album_deleted_by(id) == Some(principal.client_id.as_str()) => Err(
            ApiError::google(axum::http::StatusCode::BAD_REQUEST, MSG_INVALID_ALBUM),
        ),
        _ => Err(ApiError::invalid(
            MSG_INVALID_ALBUM,
            format!("albums_get: {id:?} is not an album created by this OAuth client"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchAddRequest {
    media_item_ids: Option<Vec<String>>,
}

/// All-or-nothing: every id must be an item this client created.
pub(crate) async fn batch_add(mut ctx: Ctx, album_id: &str) -> ApiResult {
    let principal = ctx.authorize(Need::AppendOrEdit)?;
    ctx.take_write(ctx.shared.clock.now())?;
    let what = "albums_batch_add";
    let req: BatchAddRequest = ctx.read_json().await?;
    let ids = req.media_item_ids.unwrap_or_default();
    if ids.is_empty() || ids.len() > 50 {
        return Err(ApiError::invalid(
            "Request must have between 1 and 50 media item ids.",
            format!("{what}: {} mediaItemIds; 1 to 50 are allowed", ids.len()),
        ));
    }
    let mut inner = ctx.shared.lock();
    match inner.album(album_id) {
        Some(a) if a.client_id == principal.client_id => {}
        _ => {
            return Err(ApiError::invalid(
                MSG_NO_ALBUM_PERMISSION,
                format!("{what}: {album_id:?} is not an album created by this OAuth client"),
            ));
        }
    }
    for id in &ids {
        if inner
            .item(id)
            .is_none_or(|i| i.client_id != principal.client_id)
        {
            return Err(ApiError::invalid(
                MSG_INVALID_MEDIA_ITEM,
                format!("{what}: {id:?} is not a media item created by this OAuth client"),
            ));
        }
    }
    let current = inner
        .album(album_id)
        .map(|a| a.item_ids.clone())
        .unwrap_or_default();
    let mut adding: Vec<&String> = ids.iter().filter(|id| !current.contains(id)).collect();
    adding.dedup();
    if current.len() + adding.len() > ALBUM_CAPACITY {
        return Err(ApiError::invalid(
            "The album is full: an album can hold at most 20000 media items.",
            format!("{what}: album would pass 20000 items"),
        ));
    }
    add_to_album(&mut inner, album_id, &ids, &Placement::Last);
    Ok(json_ok(&json!({})))
}
