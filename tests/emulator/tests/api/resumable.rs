//! The resumable protocol: session start, chunk rules, resume after a cut, final and
//! cancelled sessions, expiry.

use std::time::Duration;

use crate::helpers::*;

const G: usize = 262_144;

#[tokio::test]
async fn start_answers_with_session_url_granularity_status_and_upload_id() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.url("/v1/uploads"))
        .bearer_auth(&fx.token)
        .header("Content-Length", "0")
        .header("X-Goog-Upload-Command", "start")
        .header("X-Goog-Upload-Protocol", "resumable")
        .header("X-Goog-Upload-Raw-Size", "1234")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let url = header(&resp, "x-goog-upload-url");
    assert_eq!(header(&resp, "x-goog-upload-chunk-granularity"), "262144");
    assert_eq!(header(&resp, "x-goog-upload-status"), "active");
    let id = header(&resp, "x-guploader-uploadid");
    assert_eq!(
        url,
        format!(
            "{}/v1/uploads?upload_id={id}&upload_protocol=resumable",
            fx.emu.base_url()
        )
    );
    let s = fx.state();
    assert_eq!(s.sessions[0].raw_size, 1234);
    assert_eq!(s.sessions[0].status, "active");
    assert_eq!(s.requests["resumable_start"], 1);
}

#[tokio::test]
async fn start_without_a_positive_raw_size_is_400() {
    let fx = fx().await;
    for size in [None, Some("0"), Some("-5"), Some("12abc")] {
        let mut req = fx
            .http
            .post(fx.url("/v1/uploads"))
            .bearer_auth(&fx.token)
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Protocol", "resumable");
        if let Some(s) = size {
            req = req.header("X-Goog-Upload-Raw-Size", s);
        }
        assert_eq!(req.send().await.unwrap().status(), 400, "{size:?}");
    }
    assert_eq!(fx.violations().len(), 4);
    assert!(fx.state().sessions.is_empty());
}

#[tokio::test]
async fn start_with_a_body_is_400() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.url("/v1/uploads"))
        .bearer_auth(&fx.token)
        .header("X-Goog-Upload-Command", "start")
        .header("X-Goog-Upload-Protocol", "resumable")
        .header("X-Goog-Upload-Raw-Size", "10")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    fx.assert_violation("Content-Length: 0");
}

#[tokio::test]
async fn offset_not_equal_to_bytes_received_is_400_and_changes_nothing() {
    let fx = fx().await;
    let bytes = jpeg(2 * G, 1);
    let url = fx.start_session(bytes.len() as u64, "a.jpg").await;
    assert_eq!(
        fx.chunk(&url, "upload", 0, bytes[..G].to_vec())
            .await
            .status(),
        200
    );
    // Re-sending from 0, and jumping ahead, are both wrong.
    for offset in [0, 2 * G as u64] {
        let resp = fx
            .chunk(&url, "upload, finalize", offset, bytes[G..].to_vec())
            .await;
        assert_eq!(resp.status(), 400);
        assert_eq!(header(&resp, "x-goog-upload-status"), "active");
    }
    assert_eq!(fx.state().sessions[0].received, G as u64);
    fx.assert_violation("server holds 262144 bytes");
    // The right offset still works.
    let resp = fx
        .chunk(&url, "upload, finalize", G as u64, bytes[G..].to_vec())
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn upload_without_offset_header_is_400() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    let resp = fx
        .http
        .post(&url)
        .bearer_auth(&fx.token)
        .header("X-Goog-Upload-Command", "upload, finalize")
        .body(jpeg(10, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    fx.assert_violation("without X-Goog-Upload-Offset");
}

#[tokio::test]
async fn non_final_chunk_not_a_multiple_of_granularity_is_400() {
    let fx = fx().await;
    let url = fx.start_session(3 * G as u64, "a.jpg").await;
    let resp = fx.chunk(&url, "upload", 0, jpeg(G + 1, 1)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(fx.state().sessions[0].received, 0);
    fx.assert_violation("not a multiple of the granularity 262144");
}

#[tokio::test]
async fn misaligned_chunk_with_chunked_transfer_encoding_is_400_and_changes_nothing() {
    let fx = fx().await;
    let url = fx.start_session(3 * G as u64, "a.jpg").await;
    let mut c = RawConn::chunked_session_request(&fx, &url, "upload", 0).await;
    c.chunk(&jpeg(G, 1)).await;
    c.chunk(&[7u8; 10]).await;
    c.chunk(&[]).await;
    let (status, head, _) = c.read_response().await;
    assert_eq!(status, 400, "{head}");
    assert_eq!(fx.state().sessions[0].received, 0);
    fx.assert_violation("not a multiple of the granularity");
}

#[tokio::test]
async fn bytes_past_the_declared_raw_size_are_400() {
    let fx = fx().await;
    let url = fx.start_session(100, "a.jpg").await;
    let resp = fx.chunk(&url, "upload, finalize", 0, jpeg(101, 1)).await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("passes X-Goog-Upload-Raw-Size 100");
    // Same with a chunked body, where the size is only known while reading.
    let mut c = RawConn::chunked_session_request(&fx, &url, "upload, finalize", 0).await;
    c.chunk(&jpeg(60, 1)).await;
    c.chunk(&jpeg(60, 2)).await;
    c.chunk(&[]).await;
    let (status, _, _) = c.read_response().await;
    assert_eq!(status, 400);
    assert_eq!(fx.state().sessions[0].received, 0);
    assert_eq!(fx.violations().len(), 2);
}

#[tokio::test]
async fn finalize_before_all_bytes_arrived_is_400() {
    let fx = fx().await;
    let url = fx.start_session(2 * G as u64, "a.jpg").await;
    let resp = fx.chunk(&url, "upload, finalize", 0, jpeg(G, 1)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(fx.state().sessions[0].received, 0);
    fx.assert_violation("would end the file at 262144 bytes");
    let bare = fx.command(&url, "finalize").await;
    assert_eq!(bare.status(), 400);
}

#[tokio::test]
async fn bare_finalize_completes_a_fully_uploaded_session() {
    let fx = fx().await;
    let bytes = jpeg(2 * G, 5);
    let url = fx.start_session(bytes.len() as u64, "a.jpg").await;
    assert_eq!(
        fx.chunk(&url, "upload", 0, bytes.clone()).await.status(),
        200
    );
    let resp = fx.command(&url, "finalize").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-goog-upload-status"), "final");
    let token = resp.text().await.unwrap();
    fx.create(&[&token], None).await;
    assert_eq!(fx.state().items[0].sha256, sha256_hex(&bytes));
    fx.assert_no_violations();
}

#[tokio::test]
async fn final_session_rejects_uploads_and_query_says_final_without_a_token() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    assert_eq!(
        fx.chunk(&url, "upload, finalize", 0, jpeg(10, 1))
            .await
            .status(),
        200
    );
    let again = fx.chunk(&url, "upload, finalize", 0, jpeg(10, 1)).await;
    assert_eq!(again.status(), 400);
    assert_eq!(header(&again, "x-goog-upload-status"), "final");
    let q = fx.command(&url, "query").await;
    assert_eq!(q.status(), 200);
    assert_eq!(header(&q, "x-goog-upload-status"), "final");
    assert!(q.text().await.unwrap().is_empty(), "no token on query");
    fx.assert_violation("already final");
}

#[tokio::test]
async fn cancel_ends_the_session_and_later_uploads_are_rejected() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    let c = fx.command(&url, "cancel").await;
    assert_eq!(c.status(), 200);
    assert_eq!(header(&c, "x-goog-upload-status"), "cancelled");
    let up = fx.chunk(&url, "upload, finalize", 0, jpeg(10, 1)).await;
    assert_eq!(up.status(), 400);
    assert_eq!(header(&up, "x-goog-upload-status"), "cancelled");
    let q = fx.command(&url, "query").await;
    assert_eq!(header(&q, "x-goog-upload-status"), "cancelled");
    let s = fx.state();
    assert_eq!(s.sessions[0].status, "cancelled");
    assert_eq!(s.requests["cancel"], 1);
}

#[tokio::test]
async fn unknown_upload_id_is_404_and_a_violation() {
    let fx = fx().await;
    let url = format!(
        "{}/v1/uploads?upload_id=nope&upload_protocol=resumable",
        fx.emu.base_url()
    );
    let resp = fx.command(&url, "query").await;
    assert_eq!(resp.status(), 404);
    fx.assert_violation("never issued by a start command");
}

#[tokio::test]
async fn sessions_expire_after_seven_days() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    fx.emu.advance_clock(Duration::from_secs(7 * 24 * 3600));
    // The fixture's access token expired too; use a fresh one.
    let token = fx
        .emu
        .grant_access_token(&[gphotos_emulator::SCOPE_APPENDONLY]);
    let resp = fx
        .http
        .post(&url)
        .bearer_auth(token)
        .header("X-Goog-Upload-Command", "query")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    fx.assert_no_violations();
}

#[tokio::test]
async fn unknown_command_on_a_session_is_400() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    for cmd in ["start", "finalize, upload", "upload; finalize"] {
        assert_eq!(fx.command(&url, cmd).await.status(), 400, "{cmd}");
    }
    fx.assert_violation("on a session URL");
}

#[tokio::test]
async fn session_of_another_client_is_404() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    let (other, _) = fx.emu.register_client();
    let token = fx
        .emu
        .grant_access_token_for(&other, &[gphotos_emulator::SCOPE_APPENDONLY]);
    let resp = fx
        .http
        .post(&url)
        .bearer_auth(token)
        .header("X-Goog-Upload-Command", "query")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    fx.assert_violation("another OAuth client");
}

#[tokio::test]
async fn a_cut_connection_keeps_only_whole_granules_and_the_upload_resumes() {
    let fx = fx().await;
    let bytes = jpeg(5 * G + 1000, 77);
    let url = fx.start_session(bytes.len() as u64, "cut.jpg").await;
    let mut c = RawConn::open(&fx).await;
    c.head(
        &fx,
        "POST",
        &target_of(&url),
        &[
            ("X-Goog-Upload-Command", "upload, finalize".into()),
            ("X-Goog-Upload-Offset", "0".into()),
            ("Content-Length", bytes.len().to_string()),
        ],
    )
    .await;
    let sent = 2 * G + 5000;
    c.write(&bytes[..sent]).await;
    wait_until(Duration::from_secs(10), || {
        fx.state().bytes_received == sent as u64
    })
    .await;
    drop(c);
    wait_until(Duration::from_secs(10), || {
        fx.state().sessions[0].received == 2 * G as u64
    })
    .await;
    let q = fx.command(&url, "query").await;
    assert_eq!(header(&q, "x-goog-upload-status"), "active");
    let n: usize = header(&q, "x-goog-upload-size-received").parse().unwrap();
    assert_eq!(n, 2 * G);
    let resp = fx
        .chunk(&url, "upload, finalize", n as u64, bytes[n..].to_vec())
        .await;
    assert_eq!(resp.status(), 200);
    let token = resp.text().await.unwrap();
    fx.create(&[&token], None).await;
    assert_eq!(fx.state().items[0].sha256, sha256_hex(&bytes));
    fx.assert_no_violations();
}

#[tokio::test]
async fn upload_finalize_with_a_chunked_body_works() {
    let fx = fx().await;
    let bytes = jpeg(G + 777, 8);
    let url = fx.start_session(bytes.len() as u64, "te.jpg").await;
    let mut c = RawConn::chunked_session_request(&fx, &url, "upload, finalize", 0).await;
    for part in bytes.chunks(100_000) {
        c.chunk(part).await;
    }
    c.chunk(&[]).await;
    let (status, head, token) = c.read_response().await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-goog-upload-status: final")
    );
    fx.create(&[&token], None).await;
    assert_eq!(fx.state().items[0].sha256, sha256_hex(&bytes));
    fx.assert_no_violations();
}

#[tokio::test]
async fn session_requests_need_a_bearer_token() {
    let fx = fx().await;
    let url = fx.start_session(10, "a.jpg").await;
    let resp = fx
        .http
        .post(&url)
        .header("X-Goog-Upload-Command", "query")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    fx.assert_violation("Authorization");
}

#[tokio::test]
async fn a_large_chunk_at_the_wrong_offset_still_gets_the_400() {
    let fx = fx().await;
    let size = 40 * G;
    let url = fx.start_session(size as u64, "a.jpg").await;
    let resp = fx.chunk(&url, "upload, finalize", 5, jpeg(size, 1)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "x-goog-upload-status"), "active");
    assert_eq!(fx.state().sessions[0].received, 0);
}

#[tokio::test]
async fn two_requests_streaming_into_one_session_is_a_violation() {
    let fx = fx().await;
    let url = fx.start_session(4 * G as u64, "a.jpg").await;
    let mut c = RawConn::open(&fx).await;
    c.head(
        &fx,
        "POST",
        &target_of(&url),
        &[
            ("X-Goog-Upload-Command", "upload".into()),
            ("X-Goog-Upload-Offset", "0".into()),
            ("Content-Length", (2 * G).to_string()),
        ],
    )
    .await;
    c.write(&jpeg(G, 1)).await;
    wait_until(Duration::from_secs(10), || {
        fx.state().bytes_received == G as u64
    })
    .await;
    let second = fx.chunk(&url, "upload", 0, jpeg(G, 1)).await;
    assert_eq!(second.status(), 400);
    fx.assert_violation("still streaming");
    // The first request finishes normally.
    c.write(&jpeg(G, 2)).await;
    let (status, _, _) = c.read_response().await;
    assert_eq!(status, 200);
    assert_eq!(fx.state().sessions[0].received, 2 * G as u64);
}

#[tokio::test]
async fn query_right_after_a_client_abort_sees_the_settled_count() {
    let fx = fx().await;
    let bytes = jpeg(12 * G, 3);
    let url = fx.start_session(bytes.len() as u64, "a.jpg").await;
    let mut c = RawConn::chunked_session_request(&fx, &url, "upload, finalize", 0).await;
    c.chunk(&bytes[..10 * G + 3]).await;
    wait_until(Duration::from_secs(10), || {
        fx.state().bytes_received == (10 * G + 3) as u64
    })
    .await;
    drop(c);
    let q = fx.command(&url, "query").await;
    assert_eq!(
        header(&q, "x-goog-upload-size-received"),
        (10 * G).to_string()
    );
    let resp = fx
        .chunk(
            &url,
            "upload, finalize",
            10 * G as u64,
            bytes[10 * G..].to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    fx.assert_no_violations();
}
