//! Deleting an item as a user would in the Google Photos app: reads answer as for an unknown
//! id (without blaming the client), the item leaves its albums and storage, and the same
//! bytes uploaded again become a new item.

use serde_json::{Value, json};

use crate::helpers::*;

/// Uploads `bytes` and creates one item (optionally in `album`); returns its id.
async fn create_one(fx: &Fx, bytes: Vec<u8>, name: &str, album: Option<&str>) -> String {
    let token = fx.upload(bytes, name).await;
    let v = fx.create(&[&token], album).await;
    v["newMediaItemResults"][0]["mediaItem"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn batch_get(fx: &Fx, ids: &[&str]) -> Vec<Value> {
    let query: Vec<String> = ids.iter().map(|id| format!("mediaItemIds={id}")).collect();
    let resp = fx
        .get_as(
            &fx.token,
            &format!("/v1/mediaItems:batchGet?{}", query.join("&")),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["mediaItemResults"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_deleted_item_reads_as_an_invalid_id_without_blaming_the_client() {
    let fx = fx().await;
    let kept = create_one(&fx, jpeg(300, 1), "kept.jpg", None).await;
    let gone = create_one(&fx, jpeg(300, 2), "gone.jpg", None).await;
    assert!(fx.emu.delete_item(&gone));

    let results = batch_get(&fx, &[&gone, &kept]).await;
    assert_eq!(
        results[0],
        json!({"status": {"code": 3, "message": "Invalid media item ID."}})
    );
    assert_eq!(results[1]["mediaItem"]["id"], json!(kept));

    let resp = fx
        .get_as(&fx.token, &format!("/v1/mediaItems/{gone}"))
        .await;
    assert_eq!(
        google_error(resp).await,
        (
            400,
            "INVALID_ARGUMENT".to_owned(),
            "Invalid media item ID.".to_owned()
        )
    );
    // Listing no longer shows it.
    let listed: Value = fx
        .get_as(&fx.token, "/v1/mediaItems")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["mediaItems"].as_array().unwrap().len(), 1);
    assert_eq!(listed["mediaItems"][0]["id"], json!(kept));

    let state = fx.state();
    assert_eq!(state.deleted_items, vec![gone.clone()]);
    assert!(state.items.iter().all(|i| i.id != gone));
    fx.assert_no_violations();
    assert!(!fx.emu.delete_item(&gone), "already deleted");
}

#[tokio::test]
async fn a_deleted_item_leaves_its_albums_and_frees_its_storage() {
    let fx = fx().await;
    let album = fx.create_album("Trip").await;
    let a = create_one(&fx, jpeg(1000, 1), "a.jpg", Some(&album)).await;
    let b = create_one(&fx, jpeg(3000, 2), "b.jpg", Some(&album)).await;
    assert_eq!(fx.state().storage_used, 4000);

    assert!(fx.emu.delete_item(&a));
    let state = fx.state();
    assert_eq!(state.storage_used, 3000);
    assert_eq!(state.albums[0].item_ids, vec![b.clone()]);
    let searched: Value = fx.search(json!({"albumId": album})).await;
    assert_eq!(searched["mediaItems"].as_array().unwrap().len(), 1);
    assert_eq!(searched["mediaItems"][0]["id"], json!(b));
    fx.assert_no_violations();
}

#[tokio::test]
async fn the_same_bytes_uploaded_after_deletion_become_a_new_item() {
    let fx = fx().await;
    let album = fx.create_album("Trip").await;
    let bytes = jpeg(500, 7);
    let first = create_one(&fx, bytes.clone(), "IMG_1.jpg", Some(&album)).await;
    // A token uploaded before the deletion resolves to a new item too.
    let early_token = fx.upload(bytes.clone(), "IMG_1.jpg").await;
    assert!(fx.emu.delete_item(&first));

    let second = create_one(&fx, bytes.clone(), "IMG_1.jpg", Some(&album)).await;
    assert_ne!(second, first, "a deleted item is no duplicate");
    let v = fx.create(&[&early_token], Some(&album)).await;
    assert_eq!(
        v["newMediaItemResults"][0]["mediaItem"]["id"],
        json!(second),
        "identical bytes still resolve to the one live item"
    );
    let state = fx.state();
    assert_eq!(state.items.len(), 1);
    assert_eq!(state.items[0].id, second);
    assert_eq!(state.items[0].upload_tokens_used, 2);
    assert_eq!(state.items[0].sha256, sha256_hex(&bytes));
    assert_eq!(state.albums[0].item_ids, vec![second.clone()]);
    assert_eq!(state.storage_used, 500);
    fx.assert_no_violations();
}

#[tokio::test]
async fn another_clients_deleted_item_is_still_a_foreign_id() {
    let fx = fx().await;
    let id = create_one(&fx, jpeg(300, 3), "x.jpg", None).await;
    assert!(fx.emu.delete_item(&id));
    let (other, _) = fx.emu.register_client();
    let theirs = fx
        .emu
        .grant_access_token_for(&other, &[gphotos_emulator::SCOPE_READONLY_APPCREATED]);
    let resp = fx.get_as(&theirs, &format!("/v1/mediaItems/{id}")).await;
    assert_eq!(resp.status(), 400);
    fx.assert_violation("not a media item created by this OAuth client");
}

#[tokio::test]
async fn the_control_api_deletes_items() {
    let fx = fx().await;
    let id = create_one(&fx, jpeg(300, 4), "x.jpg", None).await;
    let before = fx.state().api_requests_today;
    let url = fx.url(&format!("/__emulator/items/{id}"));
    let resp = fx.http.delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(fx.state().items.is_empty());
    assert_eq!(fx.state().deleted_items, vec![id]);
    let again = fx.http.delete(&url).send().await.unwrap();
    assert_eq!(again.status(), 404, "unknown or already deleted");
    assert_eq!(
        fx.state().api_requests_today,
        before,
        "control requests are not counted"
    );
}

#[tokio::test]
async fn a_deleted_album_keeps_its_items_and_refuses_new_ones_without_blame() {
    let fx = fx().await;
    let album = fx.create_album("Trip").await;
    let id = create_one(&fx, jpeg(300, 5), "a.jpg", Some(&album)).await;
    assert!(fx.emu.delete_album(&album));

    let state = fx.state();
    assert!(state.albums.is_empty());
    assert_eq!(state.deleted_albums, vec![album.clone()]);
    assert_eq!(state.items[0].id, id, "the item stays in the library");
    assert!(state.items[0].album_ids.is_empty());

    let token = fx.upload(jpeg(300, 6), "b.jpg").await;
    let resp = fx
        .batch_create(json!({
            "albumId": album,
            "newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]
        }))
        .await;
    assert_eq!(
        google_error(resp).await,
        (
            400,
            "INVALID_ARGUMENT".to_owned(),
            "No permission to add media items to this album.".to_owned()
        )
    );
    let resp = fx.get_as(&fx.token, &format!("/v1/albums/{album}")).await;
    assert_eq!(resp.status(), 400);
    fx.assert_no_violations();

    let url = fx.url(&format!("/__emulator/albums/{album}"));
    let again = fx.http.delete(&url).send().await.unwrap();
    assert_eq!(again.status(), 404, "already deleted");
    assert!(!fx.emu.delete_album(&album));
}
