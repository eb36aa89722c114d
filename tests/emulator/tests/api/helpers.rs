//! Fixtures: an emulator per test, a reqwest client, token shortcuts, sample media bytes,
//! a raw-TCP request writer (for chunked bodies and half-sent requests), and `wait_until`.

use std::time::{Duration, Instant};

use gphotos_emulator::{Config, Emulator, SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED, State};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Fx {
    pub emu: Emulator,
    pub http: Client,
    /// Access token with appendonly + readonly.appcreateddata.
    pub token: String,
}

pub async fn fx() -> Fx {
    fx_with(Config::default()).await
}

pub async fn fx_with(config: Config) -> Fx {
    let emu = Emulator::start(config).await.expect("start emulator");
    let token = emu.grant_access_token(&[SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED]);
    let http = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Fx { emu, http, token }
}

impl Fx {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    pub fn state(&self) -> State {
        self.emu.state()
    }

    /// Violations recorded so far, for a readable assertion.
    pub fn violations(&self) -> Vec<String> {
        self.emu.state().violations
    }

    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "unexpected violations: {v:#?}");
    }

    /// Asserts exactly one violation was recorded and that it mentions `needle`.
    pub fn assert_violation(&self, needle: &str) {
        let v = self.violations();
        assert!(
            v.iter().any(|s| s.contains(needle)),
            "no violation mentioning {needle:?} in {v:#?}"
        );
    }

    pub async fn raw_upload_with(&self, token: &str, bytes: Vec<u8>, name: &str) -> Response {
        self.http
            .post(self.url("/v1/uploads"))
            .bearer_auth(token)
            .header("Content-Type", "application/octet-stream")
            .header("X-Goog-Upload-Content-Type", "image/jpeg")
            .header("X-Goog-Upload-File-Name", name)
            .header("X-Goog-Upload-Protocol", "raw")
            .body(bytes)
            .send()
            .await
            .expect("send raw upload")
    }

    /// Raw upload that must succeed; returns the upload token.
    pub async fn upload(&self, bytes: Vec<u8>, name: &str) -> String {
        let resp = self.raw_upload_with(&self.token, bytes, name).await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }

    /// Starts a resumable session; returns the session URL.
    pub async fn start_session(&self, size: u64, name: &str) -> String {
        let resp = self
            .http
            .post(self.url("/v1/uploads"))
            .bearer_auth(&self.token)
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Content-Type", "image/jpeg")
            .header("X-Goog-Upload-File-Name", name)
            .header("X-Goog-Upload-Protocol", "resumable")
            .header("X-Goog-Upload-Raw-Size", size.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        header(&resp, "x-goog-upload-url")
    }

    /// Sends one chunk on a session URL.
    pub async fn chunk(&self, url: &str, command: &str, offset: u64, bytes: Vec<u8>) -> Response {
        self.chunk_result(url, command, offset, bytes)
            .await
            .unwrap()
    }

    /// Sends one chunk, keeping a transport error (a cut connection) for the caller.
    pub async fn chunk_result(
        &self,
        url: &str,
        command: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> reqwest::Result<Response> {
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .header("X-Goog-Upload-Command", command)
            .header("X-Goog-Upload-Offset", offset.to_string())
            .body(bytes)
            .send()
            .await
    }

    pub async fn command(&self, url: &str, command: &str) -> Response {
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", command)
            .send()
            .await
            .unwrap()
    }

    pub async fn batch_create(&self, body: Value) -> Response {
        self.post_json_as(&self.token, "/v1/mediaItems:batchCreate", body)
            .await
    }

    pub async fn post_json_as(&self, token: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `mediaItems:search` with the fixture's token; the answer must be JSON.
    pub async fn search(&self, body: Value) -> Value {
        self.post_json_as(&self.token, "/v1/mediaItems:search", body)
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates items for `tokens` (optionally into `album`) and returns the response JSON.
    pub async fn create(&self, tokens: &[&str], album: Option<&str>) -> Value {
        let items: Vec<Value> = tokens
            .iter()
            .map(|t| json!({"simpleMediaItem": {"uploadToken": t}}))
            .collect();
        let mut body = json!({ "newMediaItems": items });
        if let Some(a) = album {
            body["albumId"] = json!(a);
        }
        let resp = self.batch_create(body).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn create_album(&self, title: &str) -> String {
        let resp = self
            .post_json_as(
                &self.token,
                "/v1/albums",
                json!({"album": {"title": title}}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }
}

pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The JSON error envelope's `(code, status, message)`.
pub async fn google_error(resp: Response) -> (u16, String, String) {
    let ct = header(&resp, "content-type");
    assert_eq!(ct, "application/json; charset=UTF-8");
    let v: Value = resp.json().await.unwrap();
    let e = &v["error"];
    (
        e["code"].as_u64().unwrap() as u16,
        e["status"].as_str().unwrap().to_owned(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

/// A tiny but valid-looking JPEG of `len` bytes, unique per `seed`.
pub fn jpeg(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// An MP4-looking video of `len` bytes.
pub fn mp4(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    v.extend(jpeg(len.saturating_sub(v.len()), seed));
    v.truncate(len);
    v
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Raw HTTP/1.1 over TCP, for what reqwest will not do (cut a body, exact framing).
pub struct RawConn {
    pub stream: TcpStream,
}

impl RawConn {
    pub async fn open(fx: &Fx) -> RawConn {
        let addr = fx.emu.base_url().trim_start_matches("http://").to_owned();
        RawConn {
            stream: TcpStream::connect(addr).await.unwrap(),
        }
    }

    /// Opens a connection and sends the head of a session request with a chunked body;
    /// the test then writes chunks (and may cut the connection).
    pub async fn chunked_session_request(
        fx: &Fx,
        url: &str,
        command: &str,
        offset: u64,
    ) -> RawConn {
        let mut c = RawConn::open(fx).await;
        c.head(
            fx,
            "POST",
            &target_of(url),
            &[
                ("X-Goog-Upload-Command", command.into()),
                ("X-Goog-Upload-Offset", offset.to_string()),
                ("Transfer-Encoding", "chunked".into()),
            ],
        )
        .await;
        c
    }

    /// Writes a request head: `target` is path + query; `headers` are added verbatim.
    pub async fn head(&mut self, fx: &Fx, method: &str, target: &str, headers: &[(&str, String)]) {
        let host = fx.emu.base_url().trim_start_matches("http://").to_owned();
        let mut s = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n",
            fx.token
        );
        for (k, v) in headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str("\r\n");
        self.stream.write_all(s.as_bytes()).await.unwrap();
    }

    /// Writes one chunk of a `Transfer-Encoding: chunked` body (empty = the last chunk).
    pub async fn chunk(&mut self, data: &[u8]) {
        let mut s = format!("{:x}\r\n", data.len()).into_bytes();
        s.extend_from_slice(data);
        s.extend_from_slice(b"\r\n");
        self.stream.write_all(&s).await.unwrap();
    }

    pub async fn write(&mut self, data: &[u8]) {
        self.stream.write_all(data).await.unwrap();
    }

    /// Reads until the server closes; returns what arrived (empty = dropped with no answer).
    pub async fn read_to_close(&mut self) -> String {
        let mut buf = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(20), self.stream.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Reads one response head + body (Content-Length framed).
    pub async fn read_response(&mut self) -> (u16, String, String) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut tmp))
                .await
                .expect("response in time")
                .unwrap();
            assert!(
                n > 0,
                "connection closed before a full response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&tmp[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let head = text[..end].to_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let status = head[9..12].parse().unwrap();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    return (status, head, body);
                }
            }
        }
    }
}

/// The session URL's path + query (for raw requests).
pub fn target_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap())
}
