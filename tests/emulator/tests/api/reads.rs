//! Reading app-created items: list, get, batchGet, search.

use gphotos_emulator::{SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED};
use serde_json::{Value, json};

use crate::helpers::*;

/// Uploads and creates `n` photos; returns their ids in creation order.
async fn photos(fx: &Fx, n: usize, seed: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let t = fx
            .upload(jpeg(300, seed + i as u64), &format!("p{i}.jpg"))
            .await;
        let v = fx.create(&[&t], None).await;
        ids.push(
            v["newMediaItemResults"][0]["mediaItem"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids
}

async fn list_all(fx: &Fx, page_size: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/v1/mediaItems?pageSize={page_size}");
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={t}"));
        }
        let resp = fx.get_as(&fx.token, &path).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        for m in v["mediaItems"].as_array().into_iter().flatten() {
            assert!(m["baseUrl"].is_string());
            ids.push(m["id"].as_str().unwrap().to_owned());
        }
        match v.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn list_pages_through_own_items_newest_first() {
    let fx = fx().await;
    let mut ids = photos(&fx, 5, 10).await;
    // Another client's item is invisible.
    let (other, _) = fx.emu.register_client();
    let their_token = fx.emu.grant_access_token_for(&other, &[SCOPE_APPENDONLY]);
    let t = fx
        .raw_upload_with(&their_token, jpeg(300, 99), "x.jpg")
        .await
        .text()
        .await
        .unwrap();
    fx.post_json_as(
        &their_token,
        "/v1/mediaItems:batchCreate",
        json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": t}}]}),
    )
    .await;
    ids.reverse();
    assert_eq!(list_all(&fx, 2).await, ids);
    assert_eq!(list_all(&fx, 100).await, ids);
    fx.assert_no_violations();
}

#[tokio::test]
async fn list_rejects_bad_page_sizes_and_foreign_page_tokens() {
    let fx = fx().await;
    photos(&fx, 3, 1).await;
    assert_eq!(
        fx.get_as(&fx.token, "/v1/mediaItems?pageSize=101")
            .await
            .status(),
        400
    );
    assert_eq!(
        fx.get_as(&fx.token, "/v1/mediaItems?pageSize=-1")
            .await
            .status(),
        400
    );
    assert_eq!(
        fx.get_as(&fx.token, "/v1/mediaItems?pageToken=garbage")
            .await
            .status(),
        400
    );
    // A token from albums.list does not work for mediaItems.list.
    for i in 0..2 {
        fx.create_album(&format!("a{i}")).await;
    }
    let v: Value = fx
        .get_as(&fx.token, "/v1/albums?pageSize=1")
        .await
        .json()
        .await
        .unwrap();
    let t = v["nextPageToken"].as_str().unwrap();
    let resp = fx
        .get_as(&fx.token, &format!("/v1/mediaItems?pageToken={t}"))
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(fx.violations().len(), 4);
}

#[tokio::test]
async fn reads_need_readonly_appcreateddata() {
    let fx = fx().await;
    let append_only = fx.emu.grant_access_token(&[SCOPE_APPENDONLY]);
    for path in ["/v1/mediaItems", "/v1/albums", "/v1/mediaItems/x"] {
        let resp = fx.get_as(&append_only, path).await;
        assert_eq!(resp.status(), 403, "{path}");
    }
    let search = fx
        .post_json_as(&append_only, "/v1/mediaItems:search", json!({}))
        .await;
    assert_eq!(search.status(), 403);
}

#[tokio::test]
async fn get_returns_own_items_and_rejects_others() {
    let fx = fx().await;
    let ids = photos(&fx, 1, 1).await;
    let v: Value = fx
        .get_as(&fx.token, &format!("/v1/mediaItems/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], json!(ids[0]));
    assert_eq!(v["filename"], "p0.jpg");
    let (other, _) = fx.emu.register_client();
    let theirs = fx
        .emu
        .grant_access_token_for(&other, &[SCOPE_READONLY_APPCREATED]);
    let resp = fx
        .get_as(&theirs, &format!("/v1/mediaItems/{}", ids[0]))
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn batch_get_keeps_request_order_with_per_item_status() {
    let fx = fx().await;
    let ids = photos(&fx, 2, 5).await;
    let path = format!(
        "/v1/mediaItems:batchGet?mediaItemIds={}&mediaItemIds=missing&mediaItemIds={}",
        ids[1], ids[0]
    );
    let v: Value = fx.get_as(&fx.token, &path).await.json().await.unwrap();
    let r = v["mediaItemResults"].as_array().unwrap();
    assert_eq!(r[0]["mediaItem"]["id"], json!(ids[1]));
    assert_eq!(r[1]["status"]["code"], 3);
    assert_eq!(r[2]["mediaItem"]["id"], json!(ids[0]));
    let dup = format!(
        "/v1/mediaItems:batchGet?mediaItemIds={0}&mediaItemIds={0}",
        ids[0]
    );
    assert_eq!(fx.get_as(&fx.token, &dup).await.status(), 400);
    assert_eq!(
        fx.get_as(&fx.token, "/v1/mediaItems:batchGet")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn search_by_album_follows_album_order_and_rejects_album_plus_filters() {
    let fx = fx().await;
    let album = fx.create_album("Trip").await;
    let a = fx.upload(jpeg(300, 1), "a.jpg").await;
    let b = fx.upload(mp4(3000, 2), "b.mp4").await;
    let v = fx.create(&[&a, &b], Some(&album)).await;
    let id = |i: usize| v["newMediaItemResults"][i]["mediaItem"]["id"].clone();
    let found: Value = fx.search(json!({"albumId": album})).await;
    assert_eq!(found["mediaItems"][0]["id"], id(0));
    assert_eq!(found["mediaItems"][1]["id"], id(1));
    let both = fx
        .post_json_as(
            &fx.token,
            "/v1/mediaItems:search",
            json!({"albumId": album, "filters": {"mediaTypeFilter": {"mediaTypes": ["PHOTO"]}}}),
        )
        .await;
    assert_eq!(both.status(), 400);
    let videos = fx
        .search(json!({"filters": {"mediaTypeFilter": {"mediaTypes": ["VIDEO"]}}}))
        .await;
    assert_eq!(videos["mediaItems"].as_array().unwrap().len(), 1);
    assert_eq!(videos["mediaItems"][0]["id"], id(1));
    assert!(videos["mediaItems"][0]["mediaMetadata"]["video"].is_object());
    let empty: Value = fx
        .search(json!({"filters": {"dateFilter": {"dates": [{"year": 1999}]}}}))
        .await;
    assert_eq!(empty, json!({}), "empty results omit mediaItems");
}
