//! `/v1/uploads` authentication, scopes and the raw (simple) protocol.

use std::time::Duration;

use gphotos_emulator::{SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn upload_without_authorization_is_401_unauthenticated_and_a_violation() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.url("/v1/uploads"))
        .header("X-Goog-Upload-Protocol", "raw")
        .body(jpeg(100, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (code, status, message) = google_error(resp).await;
    assert_eq!((code, status.as_str()), (401, "UNAUTHENTICATED"));
    assert!(message.starts_with("Request had invalid authentication credentials."));
    fx.assert_violation("without an Authorization: Bearer header");
}

#[tokio::test]
async fn upload_with_a_made_up_token_is_401_and_a_violation() {
    let fx = fx().await;
    let resp = fx
        .raw_upload_with("ya29.invented", jpeg(100, 1), "a.jpg")
        .await;
    assert_eq!(resp.status(), 401);
    fx.assert_violation("never issued");
}

#[tokio::test]
async fn expired_access_token_is_401_but_not_a_violation() {
    let fx = fx().await;
    fx.emu.advance_clock(Duration::from_secs(3599));
    let resp = fx.raw_upload_with(&fx.token, jpeg(100, 1), "a.jpg").await;
    assert_eq!(resp.status(), 401);
    let (_, status, _) = google_error(resp).await;
    assert_eq!(status, "UNAUTHENTICATED");
    fx.assert_no_violations();
}

#[tokio::test]
async fn token_without_appendonly_gets_the_bare_code_16_body() {
    let fx = fx().await;
    let read_only = fx.emu.grant_access_token(&[SCOPE_READONLY_APPCREATED]);
    let resp = fx.raw_upload_with(&read_only, jpeg(100, 1), "a.jpg").await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 16, "message": "Authentication session is not defined."})
    );
    fx.assert_violation("lacks the scope");
}

#[tokio::test]
async fn removed_scopes_grant_nothing() {
    let fx = fx().await;
    let old = fx.emu.grant_access_token(&[
        "https://www.googleapis.com/auth/photoslibrary",
        "https://www.googleapis.com/auth/photoslibrary.readonly",
        "https://www.googleapis.com/auth/photoslibrary.sharing",
    ]);
    let up = fx.raw_upload_with(&old, jpeg(100, 1), "a.jpg").await;
    assert_eq!(up.status(), 401);
    let create = fx
        .post_json_as(
            &old,
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": []}),
        )
        .await;
    assert_eq!(create.status(), 403);
    let (_, status, message) = google_error(create).await;
    assert_eq!(status, "PERMISSION_DENIED");
    assert_eq!(message, "Request had insufficient authentication scopes.");
    let list = fx.get_as(&old, "/v1/mediaItems").await;
    assert_eq!(list.status(), 403);
}

#[tokio::test]
async fn missing_or_unknown_upload_protocol_is_400() {
    let fx = fx().await;
    for protocol in [None, Some("multipart")] {
        let mut req = fx
            .http
            .post(fx.url("/v1/uploads"))
            .bearer_auth(&fx.token)
            .header("Content-Type", "application/octet-stream")
            .body(jpeg(100, 1));
        if let Some(p) = protocol {
            req = req.header("X-Goog-Upload-Protocol", p);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 400);
    }
    assert_eq!(fx.violations().len(), 2);
    fx.assert_violation("X-Goog-Upload-Protocol");
}

#[tokio::test]
async fn zero_byte_raw_upload_is_400() {
    let fx = fx().await;
    let resp = fx.raw_upload_with(&fx.token, Vec::new(), "empty.jpg").await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("zero-byte body");
    assert!(fx.state().items.is_empty());
}

#[tokio::test]
async fn raw_upload_with_a_chunked_body_is_accepted_and_hashed() {
    let fx = fx().await;
    let bytes = jpeg(300_000, 9);
    let mut c = RawConn::open(&fx).await;
    c.head(
        &fx,
        "POST",
        "/v1/uploads",
        &[
            ("Content-Type", "application/octet-stream".into()),
            ("X-Goog-Upload-Protocol", "raw".into()),
            ("X-Goog-Upload-File-Name", "chunked.jpg".into()),
            ("Transfer-Encoding", "chunked".into()),
        ],
    )
    .await;
    for part in bytes.chunks(70_000) {
        c.chunk(part).await;
    }
    c.chunk(&[]).await;
    let (status, _, token) = c.read_response().await;
    assert_eq!(status, 200);
    fx.create(&[&token], None).await;
    let s = fx.state();
    assert_eq!(s.items[0].sha256, sha256_hex(&bytes));
    assert_eq!(s.items[0].filename, "chunked.jpg");
    fx.assert_no_violations();
}

#[tokio::test]
async fn raw_upload_above_50_mb_works_but_breaks_googles_guidance() {
    let fx = fx().await;
    let resp = fx
        .raw_upload_with(&fx.token, jpeg(50_000_001, 4), "huge.jpg")
        .await;
    assert_eq!(resp.status(), 200);
    fx.assert_violation("recommends resumable uploads above 50 MB");
}

#[tokio::test]
async fn raw_upload_without_octet_stream_content_type_is_flagged() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.url("/v1/uploads"))
        .bearer_auth(&fx.token)
        .header("X-Goog-Upload-Protocol", "raw")
        .header("Content-Type", "image/jpeg")
        .body(jpeg(100, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    fx.assert_violation("application/octet-stream");
}

#[tokio::test]
async fn upload_tokens_are_opaque_and_distinct_per_upload() {
    let fx = fx().await;
    let a = fx.upload(jpeg(100, 1), "a.jpg").await;
    let b = fx.upload(jpeg(100, 1), "a.jpg").await;
    assert_ne!(a, b);
    assert!(a.len() > 100 && a.starts_with("CAIS"));
    let _ = (SCOPE_APPENDONLY,);
}

#[tokio::test]
async fn a_rejected_large_upload_still_gets_its_error_response() {
    let fx = fx().await;
    fx.emu.advance_clock(Duration::from_secs(3600));
    // 30 MB with an expired token: the client must see the 401 (to refresh), not a reset.
    let resp = fx
        .raw_upload_with(&fx.token, jpeg(30_000_000, 5), "big.jpg")
        .await;
    assert_eq!(resp.status(), 401);
    assert!(
        fx.state().bytes_received >= 30_000_000,
        "body was read away"
    );
}
