//! OAuth: the consent screen, code exchange with PKCE, refresh, revocation, expiry, the
//! device flow's refusal, the client JSON, and the control API / binary.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gphotos_emulator::{Config, Consent, SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-emulator-test";
const REDIRECT: &str = "http://127.0.0.1:45678/callback";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn auth_url(fx: &Fx, extra: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&fx.emu.auth_uri()).unwrap();
    let challenge = challenge();
    let scope = format!("{SCOPE_APPENDONLY} {SCOPE_READONLY_APPCREATED}");
    let client = fx.emu.client_id();
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", &client),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", &scope),
        ("state", "st8 &=?/"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("access_type", "offline"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// Follows the consent screen; returns the redirect's query pairs.
async fn consent(fx: &Fx, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let resp = fx.http.get(auth_url(fx, extra)).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = header(&resp, "location");
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(pk, _)| pk == k)
        .map(|(_, v)| v.as_str())
}

async fn exchange(fx: &Fx, code: &str, verifier: &str, redirect: &str) -> reqwest::Response {
    fx.http
        .post(fx.emu.token_uri())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", &fx.emu.client_id()),
            ("client_secret", &fx.emu.client_secret()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

async fn refresh(fx: &Fx, refresh_token: &str) -> reqwest::Response {
    fx.http
        .post(fx.emu.token_uri())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &fx.emu.client_id()),
            ("client_secret", &fx.emu.client_secret()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn loopback_flow_with_pkce_yields_tokens_that_work() {
    let fx = fx().await;
    let q = consent(&fx, &[]).await;
    assert_eq!(
        param(&q, "state"),
        Some("st8 &=?/"),
        "state echoed verbatim"
    );
    assert_eq!(
        param(&q, "scope"),
        Some(format!("{SCOPE_APPENDONLY} {SCOPE_READONLY_APPCREATED}").as_str())
    );
    let code = param(&q, "code").unwrap();
    let resp = exchange(&fx, code, VERIFIER, REDIRECT).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["refresh_token"].is_string());
    let access = v["access_token"].as_str().unwrap();
    let up = fx.raw_upload_with(access, jpeg(100, 1), "a.jpg").await;
    assert_eq!(up.status(), 200);
    let s = fx.state();
    let a = &s.authorizations[0];
    assert_eq!(a.client_id, fx.emu.client_id());
    assert_eq!(a.redirect_uri, REDIRECT);
    assert!(a.state_present);
    assert_eq!(a.pkce_method.as_deref(), Some("S256"));
    assert_eq!(a.access_type.as_deref(), Some("offline"));
    assert!(s.code_exchanges[0].pkce_verified);
    fx.assert_no_violations();
}

#[tokio::test]
async fn refresh_token_only_offline_and_on_first_consent_unless_forced() {
    let fx = fx().await;
    let online = consent(&fx, &[("access_type", "")]).await;
    let v: Value = exchange(&fx, param(&online, "code").unwrap(), VERIFIER, REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("refresh_token").is_none());
    let first = consent(&fx, &[]).await;
    let v: Value = exchange(&fx, param(&first, "code").unwrap(), VERIFIER, REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["refresh_token"].is_string());
    let again = consent(&fx, &[]).await;
    let v: Value = exchange(&fx, param(&again, "code").unwrap(), VERIFIER, REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("refresh_token").is_none(), "already consented");
    let forced = consent(&fx, &[("prompt", "consent")]).await;
    let v: Value = exchange(&fx, param(&forced, "code").unwrap(), VERIFIER, REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["refresh_token"].is_string());
}

#[tokio::test]
async fn consent_screen_refuses_bad_requests() {
    let fx = fx().await;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case<'_>; 7] = [
        (
            &[("redirect_uri", "urn:ietf:wg:oauth:2.0:oob")],
            400,
            "invalid_request",
        ),
        (
            &[("redirect_uri", "https://example.com/cb")],
            400,
            "invalid_request",
        ),
        (&[("code_challenge", "")], 400, "invalid_request"),
        (
            &[("code_challenge_method", "plain")],
            400,
            "invalid_request",
        ),
        (&[("response_type", "token")], 400, "invalid_request"),
        (
            &[("client_id", "nobody.apps.googleusercontent.com")],
            401,
            "invalid_client",
        ),
        (
            &[("scope", "https://www.googleapis.com/auth/drive.fake")],
            400,
            "invalid_scope",
        ),
    ];
    for (extra, status, error) in cases {
        let resp = fx.http.get(auth_url(&fx, extra)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{extra:?}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains(error), "{extra:?}");
    }
    assert_eq!(fx.violations().len(), 7);
    assert!(fx.state().authorizations.is_empty());
}

#[tokio::test]
async fn missing_state_is_flagged_but_served() {
    let fx = fx().await;
    let q = consent(&fx, &[("state", "")]).await;
    assert!(param(&q, "code").is_some());
    fx.assert_violation("without a state parameter");
}

#[tokio::test]
async fn denied_and_partial_consent() {
    let fx = fx().await;
    fx.emu.set_consent(Consent::Deny);
    let q = consent(&fx, &[]).await;
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("st8 &=?/"));
    assert!(param(&q, "code").is_none());
    fx.emu
        .set_consent(Consent::GrantOnly(vec![SCOPE_READONLY_APPCREATED.into()]));
    let q = consent(&fx, &[]).await;
    assert_eq!(param(&q, "scope"), Some(SCOPE_READONLY_APPCREATED));
    let v: Value = exchange(&fx, param(&q, "code").unwrap(), VERIFIER, REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["scope"], SCOPE_READONLY_APPCREATED);
    let up = fx
        .raw_upload_with(v["access_token"].as_str().unwrap(), jpeg(100, 1), "a.jpg")
        .await;
    assert_eq!(up.status(), 401);
}

#[tokio::test]
async fn code_exchange_rules() {
    let fx = fx().await;
    let q = consent(&fx, &[]).await;
    let code = param(&q, "code").unwrap().to_owned();
    let wrong_verifier = "x".repeat(43);
    let r = exchange(&fx, &code, &wrong_verifier, REDIRECT).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert!(!fx.state().code_exchanges[0].pkce_verified);
    let r = exchange(&fx, &code, VERIFIER, "http://127.0.0.1:1/other").await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "redirect_uri_mismatch"
    );
    assert_eq!(exchange(&fx, &code, VERIFIER, REDIRECT).await.status(), 200);
    let reused = exchange(&fx, &code, VERIFIER, REDIRECT).await;
    assert_eq!(
        reused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    fx.assert_violation("single-use");
}

#[tokio::test]
async fn codes_expire() {
    let fx = fx().await;
    let q = consent(&fx, &[]).await;
    fx.emu.advance_clock(Duration::from_secs(601));
    let r = exchange(&fx, param(&q, "code").unwrap(), VERIFIER, REDIRECT).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn refresh_grant_mints_working_tokens_and_counts() {
    let fx = fx().await;
    let rt = fx.emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    let r = refresh(&fx, &rt).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type"),
        "application/json; charset=UTF-8"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], SCOPE_APPENDONLY);
    assert!(v.get("refresh_token").is_none());
    let access = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        fx.raw_upload_with(&access, jpeg(100, 1), "a.jpg")
            .await
            .status(),
        200
    );
    // HTTP Basic client authentication works too.
    let basic = STANDARD.encode(format!("{}:{}", fx.emu.client_id(), fx.emu.client_secret()));
    let r = fx
        .http
        .post(fx.emu.token_uri())
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fx.state().refreshes, 2);
    // Access tokens expire on the emulated clock.
    fx.emu.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        fx.raw_upload_with(&access, jpeg(100, 2), "b.jpg")
            .await
            .status(),
        401
    );
    fx.assert_no_violations();
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client() {
    let fx = fx().await;
    let rt = fx.emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    let r = fx
        .http
        .post(fx.emu.token_uri())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", &fx.emu.client_id()),
            ("client_secret", "GOCSPX-wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    fx.assert_violation("client_secret");
}

#[tokio::test]
async fn revocation_kills_the_refresh_token_and_its_access_tokens() {
    let fx = fx().await;
    let rt = fx.emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    let v: Value = refresh(&fx, &rt).await.json().await.unwrap();
    let access = v["access_token"].as_str().unwrap().to_owned();
    let r = fx
        .http
        .post(fx.emu.revoke_uri())
        .form(&[("token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = refresh(&fx, &rt).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_description"], "Token has been expired or revoked.");
    assert_eq!(
        fx.raw_upload_with(&access, jpeg(100, 1), "a.jpg")
            .await
            .status(),
        401
    );
    fx.assert_no_violations();
}

#[tokio::test]
async fn revoke_refresh_token_from_the_test_side() {
    let fx = fx().await;
    let rt = fx.emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    let v: Value = refresh(&fx, &rt).await.json().await.unwrap();
    fx.emu.revoke_refresh_token(&rt);
    assert_eq!(refresh(&fx, &rt).await.status(), 400);
    let up = fx
        .raw_upload_with(v["access_token"].as_str().unwrap(), jpeg(1, 1), "a")
        .await;
    assert_eq!(up.status(), 401);
}

#[tokio::test]
async fn testing_mode_refresh_tokens_expire_after_seven_days() {
    let fx = fx_with(Config {
        testing_mode: true,
        ..Config::default()
    })
    .await;
    let rt = fx.emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    let v: Value = refresh(&fx, &rt).await.json().await.unwrap();
    assert!(v["refresh_token_expires_in"].as_u64().unwrap() > 600_000);
    fx.emu.advance_clock(Duration::from_secs(7 * 24 * 3600));
    let r = refresh(&fx, &rt).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn device_flow_refuses_photos_scopes() {
    let fx = fx().await;
    let r = fx
        .http
        .post(format!("{}/device/code", fx.emu.base_url()))
        .form(&[
            ("client_id", fx.emu.client_id().as_str()),
            ("scope", SCOPE_APPENDONLY),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");
    assert_eq!(
        v["error_description"],
        format!("Invalid device flow scope: {SCOPE_APPENDONLY}")
    );
}

#[tokio::test]
async fn client_json_has_googles_download_layout() {
    let fx = fx().await;
    let j = fx.emu.installed_client_json();
    let c = &j["installed"];
    assert_eq!(c["client_id"], fx.emu.client_id());
    assert_eq!(c["client_secret"], fx.emu.client_secret());
    assert_eq!(c["auth_uri"], fx.emu.auth_uri());
    assert_eq!(c["token_uri"], fx.emu.token_uri());
    assert_eq!(c["redirect_uris"][0], "http://localhost");
    assert!(c["project_id"].is_string() && c["auth_provider_x509_cert_url"].is_string());
    assert_eq!(fx.emu.web_client_json()["web"], *c);
}

#[tokio::test]
async fn control_api_exposes_state_clock_and_refresh_tokens() {
    let fx = fx().await;
    let r: Value = fx
        .http
        .post(fx.url("/__emulator/refresh-token"))
        .json(&serde_json::json!({"scopes": [SCOPE_APPENDONLY]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt = r["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&fx, rt).await.status(), 200);
    let adv = fx
        .http
        .post(fx.url("/__emulator/clock/advance"))
        .json(&serde_json::json!({"seconds": 4000}))
        .send()
        .await
        .unwrap();
    assert_eq!(adv.status(), 200);
    assert_eq!(fx.get_as(&fx.token, "/v1/albums").await.status(), 401);
    let state: Value = fx
        .http
        .get(fx.url("/__emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["refreshes"], 1);
    assert_eq!(state["requests"]["albums_list"], 1);
    assert!(state["requests"].get("control").is_none());
}

#[tokio::test]
async fn the_binary_prints_its_address_and_writes_credentials() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("client.json");
    let token = dir.path().join("refresh_token");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotos-emulator"))
        .args(["--port", "0", "--granularity", "1024", "--client-json"])
        .arg(&client)
        .arg("--refresh-token-file")
        .arg(&token)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&client).unwrap()).unwrap();
    assert_eq!(json["installed"]["token_uri"], format!("{base}/token"));
    let rt = std::fs::read_to_string(&token).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.trim()),
            (
                "client_id",
                json["installed"]["client_id"].as_str().unwrap(),
            ),
            (
                "client_secret",
                json["installed"]["client_secret"].as_str().unwrap(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state: Value = http
        .get(format!("{base}/__emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["refreshes"], 1);
    child.kill().await.unwrap();
}
