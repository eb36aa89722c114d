//! `/v1/uploads`: raw uploads ([`raw`]), session start ([`start`]) and session-URL requests
//! ([`session`]). The shared machinery here streams a request body into a SHA-256 without
//! ever holding it: [`Hashing`] feeds each frame straight into the hasher and snapshots the
//! hasher state (a few hundred bytes) at every granularity boundary, so a cut request can be
//! rolled back to "bytes up to the last boundary" with no tail buffer at all.

pub(crate) mod raw;
pub(crate) mod session;
pub(crate) mod start;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::magic::{self, HEAD_LEN};
use crate::store::{Shared, Upload, random_token};

/// Running hash of one upload plus the state at the last granularity boundary.
pub(crate) struct Hashing {
    pub hasher: Sha256,
    /// Absolute byte count (bytes of the file so far, not of this request).
    pub count: u64,
    /// Hasher and count at the last boundary reached.
    pub checkpoint: (Sha256, u64),
    /// The file's first [`HEAD_LEN`] bytes.
    pub head: Vec<u8>,
    granularity: u64,
}

impl Hashing {
    /// A raw upload: nothing is ever kept partially, so no checkpoints.
    pub(crate) fn fresh() -> Hashing {
        Hashing::resume(Sha256::new(), 0, Vec::new(), u64::MAX)
    }

    /// Continues a session from its committed state.
    pub(crate) fn resume(hasher: Sha256, count: u64, head: Vec<u8>, granularity: u64) -> Hashing {
        Hashing {
            checkpoint: (hasher.clone(), count),
            hasher,
            count,
            head,
            granularity: granularity.max(1),
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        if self.head.len() < HEAD_LEN && (self.head.len() as u64) == self.count {
            let take = (HEAD_LEN - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        while !data.is_empty() {
            let to_boundary = self.granularity - self.count % self.granularity;
            if (data.len() as u64) < to_boundary {
                self.hasher.update(data);
                self.count += data.len() as u64;
                return;
            }
            let (now, rest) = data.split_at(to_boundary as usize);
            self.hasher.update(now);
            self.count += to_boundary;
            self.checkpoint = (self.hasher.clone(), self.count);
            data = rest;
        }
    }

    /// The head truncated to `count` bytes (after rolling back to a checkpoint).
    pub(crate) fn head_up_to(&self, count: u64) -> Vec<u8> {
        let n = usize::try_from(count)
            .unwrap_or(usize::MAX)
            .min(self.head.len());
        self.head[..n].to_vec()
    }
}

/// How reading a body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The whole body arrived.
    Complete,
    /// The client went away (connection closed or reset mid-body).
    ClientGone,
    /// An injected `CutAfter` fired.
    Cut,
    /// More bytes than allowed arrived (past the declared raw size).
    TooLong,
}

/// Bodies at least this large (or of unknown length) are hashed on a blocking thread while
/// the connection task keeps reading, so receiving and hashing overlap. Smaller ones are
/// hashed inline, which is cheaper than a thread hop.
const PIPELINE_FROM: u64 = 4 * 1024 * 1024;

/// Frames in flight between the reader and the hashing thread (each at most hyper's read
/// buffer, ~400 KiB), which bounds memory whatever the upload size.
const PIPELINE_DEPTH: usize = 8;

/// Streams `body` into `h`; returns how it ended and the bytes this request carried.
/// `declared` is the request's Content-Length, if any.
pub(crate) async fn pump(
    body: &mut Body,
    h: &mut Hashing,
    shared: &Shared,
    cut_after: Option<u64>,
    limit: u64,
    declared: Option<u64>,
) -> (End, u64) {
    if cut_after == Some(0) {
        return (End::Cut, 0);
    }
    if declared.is_some_and(|n| n < PIPELINE_FROM) {
        return read_frames(body, shared, cut_after, limit, |b| h.feed(&b)).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let mut hashing = std::mem::replace(h, Hashing::fresh());
    let worker = tokio::task::spawn_blocking(move || {
        while let Some(b) = rx.blocking_recv() {
            hashing.feed(&b);
        }
        hashing
    });
    let mut tx = Some(tx);
    let (end, n) = read_frames(body, shared, cut_after, limit, |b| {
        // The worker only stops when the channel closes, so a send cannot fail early;
        // if it somehow did, later bytes are dropped and the count shows it.
        if let Some(sender) = &tx
            && sender.blocking_send_or_queue(b).is_err()
        {
            tx = None;
        }
    })
    .await;
    drop(tx);
    match worker.await {
        Ok(done) => *h = done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    (end, n)
}
/// Turns finished bytes into an upload token.
pub(crate) fn issue_token(
    shared: &Shared,
    client_id: &str,
    h: &Hashing,
    file_name: Option<String>,
) -> String {
    let digest = h.hasher.clone().finalize();
    let sha256 = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let token = random_token("CAIS", 150);
    let upload = Upload {
        client_id: client_id.to_owned(),
        sha256,
        size: h.count,
        detected: magic::sniff(&h.head),
        file_name,
        created: shared.clock.now(),
        consumed: false,
    };
    shared.lock().uploads.insert(token.clone(), upload);
    token
}

/// 200 whose body is the raw upload token.
pub(crate) fn token_response(token: String, status_header: Option<&'static str>) -> Response {
    let mut resp = (StatusCode::OK, token).into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    if let Some(status) = status_header {
        resp.headers_mut()
            .insert("x-goog-upload-status", HeaderValue::from_static(status));
    }
    resp
}

/// Parses a decimal header value.
pub(crate) fn parse_u64(value: Option<&str>) -> Option<u64> {
    let v = value?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// An upload id in the style of Google's upload servers.
pub(crate) fn new_upload_id() -> String {
    random_token("AEnB2U", 90)
}
