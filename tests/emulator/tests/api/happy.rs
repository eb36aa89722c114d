//! Happy paths: what a correct client does, with no violations recorded.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn raw_upload_then_batch_create_creates_item_with_sha_of_bytes() {
    let fx = fx().await;
    let bytes = jpeg(10_000, 1);
    let token = fx.upload(bytes.clone(), "IMG_0001.JPG").await;
    assert!(token.starts_with("CAIS"), "{token}");
    let v = fx.create(&[&token], None).await;
    let r = &v["newMediaItemResults"][0];
    assert_eq!(r["uploadToken"], json!(token));
    assert_eq!(r["status"], json!({"message": "Success"}));
    assert_eq!(r["mediaItem"]["filename"], "IMG_0001.JPG");
    assert_eq!(r["mediaItem"]["mimeType"], "image/jpeg");
    let s = fx.state();
    assert_eq!(s.items.len(), 1);
    assert_eq!(s.items[0].sha256, sha256_hex(&bytes));
    assert_eq!(s.items[0].size, 10_000);
    assert_eq!(s.items[0].id, r["mediaItem"]["id"].as_str().unwrap());
    assert_eq!(s.requests["raw_upload"], 1);
    assert_eq!(s.requests["batch_create"], 1);
    assert_eq!(s.bytes_received, 10_000);
    fx.assert_no_violations();
}

#[tokio::test]
async fn resumable_single_request_upload_finalize() {
    let fx = fx().await;
    let bytes = jpeg(1_000_000, 2);
    let url = fx.start_session(bytes.len() as u64, "big.jpg").await;
    assert!(url.starts_with(&fx.emu.base_url()));
    assert!(url.contains("upload_id=") && url.ends_with("&upload_protocol=resumable"));
    let resp = fx.chunk(&url, "upload, finalize", 0, bytes.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-goog-upload-status"), "final");
    let token = resp.text().await.unwrap();
    let v = fx.create(&[&token], None).await;
    assert_eq!(
        v["newMediaItemResults"][0]["mediaItem"]["filename"],
        "big.jpg"
    );
    let s = fx.state();
    assert_eq!(s.items[0].sha256, sha256_hex(&bytes));
    assert_eq!(s.sessions[0].status, "final");
    assert_eq!(s.sessions[0].received, 1_000_000);
    fx.assert_no_violations();
}

#[tokio::test]
async fn resumable_in_granularity_aligned_chunks_without_space_in_command() {
    let fx = fx().await;
    let g = 262_144usize;
    let bytes = jpeg(3 * g + 12_345, 3);
    let url = fx.start_session(bytes.len() as u64, "chunks.jpg").await;
    for i in 0..3 {
        let part = bytes[i * g..(i + 1) * g].to_vec();
        let resp = fx.chunk(&url, "upload", (i * g) as u64, part).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-goog-upload-status"), "active");
        let q = fx.command(&url, "query").await;
        assert_eq!(
            header(&q, "x-goog-upload-size-received"),
            ((i + 1) * g).to_string()
        );
    }
    let resp = fx
        .chunk(
            &url,
            "upload,finalize",
            (3 * g) as u64,
            bytes[3 * g..].to_vec(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let token = resp.text().await.unwrap();
    fx.create(&[&token], None).await;
    assert_eq!(fx.state().items[0].sha256, sha256_hex(&bytes));
    fx.assert_no_violations();
}

#[tokio::test]
async fn every_response_has_an_imf_fixdate_date_header() {
    let fx = fx().await;
    let ok = fx.get_as(&fx.token, "/v1/albums").await;
    let err = fx.get_as("nope", "/v1/albums").await;
    for resp in [ok, err] {
        let date = header(&resp, "date");
        assert!(date.ends_with(" GMT"), "{date}");
        httpdate::parse_http_date(&date).expect("IMF-fixdate");
    }
}
