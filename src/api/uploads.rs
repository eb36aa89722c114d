//! `/v1/uploads`: raw uploads and the resumable (`X-Goog-Upload-*`) protocol.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

use super::{Activity, ApiClient, ApiError};

/// A started resumable session.
#[derive(Debug, Clone)]
pub struct SessionStart {
    pub url: String,
    pub granularity: u64,
}

/// What the server says about a session after an interruption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Resume at `received`.
    Active { received: u64 },
    /// Finished, but the token went with the lost response: start a new session.
    Final,
    /// Cancelled, expired or unknown: start a new session.
    Gone,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A file name for `X-Goog-Upload-File-Name`, when it can travel as a plain header. The
/// authoritative name goes in batchCreate's `fileName`, which takes any Unicode.
fn file_name_header(name: &str) -> Option<&str> {
    (!name.is_empty() && name.bytes().all(|b| (0x20..0x7f).contains(&b))).then_some(name)
}

async fn upload_token(op: &'static str, response: reqwest::Response) -> Result<String, ApiError> {
    let body = response
        .text()
        .await
        .map_err(|e| super::error::network(op, &e))?;
    let token = body.trim();
    if token.is_empty() {
        return Err(ApiError::Protocol {
            op,
            detail: "empty upload token".to_owned(),
        });
    }
    Ok(token.to_owned())
}

impl ApiClient {
    /// One raw POST with the whole file; returns the upload token. `activity` is the
    /// body's (see [`Activity`]).
    pub async fn upload_raw(
        &self,
        body: reqwest::Body,
        activity: &Activity,
        len: u64,
        mime: &str,
        file_name: &str,
    ) -> Result<String, ApiError> {
        const OP: &str = "raw upload";
        let mut request = self
            .uploads
            .post(self.url("/v1/uploads"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .header("X-Goog-Upload-Content-Type", mime)
            .header("X-Goog-Upload-Protocol", "raw")
            .body(body);
        if let Some(name) = file_name_header(file_name) {
            request = request.header("X-Goog-Upload-File-Name", name);
        }
        self.send_upload(OP, request, activity, |r| upload_token(OP, r))
            .await
    }

    /// Starts a resumable session for `len` bytes.
    pub async fn start_session(
        &self,
        len: u64,
        mime: &str,
        file_name: &str,
    ) -> Result<SessionStart, ApiError> {
        const OP: &str = "start resumable upload";
        let url = self.url("/v1/uploads");
        let response = self
            .send_repeatable(OP, |_| {
                let mut r = self
                    .http
                    .post(&url)
                    .header(CONTENT_LENGTH, 0)
                    .header("X-Goog-Upload-Command", "start")
                    .header("X-Goog-Upload-Content-Type", mime)
                    .header("X-Goog-Upload-Protocol", "resumable")
                    .header("X-Goog-Upload-Raw-Size", len);
                if let Some(name) = file_name_header(file_name) {
                    r = r.header("X-Goog-Upload-File-Name", name);
                }
                r
            })
            .await?;
        let headers = response.headers();
        let missing = |what: &str| ApiError::Protocol {
            op: OP,
            detail: format!("no {what} header in the answer"),
        };
        if !header(headers, "x-goog-upload-status")
            .is_some_and(|s| s.eq_ignore_ascii_case("active"))
        {
            return Err(missing("`X-Goog-Upload-Status: active`"));
        }
        let url = header(headers, "x-goog-upload-url")
            .ok_or_else(|| missing("X-Goog-Upload-URL"))?
            .to_owned();
        let granularity = header(headers, "x-goog-upload-chunk-granularity")
            .and_then(|g| g.parse().ok())
            .filter(|g| *g > 0)
            .unwrap_or(262_144);
        Ok(SessionStart { url, granularity })
    }

    /// Asks where an interrupted session stands.
    pub async fn query_session(&self, session_url: &str) -> Result<SessionState, ApiError> {
        const OP: &str = "query resumable upload";
        let result = self
            .send_repeatable(OP, |_| {
                self.http
                    .post(session_url)
                    .header(CONTENT_LENGTH, 0)
                    .header("X-Goog-Upload-Command", "query")
            })
            .await;
        let response = match result {
            Ok(r) => r,
            Err(ApiError::Google {
                status: 404 | 410, ..
            }) => return Ok(SessionState::Gone),
            Err(e) => return Err(e),
        };
        let headers = response.headers();
        let status = header(headers, "x-goog-upload-status")
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match status.as_str() {
            "active" => SessionState::Active {
                received: header(headers, "x-goog-upload-size-received")
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| ApiError::Protocol {
                        op: OP,
                        detail: "active session without X-Goog-Upload-Size-Received".to_owned(),
                    })?,
            },
            "final" => SessionState::Final,
            _ => SessionState::Gone,
        })
    }

    /// Sends `len` bytes at `offset`; with `finalize`, returns the upload token.
    /// `activity` is the body's (see [`Activity`]).
    pub async fn upload_chunk(
        &self,
        session_url: &str,
        offset: u64,
        body: reqwest::Body,
        activity: &Activity,
        len: u64,
        finalize: bool,
    ) -> Result<Option<String>, ApiError> {
        const OP: &str = "resumable upload";
        let command = match (finalize, len) {
            (true, 0) => "finalize",
            (true, _) => "upload, finalize",
            (false, _) => "upload",
        };
        let request = self
            .uploads
            .post(session_url)
            .header(CONTENT_LENGTH, len)
            .header("X-Goog-Upload-Command", command)
            .header("X-Goog-Upload-Offset", offset)
            .body(body);
        self.send_upload(OP, request, activity, move |response| async move {
            if finalize {
                upload_token(OP, response).await.map(Some)
            } else {
                Ok(None)
            }
        })
        .await
    }
}
