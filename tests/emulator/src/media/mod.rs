//! Media items: creation ([`batch_create`]) and reading app-created items ([`read`]), plus
//! the JSON rendering both share. Rendering follows the discovery document: int64 fields
//! (`width`, `height`) are strings, `creationTime` is RFC 3339, absent values are omitted.

pub(crate) mod batch_create;
pub(crate) mod read;

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::store::{ItemData, item_product_url};

/// A `MediaItem` as Google returns it. `with_base_url` adds the (fake, unserved) `baseUrl`
/// that reads carry; batchCreate results omit it (whether Google includes it there is
/// unconfirmed and clients must not rely on it).
pub(crate) fn media_item_json(item: &ItemData, with_base_url: bool) -> Value {
    let mut meta = Map::new();
    meta.insert("creationTime".into(), json!(rfc3339(item.created)));
    if let (Some(w), Some(h)) = (item.detected.width, item.detected.height) {
        meta.insert("width".into(), json!(w.to_string()));
        meta.insert("height".into(), json!(h.to_string()));
    }
    if item.detected.video {
        meta.insert("video".into(), json!({"status": "READY"}));
    } else {
        meta.insert("photo".into(), json!({}));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(item.id));
    if let Some(d) = &item.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("productUrl".into(), json!(item_product_url(&item.id)));
    if with_base_url {
        m.insert(
            "baseUrl".into(),
            json!(format!("https://lh3.googleusercontent.com/lr/{}", item.id)),
        );
    }
    m.insert("mimeType".into(), json!(item.detected.mime));
    m.insert("mediaMetadata".into(), Value::Object(meta));
    m.insert("filename".into(), json!(item.filename));
    Value::Object(m)
}
