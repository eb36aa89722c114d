//! Reading back what this app created: `mediaItems.get` and `mediaItems.batchGet`, the
//! questions `gphotosd verify` asks. Both need `photoslibrary.readonly.appcreateddata` and
//! only see items this OAuth client created.
//!
//! Google answers an id that no longer resolves (deleted in the app, or never this app's)
//! with `400 Invalid media item ID.` on `get`, and with that as a per-item status (code 3)
//! inside a `batchGet`; `NOT_FOUND` is accepted too. Both become [`Lookup::Gone`], so callers
//! never parse error text themselves.

use serde::{Deserialize, Deserializer};

use super::media::RawStatus;
use super::{ApiClient, ApiError};

/// Google's limit on ids per `batchGet` call.
pub const MAX_BATCH_GET: usize = 50;

/// A media item as Google describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaItem {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The item in the Google Photos app (needs the user's login).
    #[serde(default)]
    pub product_url: Option<String>,
    /// Short-lived URL of the bytes (about an hour); never stored.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub media_metadata: Option<MediaMetadata>,
}

/// What Google knows about the item's content.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaMetadata {
    /// RFC 3339.
    #[serde(default)]
    pub creation_time: Option<String>,
    /// Pixels. Google sends int64 fields as JSON strings.
    #[serde(default, deserialize_with = "int64")]
    pub width: Option<u64>,
    #[serde(default, deserialize_with = "int64")]
    pub height: Option<u64>,
}

/// Google's answer about one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The item exists.
    Found(MediaItem),
    /// The id no longer resolves: the user deleted the item (or it was never this app's).
    Gone { message: String },
    /// Google could not answer for this id (another per-item status).
    Failed { code: i32, message: String },
}

/// google.rpc codes that mean "no such item".
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_NOT_FOUND: i32 = 5;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetResponse {
    // Proto3 JSON leaves an empty list out entirely.
    #[serde(default)]
    media_item_results: Vec<BatchGetResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetResult {
    #[serde(default)]
    media_item: Option<MediaItem>,
    #[serde(default)]
    status: Option<RawStatus>,
}

/// An int64 that arrives as a JSON string (or, leniently, a number).
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn lookup(result: BatchGetResult) -> Lookup {
    match (result.media_item, result.status) {
        (Some(item), _) => Lookup::Found(item),
        (None, Some(s)) if s.code == CODE_INVALID_ARGUMENT || s.code == CODE_NOT_FOUND => {
            Lookup::Gone { message: s.message }
        }
        (None, Some(s)) => Lookup::Failed {
            code: s.code,
            message: s.message,
        },
        (None, None) => Lookup::Failed {
            code: 0,
            message: "Google's answer held neither the item nor a status".to_owned(),
        },
    }
}

impl ApiClient {
    /// `mediaItems.get`: one item by id.
    pub async fn get_media_item(&self, id: &str) -> Result<Lookup, ApiError> {
        const OP: &str = "mediaItems.get";
        let mut url =
            url::Url::parse(&self.url("/v1/mediaItems/")).map_err(|e| ApiError::Protocol {
                op: OP,
                detail: format!("the API URL is not usable: {e}"),
            })?;
        // The id becomes one escaped path segment whatever it holds.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(id);
        }
        match self
            .send_repeatable(OP, |_| self.http.get(url.clone()))
            .await
        {
            Ok(response) => {
                let item: MediaItem = response.json().await.map_err(|e| ApiError::Protocol {
                    op: OP,
                    detail: e.without_url().to_string(),
                })?;
                Ok(Lookup::Found(item))
            }
            Err(e) if e.is_invalid_media_item() => Ok(Lookup::Gone {
                message: match e {
                    ApiError::Google { message, .. } => message,
                    other => other.to_string(),
                },
            }),
            Err(e) => Err(e),
        }
    }

    /// `mediaItems.batchGet`: up to [`MAX_BATCH_GET`] distinct ids in one request; the
    /// answers come back in the order of `ids`.
    pub async fn batch_get_media_items(&self, ids: &[&str]) -> Result<Vec<Lookup>, ApiError> {
        const OP: &str = "mediaItems.batchGet";
        if ids.is_empty() || ids.len() > MAX_BATCH_GET {
            return Err(ApiError::Protocol {
                op: OP,
                detail: format!("{} ids asked for; 1 to {MAX_BATCH_GET} fit", ids.len()),
            });
        }
        let url = self.url("/v1/mediaItems:batchGet");
        let query: Vec<(&str, &str)> = ids.iter().map(|id| ("mediaItemIds", *id)).collect();
        let response = self
            .send_repeatable(OP, |_| self.http.get(&url).query(&query))
            .await?;
        let parsed: BatchGetResponse = response.json().await.map_err(|e| ApiError::Protocol {
            op: OP,
            detail: e.without_url().to_string(),
        })?;
        // Results pair with ids by position (documented order); a count that does not
        // match would pair them wrongly, so it is refused as a whole.
        if parsed.media_item_results.len() != ids.len() {
            return Err(ApiError::Protocol {
                op: OP,
                detail: format!(
                    "{} results for {} ids",
                    parsed.media_item_results.len(),
                    ids.len()
                ),
            });
        }
        Ok(parsed.media_item_results.into_iter().map(lookup).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_items_parse_with_string_dimensions() {
        let json = r#"{"mediaItemResults":[
            {"mediaItem":{"id":"A","productUrl":"https://photos.google.com/lr/photo/A",
             "baseUrl":"https://lh3.googleusercontent.com/lr/A","mimeType":"image/jpeg",
             "filename":"IMG_1.JPG","description":"Beach",
             "mediaMetadata":{"creationTime":"2026-07-01T10:00:00Z","width":"4032",
             "height":"3024","photo":{}}}},
            {"status":{"code":3,"message":"Invalid media item ID."}},
            {"status":{"code":13,"message":"Internal error."}},
            {"mediaItem":{"id":"B","mediaMetadata":{"creationTime":"2026-07-01T10:00:00Z",
             "video":{"status":"READY"}}}}
        ]}"#;
        let parsed: BatchGetResponse = serde_json::from_str(json).unwrap();
        let results: Vec<Lookup> = parsed.media_item_results.into_iter().map(lookup).collect();
        let Lookup::Found(a) = &results[0] else {
            panic!("{:?}", results[0]);
        };
        assert_eq!(a.filename.as_deref(), Some("IMG_1.JPG"));
        assert_eq!(a.description.as_deref(), Some("Beach"));
        assert_eq!(a.mime_type.as_deref(), Some("image/jpeg"));
        assert!(a.base_url.is_some() && a.product_url.is_some());
        let meta = a.media_metadata.as_ref().unwrap();
        assert_eq!((meta.width, meta.height), (Some(4032), Some(3024)));
        assert_eq!(meta.creation_time.as_deref(), Some("2026-07-01T10:00:00Z"));
        assert_eq!(
            results[1],
            Lookup::Gone {
                message: "Invalid media item ID.".into()
            }
        );
        assert!(matches!(results[2], Lookup::Failed { code: 13, .. }));
        let Lookup::Found(b) = &results[3] else {
            panic!("{:?}", results[3]);
        };
        let meta = b.media_metadata.as_ref().unwrap();
        assert_eq!(
            (meta.width, meta.height),
            (None, None),
            "videos may omit them"
        );
    }

    #[test]
    fn a_bad_dimension_is_refused_not_guessed() {
        let err = serde_json::from_str::<MediaMetadata>(r#"{"width":"wide"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid digit"), "{err}");
        let numeric: MediaMetadata = serde_json::from_str(r#"{"width":640}"#).unwrap();
        assert_eq!(numeric.width, Some(640));
    }
}
