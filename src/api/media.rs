//! `mediaItems:batchCreate` and `albums.create`.

use serde::{Deserialize, Serialize};

use super::{ApiClient, ApiError};

/// One item to create.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub upload_token: String,
    pub file_name: String,
}

/// Google's answer for one item.
#[derive(Debug, Clone)]
pub struct ItemResult {
    pub upload_token: String,
    /// gRPC code; 0 (omitted in the JSON) is success.
    pub code: i32,
    pub message: String,
    pub media_item_id: Option<String>,
    pub product_url: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchCreateRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    album_id: Option<&'a str>,
    new_media_items: Vec<NewMediaItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewMediaItem<'a> {
    simple_media_item: SimpleMediaItem<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SimpleMediaItem<'a> {
    upload_token: &'a str,
    file_name: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchCreateResponse {
    #[serde(default)]
    new_media_item_results: Vec<RawResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResult {
    #[serde(default)]
    upload_token: String,
    #[serde(default)]
    status: Option<RawStatus>,
    #[serde(default)]
    media_item: Option<RawMediaItem>,
}

/// A per-item `google.rpc.Status` (batchCreate and batchGet results).
#[derive(Deserialize)]
pub(super) struct RawStatus {
    // proto3 JSON omits a zero code: missing means OK.
    #[serde(default)]
    pub(super) code: i32,
    #[serde(default)]
    pub(super) message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMediaItem {
    id: String,
    #[serde(default)]
    product_url: Option<String>,
}

#[derive(Deserialize)]
struct Album {
    id: String,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlbumPage {
    #[serde(default)]
    albums: Vec<Album>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Google's limit on `fileName`.
const MAX_FILE_NAME_CHARS: usize = 255;

fn clip_file_name(name: &str) -> &str {
    match name.char_indices().nth(MAX_FILE_NAME_CHARS) {
        Some((cut, _)) => &name[..cut],
        None => name,
    }
}

impl ApiClient {
    /// Creates media items from upload tokens (at most 50), optionally in an album.
    pub async fn batch_create(
        &self,
        album_id: Option<&str>,
        items: &[NewItem],
    ) -> Result<Vec<ItemResult>, ApiError> {
        const OP: &str = "mediaItems:batchCreate";
        let request = BatchCreateRequest {
            album_id,
            new_media_items: items
                .iter()
                .map(|i| NewMediaItem {
                    simple_media_item: SimpleMediaItem {
                        upload_token: &i.upload_token,
                        file_name: clip_file_name(&i.file_name),
                    },
                })
                .collect(),
        };
        let url = self.url("/v1/mediaItems:batchCreate");
        let response = self
            .send_repeatable(OP, |_| self.http.post(&url).json(&request))
            .await?;
        let parsed: BatchCreateResponse =
            response.json().await.map_err(|e| ApiError::Protocol {
                op: OP,
                detail: e.without_url().to_string(),
            })?;
        Ok(parsed
            .new_media_item_results
            .into_iter()
            .map(|r| {
                let status = r.status.unwrap_or(RawStatus {
                    code: 0,
                    message: String::new(),
                });
                ItemResult {
                    upload_token: r.upload_token,
                    code: status.code,
                    message: status.message,
                    media_item_id: r.media_item.as_ref().map(|m| m.id.clone()),
                    product_url: r.media_item.and_then(|m| m.product_url),
                }
            })
            .collect())
    }

    /// The id of an album this app created with exactly `title`, if Google has one. Used
    /// before creating an album, so a crash between `albums.create` and recording its id
    /// does not leave two albums of the same name.
    pub async fn find_album(&self, title: &str) -> Result<Option<String>, ApiError> {
        const OP: &str = "albums.list";
        let url = self.url("/v1/albums");
        let mut page_token: Option<String> = None;
        loop {
            let token = page_token.clone();
            let response = self
                .send_repeatable(OP, |_| {
                    let mut r = self
                        .http
                        .get(&url)
                        .query(&[("pageSize", "50"), ("excludeNonAppCreatedData", "true")]);
                    if let Some(t) = &token {
                        r = r.query(&[("pageToken", t.as_str())]);
                    }
                    r
                })
                .await?;
            let page: AlbumPage = response.json().await.map_err(|e| ApiError::Protocol {
                op: OP,
                detail: e.without_url().to_string(),
            })?;
            if let Some(album) = page.albums.into_iter().find(|a| a.title == title) {
                return Ok(Some(album.id));
            }
            // Only the token says whether more pages exist; a page may even be empty.
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => return Ok(None),
            }
        }
    }

    /// Creates an album owned by this app; returns its id.
    pub async fn create_album(&self, title: &str) -> Result<String, ApiError> {
        const OP: &str = "albums.create";
        let url = self.url("/v1/albums");
        let body = serde_json::json!({ "album": { "title": title } });
        let response = self
            .send_repeatable(OP, |_| self.http.post(&url).json(&body))
            .await?;
        let album: Album = response.json().await.map_err(|e| ApiError::Protocol {
            op: OP,
            detail: e.without_url().to_string(),
        })?;
        Ok(album.id)
    }
}
