//! The baseline: the least a client must do to get the same files into the library, with
//! nothing of gphotosd's machinery (no database, no queue, no workers, no hashing, no
//! rate limiter, no retries).
//!
//! Serial, one file at a time: a photo is read whole and sent as one raw POST; a video
//! gets one resumable session (`start`, then a single `upload, finalize` request streaming
//! the file). Media items are created with `mediaItems:batchCreate` in calls of up to 50
//! upload tokens (Google's maximum), one after every 50 uploads and one for the rest. A
//! client that called batchCreate once per item would spend nearly twice the requests on
//! photos and run into Google's 30-writes-a-minute limit; batching at 50 is the fewest
//! requests any client can make, so the baseline's requests per item are the floor that
//! gphotosd is compared with.

use std::path::{Path, PathBuf};

use gphotosd::auth::ClientSecret;
use serde_json::{Value, json};

/// Google's per-call maximum for batchCreate.
const BATCH: usize = 50;

/// What the baseline needs to talk to the emulator.
pub struct Baseline {
    http: reqwest::Client,
    api: String,
    bearer: String,
}

impl Baseline {
    /// Exchanges the refresh token for an access token at the client's token endpoint.
    pub async fn connect(api: &str, client_json: &Path, refresh_token: &str) -> Baseline {
        let client = ClientSecret::load(client_json).expect("client JSON");
        let http = reqwest::Client::builder().build().expect("HTTP client");
        let answer: Value = http
            .post(&client.token_uri)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client.client_id.as_str()),
                ("client_secret", client.client_secret.as_str()),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("token endpoint")
            .json()
            .await
            .expect("token JSON");
        let token = answer["access_token"].as_str().expect("access_token");
        Baseline {
            http,
            api: api.trim_end_matches('/').to_owned(),
            bearer: format!("Bearer {token}"),
        }
    }

    /// Uploads `files` one after another and creates their media items; panics unless
    /// every item is created.
    pub async fn upload_all(&self, files: &[PathBuf], resumable: bool) {
        let mut pending: Vec<(String, String)> = Vec::with_capacity(BATCH);
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let token = if resumable {
                self.resumable(path, &name).await
            } else {
                self.raw(path, &name).await
            };
            pending.push((token, name));
            if pending.len() == BATCH {
                self.create(&pending).await;
                pending.clear();
            }
        }
        if !pending.is_empty() {
            self.create(&pending).await;
        }
    }

    async fn raw(&self, path: &Path, name: &str) -> String {
        let bytes = tokio::fs::read(path).await.expect("read photo");
        let response = self
            .http
            .post(format!("{}/v1/uploads", self.api))
            .header("Authorization", &self.bearer)
            .header("Content-Type", "application/octet-stream")
            .header("X-Goog-Upload-Content-Type", "image/jpeg")
            .header("X-Goog-Upload-Protocol", "raw")
            .header("X-Goog-Upload-File-Name", name)
            .body(bytes)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("raw upload");
        upload_token(response).await
    }

    async fn resumable(&self, path: &Path, name: &str) -> String {
        let file = tokio::fs::File::open(path).await.expect("open video");
        let len = file.metadata().await.expect("video size").len();
        let start = self
            .http
            .post(format!("{}/v1/uploads", self.api))
            .header("Authorization", &self.bearer)
            .header("Content-Length", 0)
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Content-Type", "video/mp4")
            .header("X-Goog-Upload-File-Name", name)
            .header("X-Goog-Upload-Protocol", "resumable")
            .header("X-Goog-Upload-Raw-Size", len)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("start session");
        let url = start
            .headers()
            .get("x-goog-upload-url")
            .and_then(|v| v.to_str().ok())
            .expect("session URL")
            .to_owned();
        // The same read size as gphotosd's body stream.
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        let response = self
            .http
            .post(url)
            .header("Authorization", &self.bearer)
            .header("Content-Length", len)
            .header("X-Goog-Upload-Command", "upload, finalize")
            .header("X-Goog-Upload-Offset", 0)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("upload, finalize");
        upload_token(response).await
    }

    async fn create(&self, items: &[(String, String)]) {
        let new_items: Vec<Value> = items
            .iter()
            .map(|(token, name)| {
                json!({"simpleMediaItem": {"uploadToken": token, "fileName": name}})
            })
            .collect();
        let answer: Value = self
            .http
            .post(format!("{}/v1/mediaItems:batchCreate", self.api))
            .header("Authorization", &self.bearer)
            .json(&json!({ "newMediaItems": new_items }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("batchCreate")
            .json()
            .await
            .expect("batchCreate JSON");
        let results = answer["newMediaItemResults"]
            .as_array()
            .expect("newMediaItemResults");
        assert_eq!(results.len(), items.len(), "one result per item");
        for r in results {
            assert!(
                r["status"]["code"].as_i64().unwrap_or(0) == 0 && r["mediaItem"]["id"].is_string(),
                "baseline item not created: {r}"
            );
        }
    }
}

async fn upload_token(response: reqwest::Response) -> String {
    let token = response.text().await.expect("upload token");
    assert!(!token.trim().is_empty(), "empty upload token");
    token.trim().to_owned()
}
