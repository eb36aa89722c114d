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
use bytes::Bytes;
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
const PIPELINE_DEPTH: usize = 4;

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
        return read_frames(body, &mut Sink::Inline(h), shared, cut_after, limit).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let mut hashing = std::mem::replace(h, Hashing::fresh());
    let worker = tokio::task::spawn_blocking(move || {
        while let Some(b) = rx.blocking_recv() {
            hashing.feed(&b);
        }
        hashing
    });
    let mut sink = Sink::Pipe(tx);
    let result = read_frames(body, &mut sink, shared, cut_after, limit).await;
    drop(sink);
    match worker.await {
        Ok(done) => *h = done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    result
}

/// Where body bytes go: straight into the hasher, or to the hashing thread.
enum Sink<'a> {
    Inline(&'a mut Hashing),
    Pipe(tokio::sync::mpsc::Sender<Bytes>),
}

impl Sink<'_> {
    async fn put(&mut self, data: Bytes) {
        match self {
            Sink::Inline(h) => h.feed(&data),
            // The worker drains until the channel closes, so this cannot fail.
            Sink::Pipe(tx) => {
                let _ = tx.send(data).await;
            }
        }
    }
}

async fn read_frames(
    body: &mut Body,
    sink: &mut Sink<'_>,
    shared: &Shared,
    cut_after: Option<u64>,
    limit: u64,
) -> (End, u64) {
    let mut read = 0u64;
    loop {
        let frame = match body.frame().await {
            None => {
                let end = if cut_after.is_some() {
                    End::Cut
                } else {
                    End::Complete
                };
                return (end, read);
            }
            Some(Err(_)) => return (End::ClientGone, read),
            Some(Ok(frame)) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        let mut end = None;
        if let Some(cut) = cut_after
            && read + data.len() as u64 >= cut
        {
            data.truncate(usize::try_from(cut - read).unwrap_or(data.len()));
            end = Some(End::Cut);
        }
        let len = data.len() as u64;
        shared.add_bytes(len);
        if read + len > limit {
            return (End::TooLong, read + len);
        }
        read += len;
        sink.put(data).await;
        if let Some(end) = end {
            return (end, read);
        }
    }
}

/// How much of a rejected upload body is read and discarded so the client sees the error
/// response instead of a connection reset (closing a socket with unread data makes the
/// kernel send RST, which can destroy the response in flight). Beyond this, the connection
/// is simply closed.
const DRAIN_LIMIT: u64 = 512 * 1024 * 1024;

/// Reads and discards the rest of `body` (bounded by [`DRAIN_LIMIT`] and a timeout).
pub(crate) async fn drain(body: &mut Body, shared: &Shared) {
    let work = async {
        let mut read = 0u64;
        while read < DRAIN_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        read += data.len() as u64;
                        shared.add_bytes(data.len() as u64);
                    }
                }
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), work).await;
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
