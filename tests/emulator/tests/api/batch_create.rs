//! `mediaItems:batchCreate`: whole-call rules, per-item statuses, duplicates, albums.

use std::time::Duration;

use gphotos_emulator::{
    Config, Endpoint, Fault, FaultAction, SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED,
};
use serde_json::{Value, json};

use crate::helpers::*;

async fn tokens(fx: &Fx, n: usize) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(
            fx.upload(jpeg(200, 1000 + i as u64), &format!("IMG_{i:04}.JPG"))
                .await,
        );
    }
    v
}

fn items(tokens: &[String]) -> Value {
    Value::Array(
        tokens
            .iter()
            .map(|t| json!({"simpleMediaItem": {"uploadToken": t}}))
            .collect(),
    )
}

#[tokio::test]
async fn fifty_items_work_and_fifty_one_are_rejected_with_googles_message() {
    let fx = fx().await;
    let t = tokens(&fx, 51).await;
    let resp = fx.batch_create(json!({"newMediaItems": items(&t)})).await;
    assert_eq!(resp.status(), 400);
    let (_, status, message) = google_error(resp).await;
    assert_eq!(status, "INVALID_ARGUMENT");
    assert_eq!(message, "Request must have less than 50 items.");
    fx.assert_violation("51 items in one call");
    assert!(fx.state().items.is_empty());
    let v = fx
        .create(
            &t[..50].iter().map(String::as_str).collect::<Vec<_>>(),
            None,
        )
        .await;
    assert_eq!(v["newMediaItemResults"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn empty_or_missing_new_media_items_is_400() {
    let fx = fx().await;
    for body in [json!({}), json!({"newMediaItems": []})] {
        assert_eq!(fx.batch_create(body).await.status(), 400);
    }
    assert_eq!(fx.violations().len(), 2);
}

#[tokio::test]
async fn unknown_or_empty_upload_token_fails_the_whole_call() {
    let fx = fx().await;
    let good = fx.upload(jpeg(200, 1), "a.jpg").await;
    for bad in ["", "CAISnot-a-real-token"] {
        let resp = fx
            .batch_create(json!({"newMediaItems": items(&[good.clone(), bad.to_owned()])}))
            .await;
        assert_eq!(resp.status(), 400);
        let (_, _, message) = google_error(resp).await;
        assert_eq!(message, "Request must contain a valid upload token.");
    }
    assert!(
        fx.state().items.is_empty(),
        "nothing created by a failed call"
    );
    fx.assert_violation("newMediaItems[1] upload token");
}

#[tokio::test]
async fn upload_tokens_expire_after_a_day() {
    let fx = fx().await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    fx.emu.advance_clock(Duration::from_secs(24 * 3600));
    let token = fx.emu.grant_access_token(&[SCOPE_APPENDONLY]);
    let resp = fx
        .post_json_as(
            &token,
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": items(&[t])}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("has expired");
}

#[tokio::test]
async fn a_consumed_upload_token_cannot_be_used_again() {
    let fx = fx().await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    fx.create(&[&t], None).await;
    let resp = fx
        .batch_create(json!({"newMediaItems": items(std::slice::from_ref(&t))}))
        .await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("already used");
    // The same token twice in one call is the same mistake.
    let u = fx.upload(jpeg(200, 2), "b.jpg").await;
    let resp = fx
        .batch_create(json!({"newMediaItems": items(&[u.clone(), u])}))
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn token_reuse_can_be_allowed_and_resolves_to_the_same_item() {
    let fx = fx_with(Config {
        allow_token_reuse: true,
        ..Config::default()
    })
    .await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let a = fx.create(&[&t], None).await;
    let b = fx.create(&[&t], None).await;
    let id = |v: &Value| v["newMediaItemResults"][0]["mediaItem"]["id"].clone();
    assert_eq!(id(&a), id(&b));
    fx.assert_no_violations();
}

#[tokio::test]
async fn results_are_in_input_order_echo_tokens_and_success_has_no_code() {
    let fx = fx().await;
    let t = tokens(&fx, 5).await;
    let resp = fx.batch_create(json!({"newMediaItems": items(&t)})).await;
    assert_eq!(
        header(&resp, "content-type"),
        "application/json; charset=UTF-8"
    );
    let v: Value = resp.json().await.unwrap();
    let results = v["newMediaItemResults"].as_array().unwrap();
    for (r, token) in results.iter().zip(&t) {
        assert_eq!(r["uploadToken"], json!(token));
        assert_eq!(r["status"], json!({"message": "Success"}));
        assert!(r["status"].get("code").is_none());
        let m = &r["mediaItem"];
        assert!(
            m["productUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://photos.google.com/")
        );
        assert!(
            m["mediaMetadata"]["creationTime"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
}

#[tokio::test]
async fn bytes_that_are_not_a_photo_or_video_get_per_item_bad_image() {
    let fx = fx().await;
    let text = fx
        .upload(b"just some text, not a picture".to_vec(), "notes.jpg")
        .await;
    let lrv = fx.upload(mp4(5000, 1), "GL010001.LRV").await;
    let good = fx.upload(jpeg(200, 2), "a.jpg").await;
    let v = fx.create(&[&text, &lrv, &good], None).await;
    let r = &v["newMediaItemResults"];
    assert_eq!(
        r[0]["status"],
        json!({"code": 3, "message": "BAD_IMAGE: There was an error while trying to create this media item."})
    );
    assert!(r[0].get("mediaItem").is_none());
    // A GoPro .LRV is an MP4 by content, so it passes (documented).
    assert_eq!(r[1]["mediaItem"]["mimeType"], "video/mp4");
    assert_eq!(r[2]["status"]["message"], "Success");
    assert_eq!(fx.state().items.len(), 2);
    fx.assert_no_violations();
}

#[tokio::test]
async fn identical_bytes_resolve_to_the_same_item_and_keep_the_first_name() {
    let fx = fx().await;
    let bytes = jpeg(5000, 42);
    let a = fx.upload(bytes.clone(), "first.jpg").await;
    let b = fx.upload(bytes.clone(), "second.jpg").await;
    let va = fx.create(&[&a], None).await;
    let vb = fx.create(&[&b], None).await;
    let ia = &va["newMediaItemResults"][0]["mediaItem"];
    let ib = &vb["newMediaItemResults"][0]["mediaItem"];
    assert_eq!(ia["id"], ib["id"]);
    assert_eq!(ib["filename"], "first.jpg");
    let s = fx.state();
    assert_eq!(s.items.len(), 1);
    assert_eq!(s.items[0].upload_tokens_used, 2);
    assert_eq!(s.storage_used, 5000);
}

#[tokio::test]
async fn duplicate_videos_can_fail_with_exists() {
    let fx = fx_with(Config {
        video_duplicate_exists: true,
        ..Config::default()
    })
    .await;
    let a = fx.upload(mp4(5000, 3), "GX010001.MP4").await;
    let b = fx.upload(mp4(5000, 3), "copy.MP4").await;
    fx.create(&[&a], None).await;
    let v = fx.create(&[&b], None).await;
    assert_eq!(
        v["newMediaItemResults"][0]["status"],
        json!({"code": 6, "message": "EXISTS: There was an error while trying to create this media item."})
    );
}

#[tokio::test]
async fn description_of_1000_characters_and_file_name_over_255_are_rejected() {
    let fx = fx().await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let item = |desc: &str, name: &str| {
        json!({"newMediaItems": [{"description": desc,
            "simpleMediaItem": {"uploadToken": t, "fileName": name}}]})
    };
    let long_desc = "d".repeat(1000);
    assert_eq!(
        fx.batch_create(item(&long_desc, "a.jpg")).await.status(),
        400
    );
    fx.assert_violation("shorter than 1000");
    let long_name = format!("{}.jpg", "n".repeat(252));
    assert_eq!(fx.batch_create(item("ok", &long_name)).await.status(), 400);
    fx.assert_violation("the limit is 255");
    let v: Value = fx
        .batch_create(item(&"d".repeat(999), &"n".repeat(255)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["newMediaItemResults"][0]["mediaItem"]["filename"],
        "n".repeat(255)
    );
}

#[tokio::test]
async fn unknown_json_fields_are_rejected() {
    let fx = fx().await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let resp = fx
        .batch_create(
            json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": t, "filename": "x"}}]}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let (_, _, message) = google_error(resp).await;
    assert!(
        message.starts_with("Invalid JSON payload received."),
        "{message}"
    );
}

#[tokio::test]
async fn albums_of_another_client_are_off_limits() {
    let fx = fx().await;
    let (other, _) = fx.emu.register_client();
    let other_token = fx.emu.grant_access_token_for(&other, &[SCOPE_APPENDONLY]);
    let resp = fx
        .post_json_as(
            &other_token,
            "/v1/albums",
            json!({"album": {"title": "theirs"}}),
        )
        .await;
    let album: Value = resp.json().await.unwrap();
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let resp = fx
        .batch_create(json!({"albumId": album["id"], "newMediaItems": items(&[t])}))
        .await;
    assert_eq!(resp.status(), 400);
    let (_, _, message) = google_error(resp).await;
    assert_eq!(message, "No permission to add media items to this album.");
}

#[tokio::test]
async fn album_position_rules() {
    let fx = fx().await;
    let album = fx.create_album("Trip").await;
    let t = tokens(&fx, 4).await;
    // albumPosition without albumId.
    let resp = fx
        .batch_create(json!({"newMediaItems": items(&t[..1]),
            "albumPosition": {"position": "FIRST_IN_ALBUM"}}))
        .await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("albumPosition set without albumId");
    // AFTER_MEDIA_ITEM naming an item that is not in the album.
    let resp = fx
        .batch_create(json!({"albumId": album, "newMediaItems": items(&t[..1]),
            "albumPosition": {"position": "AFTER_MEDIA_ITEM", "relativeMediaItemId": "nope"}}))
        .await;
    assert_eq!(resp.status(), 400);
    // Default is last; FIRST_IN_ALBUM puts the batch in front, in order.
    let first = fx.create(&[&t[0], &t[1]], Some(&album)).await;
    let id = |v: &Value, i: usize| {
        v["newMediaItemResults"][i]["mediaItem"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let resp = fx
        .batch_create(json!({"albumId": album, "newMediaItems": items(&t[2..4]),
            "albumPosition": {"position": "FIRST_IN_ALBUM"}}))
        .await;
    let front: Value = resp.json().await.unwrap();
    let s = fx.state();
    assert_eq!(
        s.albums[0].item_ids,
        vec![id(&front, 0), id(&front, 1), id(&first, 0), id(&first, 1)]
    );
    assert_eq!(s.items[0].album_ids, vec![album]);
}

#[tokio::test]
async fn an_album_cannot_pass_20000_items() {
    let fx = fx().await;
    let album = fx.create_album("Full").await;
    fx.emu.pad_album(&album, 19_999);
    let t = tokens(&fx, 2).await;
    let resp = fx
        .batch_create(json!({"albumId": album, "newMediaItems": items(&t)}))
        .await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("would pass 20000");
    let v = fx.create(&[&t[0]], Some(&album)).await;
    assert_eq!(v["newMediaItemResults"][0]["status"]["message"], "Success");
}

#[tokio::test]
async fn storage_full_fails_the_whole_call_without_blaming_the_client() {
    let fx = fx().await;
    fx.emu.set_storage_limit(Some(1000));
    let t = fx.upload(jpeg(1001, 1), "a.jpg").await;
    let resp = fx
        .batch_create(json!({"newMediaItems": items(std::slice::from_ref(&t))}))
        .await;
    assert_eq!(resp.status(), 400);
    let (_, status, message) = google_error(resp).await;
    assert_eq!(status, "INVALID_ARGUMENT");
    assert_eq!(
        message,
        "The remaining storage in the user's account is not enough to perform this operation."
    );
    fx.assert_no_violations();
    fx.emu.set_storage_limit(None);
    fx.create(&[&t], None).await;
}

#[tokio::test]
async fn concurrent_batch_create_for_one_user_is_429_and_a_violation() {
    let fx = fx().await;
    fx.emu.inject(Fault::new(
        Endpoint::BatchCreate,
        FaultAction::Stall(Duration::from_secs(3)),
    ));
    let t = tokens(&fx, 2).await;
    let first = {
        let http = fx.http.clone();
        let url = fx.url("/v1/mediaItems:batchCreate");
        let token = fx.token.clone();
        let body = json!({"newMediaItems": items(&t[..1])});
        tokio::spawn(async move { http.post(url).bearer_auth(token).json(&body).send().await })
    };
    wait_until(Duration::from_secs(10), || {
        fx.state().requests.get("batch_create") == Some(&1)
    })
    .await;
    let second = fx
        .batch_create(json!({"newMediaItems": items(&t[1..])}))
        .await;
    assert_eq!(second.status(), 429);
    let (_, status, message) = google_error(second).await;
    assert_eq!(status, "RESOURCE_EXHAUSTED");
    assert!(message.contains("concurrent write request"));
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    fx.assert_violation("call batchCreate serially per user");
}

#[tokio::test]
async fn batch_create_needs_appendonly() {
    let fx = fx().await;
    let read_only = fx.emu.grant_access_token(&[SCOPE_READONLY_APPCREATED]);
    let resp = fx
        .post_json_as(
            &read_only,
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": []}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    fx.assert_violation("lacks the scope");
}

#[tokio::test]
async fn upload_tokens_of_another_client_are_invalid() {
    let fx = fx().await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let (other, _) = fx.emu.register_client();
    let other_token = fx.emu.grant_access_token_for(&other, &[SCOPE_APPENDONLY]);
    let resp = fx
        .post_json_as(
            &other_token,
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": items(&[t])}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("belongs to another OAuth client");
}
