//! The daily request quota (per project, reset at midnight Pacific) and the per-user write
//! rate.

use std::time::Duration;

use gphotos_emulator::Config;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn every_library_request_counts_and_the_next_gets_the_daily_quota_body() {
    let fx = fx_with(Config {
        daily_quota: 4,
        ..Config::default()
    })
    .await;
    // Start, chunk, query: three requests; plus one read = 4.
    let url = fx.start_session(10, "a.jpg").await;
    assert_eq!(fx.chunk(&url, "upload", 0, Vec::new()).await.status(), 200);
    assert_eq!(fx.command(&url, "query").await.status(), 200);
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 200);
    assert_eq!(fx.state().api_requests_today, 4);
    let resp = fx.get_as(&fx.token, "/v1/albums").await;
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'All requests' and limit 'All requests per day'")
    );
    let meta = &v["error"]["details"][0]["metadata"];
    assert_eq!(meta["quota_limit"], "ApiCallsPerProjectPerDay");
    assert_eq!(meta["quota_limit_value"], "4");
    // The first 429 is news; hammering on is the client's mistake.
    fx.assert_no_violations();
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 429);
    fx.assert_violation("after the daily quota was reported exhausted");
}

#[tokio::test]
async fn the_daily_counter_resets_at_pacific_midnight() {
    let fx = fx_with(Config {
        daily_quota: 1,
        ..Config::default()
    })
    .await;
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 200);
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 429);
    fx.emu.advance_clock(Duration::from_secs(24 * 3600));
    let token = fx
        .emu
        .grant_access_token(&[gphotos_emulator::SCOPE_READONLY_APPCREATED]);
    assert_eq!(fx.get_as(&token, "/v1/albums").await.status(), 200);
    assert_eq!(fx.state().api_requests_today, 1);
}

#[tokio::test]
async fn oauth_requests_do_not_count_toward_the_library_quota() {
    let fx = fx().await;
    let resp = fx
        .http
        .post(fx.emu.token_uri())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(fx.state().api_requests_today, 0);
}

#[tokio::test]
async fn writes_are_limited_per_minute() {
    let fx = fx_with(Config {
        writes_per_minute: 2,
        ..Config::default()
    })
    .await;
    fx.create_album("a").await;
    fx.create_album("b").await;
    let resp = fx
        .post_json_as(&fx.token, "/v1/albums", json!({"album": {"title": "c"}}))
        .await;
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["details"][0]["metadata"]["quota_limit"],
        "WritesPerMinutePerUser"
    );
    assert_eq!(
        v["error"]["details"][0]["metadata"]["quota_limit_value"],
        "2"
    );
    fx.assert_no_violations();
    fx.emu.advance_clock(Duration::from_secs(60));
    fx.create_album("c").await;
}
