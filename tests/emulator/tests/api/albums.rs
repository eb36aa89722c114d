//! Albums: create, list, get, batchAddMediaItems, and the removed sharing methods.

use gphotos_emulator::{SCOPE_APPENDONLY, SCOPE_EDIT_APPCREATED, SCOPE_READONLY_APPCREATED};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn create_returns_a_writeable_album_and_omits_a_zero_count() {
    let fx = fx().await;
    let resp = fx
        .post_json_as(
            &fx.token,
            "/v1/albums",
            json!({"album": {"title": "Holiday"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["title"], "Holiday");
    assert_eq!(v["isWriteable"], true);
    assert!(
        v["productUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://photos.google.com/lr/album/")
    );
    assert!(v.get("mediaItemsCount").is_none());
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    fx.create(&[&t], v["id"].as_str()).await;
    let got: Value = fx
        .get_as(
            &fx.token,
            &format!("/v1/albums/{}", v["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["mediaItemsCount"], "1", "int64 counts are strings");
    fx.assert_no_violations();
}

#[tokio::test]
async fn create_validates_body_and_title_and_needs_appendonly() {
    let fx = fx().await;
    let bad = [
        json!({"title": "no album wrapper"}),
        json!({}),
        json!({"album": {"title": "t".repeat(501)}}),
    ];
    for body in bad {
        assert_eq!(
            fx.post_json_as(&fx.token, "/v1/albums", body)
                .await
                .status(),
            400
        );
    }
    let read_only = fx.emu.grant_access_token(&[SCOPE_READONLY_APPCREATED]);
    let resp = fx
        .post_json_as(&read_only, "/v1/albums", json!({"album": {"title": "x"}}))
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.violations().len(), 4);
}

#[tokio::test]
async fn list_pages_through_own_albums_only() {
    let fx = fx().await;
    for i in 0..3 {
        fx.create_album(&format!("A{i}")).await;
    }
    let (other, _) = fx.emu.register_client();
    let other_token = fx.emu.grant_access_token_for(&other, &[SCOPE_APPENDONLY]);
    fx.post_json_as(
        &other_token,
        "/v1/albums",
        json!({"album": {"title": "theirs"}}),
    )
    .await;
    let mut titles = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut path = "/v1/albums?pageSize=2".to_owned();
        if let Some(t) = &page_token {
            path.push_str(&format!("&pageToken={t}"));
        }
        let v: Value = fx.get_as(&fx.token, &path).await.json().await.unwrap();
        for a in v["albums"].as_array().unwrap() {
            titles.push(a["title"].as_str().unwrap().to_owned());
        }
        match v.get("nextPageToken") {
            Some(t) => page_token = Some(t.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(titles, ["A0", "A1", "A2"]);
    fx.assert_no_violations();
}

#[tokio::test]
async fn list_page_size_above_50_is_400() {
    let fx = fx().await;
    assert_eq!(
        fx.get_as(&fx.token, "/v1/albums?pageSize=51")
            .await
            .status(),
        400
    );
    assert_eq!(
        fx.get_as(&fx.token, "/v1/albums?pageSize=50")
            .await
            .status(),
        200
    );
    fx.assert_violation("pageSize 51 outside 1..=50");
}

#[tokio::test]
async fn get_of_unknown_or_foreign_album_is_invalid_album_id() {
    let fx = fx().await;
    let (other, _) = fx.emu.register_client();
    let other_token = fx.emu.grant_access_token_for(&other, &[SCOPE_APPENDONLY]);
    let theirs: Value = fx
        .post_json_as(
            &other_token,
            "/v1/albums",
            json!({"album": {"title": "theirs"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    for id in ["nope", theirs["id"].as_str().unwrap()] {
        let resp = fx.get_as(&fx.token, &format!("/v1/albums/{id}")).await;
        assert_eq!(resp.status(), 400);
        let (_, _, message) = google_error(resp).await;
        assert_eq!(message, "Invalid album ID.");
    }
}

#[tokio::test]
async fn batch_add_is_all_or_nothing_for_own_items() {
    let fx = fx().await;
    let album = fx.create_album("Box").await;
    let t = fx.upload(jpeg(200, 1), "a.jpg").await;
    let v = fx.create(&[&t], None).await;
    let id = v["newMediaItemResults"][0]["mediaItem"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/albums/{album}:batchAddMediaItems");
    let resp = fx
        .post_json_as(&fx.token, &path, json!({"mediaItemIds": [id, "nope"]}))
        .await;
    assert_eq!(resp.status(), 400);
    let (_, _, message) = google_error(resp).await;
    assert_eq!(message, "Request contains an invalid media item id.");
    assert!(fx.state().albums[0].item_ids.is_empty());
    let edit = fx.emu.grant_access_token(&[SCOPE_EDIT_APPCREATED]);
    let resp = fx
        .post_json_as(&edit, &path, json!({"mediaItemIds": [id]}))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fx.state().albums[0].item_ids, vec![id]);
}

#[tokio::test]
async fn sharing_methods_are_gone() {
    let fx = fx().await;
    let album = fx.create_album("S").await;
    let share = fx
        .post_json_as(&fx.token, &format!("/v1/albums/{album}:share"), json!({}))
        .await;
    assert_eq!(share.status(), 403);
    let (_, status, _) = google_error(share).await;
    assert_eq!(status, "PERMISSION_DENIED");
    assert_eq!(fx.get_as(&fx.token, "/v1/sharedAlbums").await.status(), 403);
    fx.assert_violation("sharing methods were removed");
    assert_eq!(fx.state().requests["shared_albums"], 2);
}

#[tokio::test]
async fn unknown_library_paths_are_404_and_a_violation() {
    let fx = fx().await;
    assert_eq!(
        fx.get_as(&fx.token, "/v1/mediaItems:frobnicate")
            .await
            .status(),
        404
    );
    fx.assert_violation("not a Photos Library API v1 method");
}
