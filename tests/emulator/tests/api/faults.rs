//! Fault injection: statuses, quota bodies, cuts, lost responses, stalls, per-item statuses,
//! chaos. Injected faults never count as client violations.

use std::time::{Duration, Instant};

use gphotos_emulator::{Chaos, Endpoint, Fault, FaultAction};
use serde_json::{Value, json};

use crate::helpers::*;

const G: usize = 262_144;

#[tokio::test]
async fn status_fault_answers_googles_envelope_with_retry_after_then_expires() {
    let fx = fx().await;
    fx.emu.inject(
        Fault::new(
            Endpoint::RawUpload,
            FaultAction::Status {
                code: 503,
                retry_after: Some(7),
            },
        )
        .times(2),
    );
    for _ in 0..2 {
        let resp = fx.raw_upload_with(&fx.token, jpeg(100, 1), "a.jpg").await;
        assert_eq!(resp.status(), 503);
        assert_eq!(header(&resp, "retry-after"), "7");
        let (code, status, message) = google_error(resp).await;
        assert_eq!((code, status.as_str()), (503, "UNAVAILABLE"));
        assert_eq!(message, "The service is currently unavailable.");
    }
    assert_eq!(
        fx.raw_upload_with(&fx.token, jpeg(100, 1), "a.jpg")
            .await
            .status(),
        200
    );
    assert_eq!(fx.state().requests["raw_upload"], 3);
    fx.assert_no_violations();
}

#[tokio::test]
async fn quota_and_storage_faults_use_googles_bodies() {
    let fx = fx().await;
    fx.emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::DailyQuota));
    fx.emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::WriteQuota));
    fx.emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::StorageFull));
    let body = json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": "x"}}]});
    let a: Value = fx.batch_create(body.clone()).await.json().await.unwrap();
    assert_eq!(
        a["error"]["details"][0]["metadata"]["quota_limit"],
        "ApiCallsPerProjectPerDay"
    );
    let b: Value = fx.batch_create(body.clone()).await.json().await.unwrap();
    assert_eq!(
        b["error"]["details"][0]["metadata"]["quota_limit"],
        "WritesPerMinutePerUser"
    );
    let c = fx.batch_create(body).await;
    assert_eq!(c.status(), 400);
    let (_, _, message) = google_error(c).await;
    assert!(message.starts_with("The remaining storage"));
    fx.assert_no_violations();
}

#[tokio::test]
async fn cut_after_drops_the_connection_and_keeps_whole_granules() {
    let fx = fx().await;
    let bytes = jpeg(4 * G, 3);
    let url = fx.start_session(bytes.len() as u64, "a.jpg").await;
    fx.emu.inject(Fault::new(
        Endpoint::ResumableUpload,
        FaultAction::CutAfter((2 * G + 100) as u64),
    ));
    let err = fx
        .http
        .post(&url)
        .bearer_auth(&fx.token)
        .header("X-Goog-Upload-Command", "upload, finalize")
        .header("X-Goog-Upload-Offset", "0")
        .body(bytes.clone())
        .send()
        .await;
    assert!(err.is_err(), "no HTTP response at all: {err:?}");
    let s = fx.state();
    assert_eq!(s.sessions[0].received, 2 * G as u64);
    assert_eq!(s.sessions[0].status, "active");
    assert!(s.bytes_received >= (2 * G + 100) as u64);
    let resp = fx
        .chunk(
            &url,
            "upload, finalize",
            2 * G as u64,
            bytes[2 * G..].to_vec(),
        )
        .await;
    let token = resp.text().await.unwrap();
    fx.create(&[&token], None).await;
    assert_eq!(fx.state().items[0].sha256, sha256_hex(&bytes));
    fx.assert_no_violations();
}

#[tokio::test]
async fn cut_after_on_a_chunked_body_is_a_silent_close() {
    let fx = fx().await;
    let url = fx.start_session(3 * G as u64, "a.jpg").await;
    fx.emu.inject(Fault::new(
        Endpoint::ResumableFinalize,
        FaultAction::CutAfter(G as u64 + 1),
    ));
    let mut c = RawConn::chunked_session_request(&fx, &url, "upload,finalize", 0).await;
    c.chunk(&jpeg(2 * G, 1)).await;
    let answer = c.read_to_close().await;
    assert!(answer.is_empty(), "expected no response, got {answer:?}");
    assert_eq!(fx.state().sessions[0].received, G as u64);
}

#[tokio::test]
async fn cut_after_on_a_raw_upload_keeps_nothing() {
    let fx = fx().await;
    fx.emu
        .inject(Fault::new(Endpoint::RawUpload, FaultAction::CutAfter(1000)));
    let cut = fx
        .http
        .post(fx.url("/v1/uploads"))
        .bearer_auth(&fx.token)
        .header("Content-Type", "application/octet-stream")
        .header("X-Goog-Upload-Protocol", "raw")
        .body(jpeg(5000, 1))
        .send()
        .await;
    assert!(cut.is_err());
    assert_eq!(fx.state().bytes_received, 1000);
    fx.assert_no_violations();
}

#[tokio::test]
async fn cut_after_on_batch_create_creates_nothing() {
    let fx = fx().await;
    let t = fx.upload(jpeg(100, 1), "a.jpg").await;
    fx.emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::CutAfter(10)));
    let body = json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": t}}]});
    let cut = fx
        .http
        .post(fx.url("/v1/mediaItems:batchCreate"))
        .bearer_auth(&fx.token)
        .json(&body)
        .send()
        .await;
    assert!(cut.is_err());
    assert!(fx.state().items.is_empty());
    assert_eq!(
        fx.batch_create(body).await.status(),
        200,
        "token still valid"
    );
}

#[tokio::test]
async fn drop_response_on_finalize_does_the_work_and_loses_the_token() {
    let fx = fx().await;
    let url = fx.start_session(100, "a.jpg").await;
    fx.emu.inject(Fault::new(
        Endpoint::ResumableFinalize,
        FaultAction::DropResponse,
    ));
    let lost = fx
        .chunk_result(&url, "upload, finalize", 0, jpeg(100, 1))
        .await;
    assert!(lost.is_err());
    let q = fx.command(&url, "query").await;
    assert_eq!(header(&q, "x-goog-upload-status"), "final");
    assert!(q.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn drop_response_on_batch_create_still_creates_the_items() {
    let fx = fx().await;
    let t = fx.upload(jpeg(100, 1), "a.jpg").await;
    fx.emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::DropResponse));
    let lost = fx
        .http
        .post(fx.url("/v1/mediaItems:batchCreate"))
        .bearer_auth(&fx.token)
        .json(&json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": t}}]}))
        .send()
        .await;
    assert!(lost.is_err());
    assert_eq!(fx.state().items.len(), 1);
    // Retrying with the same (now consumed) token is refused; a new upload of the same
    // bytes resolves to the existing item.
    let again = fx.upload(jpeg(100, 1), "a.jpg").await;
    let v = fx.create(&[&again], None).await;
    assert_eq!(
        v["newMediaItemResults"][0]["mediaItem"]["id"],
        json!(fx.state().items[0].id)
    );
}

#[tokio::test]
async fn stall_delays_the_answer() {
    let fx = fx().await;
    fx.emu.inject(Fault::new(
        Endpoint::AlbumsList,
        FaultAction::Stall(Duration::from_millis(300)),
    ));
    let began = Instant::now();
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 200);
    assert!(began.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn item_status_counts_items_not_calls() {
    let fx = fx().await;
    fx.emu.inject(
        Fault::new(
            Endpoint::BatchCreate,
            FaultAction::ItemStatus {
                code: 13,
                message: "Failed: There was an error while trying to create this media item."
                    .into(),
            },
        )
        .times(2),
    );
    let mut tokens = Vec::new();
    for i in 0..3 {
        tokens.push(fx.upload(jpeg(100, i), &format!("{i}.jpg")).await);
    }
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let v = fx.create(&refs, None).await;
    let r = &v["newMediaItemResults"];
    assert_eq!(r[0]["status"]["code"], 13);
    assert_eq!(r[1]["status"]["code"], 13);
    assert_eq!(r[2]["status"], json!({"message": "Success"}));
    // Failed items did not consume their tokens.
    let v = fx.create(&refs[..2], None).await;
    assert_eq!(v["newMediaItemResults"][1]["status"]["message"], "Success");
    fx.assert_no_violations();
}

#[tokio::test]
async fn any_matches_every_endpoint_and_faults_can_be_cleared() {
    let fx = fx().await;
    fx.emu.inject(
        Fault::new(
            Endpoint::Any,
            FaultAction::Status {
                code: 500,
                retry_after: None,
            },
        )
        .times(100),
    );
    let resp = fx.get_as(&fx.token, "/v1/mediaItems").await;
    assert_eq!(resp.status(), 500);
    let (_, status, _) = google_error(resp).await;
    assert_eq!(status, "INTERNAL");
    fx.emu.clear_faults();
    assert_eq!(fx.get_as(&fx.token, "/v1/mediaItems").await.status(), 200);
}

#[tokio::test]
async fn seeded_chaos_is_reproducible() {
    async fn run(seed: u64) -> Vec<u16> {
        let fx = fx().await;
        fx.emu.set_chaos(Some(Chaos {
            seed,
            probability: 0.5,
            on: Endpoint::AlbumsList,
            actions: vec![FaultAction::Status {
                code: 503,
                retry_after: None,
            }],
        }));
        let mut codes = Vec::new();
        for _ in 0..20 {
            codes.push(fx.get_as(&fx.token, "/v1/albums").await.status().as_u16());
        }
        codes
    }
    let a = run(7).await;
    assert_eq!(a, run(7).await);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn faults_can_be_injected_over_the_control_api() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.url("/__emulator/faults"))
        .json(&json!({"on": "albums_list", "action": {"status": {"code": 429, "retry_after": 3}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = fx.get_as(&fx.token, "/v1/albums").await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "3");
}

#[tokio::test]
async fn expired_access_token_fault_ends_that_token_only() {
    let fx = fx().await;
    let other = fx
        .emu
        .grant_access_token(&[gphotos_emulator::SCOPE_APPENDONLY]);
    fx.emu.inject(Fault::new(
        Endpoint::BatchCreate,
        FaultAction::ExpireAccessToken,
    ));
    let body = json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": "x"}}]});
    let resp = fx.batch_create(body).await;
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").contains("invalid_token"));
    // The token stays expired for every endpoint; another token still works.
    let again = fx.raw_upload_with(&fx.token, jpeg(100, 2), "b.jpg").await;
    assert_eq!(again.status(), 401);
    let fresh = fx.raw_upload_with(&other, jpeg(100, 2), "b.jpg").await;
    assert_eq!(fresh.status(), 200);
    fx.assert_no_violations();
}
