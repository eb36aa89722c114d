//! `gphotosd auth` and `gphotosd auth --check`, driven like a user would: open the printed
//! URL in a "browser" (the emulator consents at once and redirects), then either let the
//! redirect reach the loopback listener or paste the redirected URL into the terminal.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use gphotos_emulator::{Config as EmulatorConfig, Consent};
use gphotosd::auth::TokenFile;
use gphotosd::store::PauseReason;

use crate::helpers::*;

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `location` with its `state` replaced, as if it came from another attempt.
fn with_state(location: &str, state: &str) -> String {
    let mut url = url::Url::parse(location).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), if k == "state" { state } else { v.as_str() })),
    );
    url.to_string()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn token_bytes(setup: &Setup) -> Vec<u8> {
    std::fs::read(setup.state.join("token.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_redirect_completes_the_flow_and_saves_a_private_token() {
    let setup = Setup::new().await;
    // A first installation: no state directory yet.
    std::fs::remove_dir_all(&setup.state).unwrap();
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let q = query(&url);
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert!(q["state"].len() >= 16, "a random state: {url}");
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    assert_eq!(scopes, [APPENDONLY, READ_APP_CREATED]);
    let redirect = q["redirect_uri"].clone();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");

    let browser = Browser::new();
    let location = browser.consent(&url).await;
    assert!(location.starts_with(&redirect), "{location}");
    let (status, page) = browser.open(&location).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("close this tab"), "{page}");

    let run = session.finish().await;
    run.expect_code(0);
    assert!(run.stdout.contains("Connected (from the browser)"), "{run}");
    assert!(run.stdout.contains(APPENDONLY), "{run}");
    assert!(run.stdout.contains(READ_APP_CREATED), "{run}");
    assert!(!run.stdout.contains("Warning"), "{run}");

    let state = setup.emu.state();
    let asked = &state.authorizations[0];
    assert!(asked.state_present);
    assert_eq!(asked.pkce_method.as_deref(), Some("S256"));
    assert_eq!(asked.access_type.as_deref(), Some("offline"));
    assert_eq!(asked.prompt.as_deref(), Some("consent"));
    assert_eq!(state.code_exchanges.len(), 1);
    assert!(
        state.code_exchanges[0].pkce_verified,
        "the verifier was sent"
    );
    assert_eq!(state.code_exchanges[0].redirect_uri, redirect);
    assert!(state.violations.is_empty(), "{:?}", state.violations);

    let token = setup.state.join("token.json");
    assert_eq!(mode(&token), 0o600);
    assert_eq!(mode(&setup.state), 0o700);
    let leftovers: Vec<_> = std::fs::read_dir(&setup.state)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "token.json")
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
    let file = TokenFile::load(&token).unwrap();
    assert_eq!(file.client_id, setup.emu.client_id());
    assert_eq!(file.scopes, [APPENDONLY, READ_APP_CREATED]);

    // The new token works.
    let check = setup.auth(&["--check"]).await;
    check.expect_code(0);
    assert!(check.stdout.contains("works"), "{check}");
    assert_eq!(setup.emu.state().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_url_completes_the_flow_when_the_browser_is_elsewhere() {
    let setup = Setup::new().await;
    let mut session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    // The browser on another machine ends on an unreachable 127.0.0.1 page; the user
    // copies its address. A stray line first is skipped with a hint.
    let location = Browser::new().consent(&url).await;
    session.paste("").await;
    session.paste("no idea what to paste").await;
    wait_until(
        "the stray line is answered with a hint",
        Duration::from_secs(20),
        || session.stderr().contains("not the redirected URL"),
    )
    .await;
    session.paste(&format!("  {location}  ")).await;
    let run = session.finish().await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("Connected (from the pasted URL)"),
        "{run}"
    );
    let state = setup.emu.state();
    assert!(state.authorizations[0].state_present);
    assert_eq!(state.authorizations[0].pkce_method.as_deref(), Some("S256"));
    assert_eq!(state.code_exchanges.len(), 1);
    assert!(state.code_exchanges[0].pkce_verified);
    let file = TokenFile::load(&setup.state.join("token.json")).unwrap();
    assert_eq!(file.scopes, [APPENDONLY, READ_APP_CREATED]);
    assert_eq!(mode(&setup.state.join("token.json")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_appears_in_trace_output() {
    let setup = Setup::new().await;
    let session = setup.spawn_auth(&[], "trace");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    let code = query(&location)["code"].clone();
    browser.open(&location).await;
    let run = session.finish().await;
    run.expect_code(0);
    let mut check = setup.spawn_auth(&["--check"], "trace");
    check.close_stdin();
    let check = check.finish().await;
    check.expect_code(0);

    let file = TokenFile::load(&setup.state.join("token.json")).unwrap();
    let secrets = [
        ("client secret", setup.emu.client_secret()),
        ("refresh token", file.refresh_token.clone()),
        ("access token", file.token.clone().unwrap()),
        ("authorization code", code),
    ];
    let output = format!("{run}{check}");
    assert!(
        output.lines().count() > 20,
        "trace logging is on:\n{output}"
    );
    for (what, secret) in secrets {
        assert!(secret.len() > 8, "{what} is a real value");
        assert!(!output.contains(&secret), "the {what} leaked:\n{output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refreshes_once_and_lists_the_scopes() {
    let setup = Setup::new().await;
    setup.grant_token(&[APPENDONLY]);
    let run = setup.auth(&["--check"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains(APPENDONLY), "{run}");
    assert!(
        run.stdout.contains("cannot find its own albums"),
        "the missing read scope is pointed out:\n{run}"
    );
    assert_eq!(setup.emu.state().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_left_in_testing_is_warned_about_the_7_day_expiry() {
    let setup = Setup::with_emulator(EmulatorConfig {
        testing_mode: true,
        ..EmulatorConfig::default()
    })
    .await;
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    browser.open(&location).await;
    let run = session.finish().await;
    run.expect_code(0);
    for part in ["expires in 7 days", "\"Testing\"", "publish it"] {
        assert!(run.stdout.contains(part), "no {part:?}:\n{run}");
    }
    let check = setup.auth(&["--check"]).await;
    check.expect_code(0);
    assert!(check.stdout.contains("expires in 7 days"), "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_when_the_token_was_revoked() {
    let setup = Setup::new().await;
    let refresh = setup.grant_token(&[APPENDONLY]);
    setup.emu.revoke_refresh_token(&refresh);
    setup
        .auth(&["--check"])
        .await
        .expect_code(1)
        .expect_error(&["does not work", "expired or revoked", "gphotosd auth"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_without_a_token_file_says_to_run_auth() {
    let setup = Setup::new().await;
    std::fs::remove_file(setup.state.join("token.json")).unwrap();
    setup
        .auth(&["--check"])
        .await
        .expect_code(1)
        .expect_error(&["no token file", "run `gphotosd auth`"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_json_is_named_with_the_fix() {
    let setup = Setup::new().await;
    let client = setup.dir.path().join("client_secret.json");
    std::fs::remove_file(&client).unwrap();
    setup.auth(&[]).await.expect_code(1).expect_error(&[
        &client.display().to_string(),
        "cannot read it",
        "Desktop app",
        "client_secret_file",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_client_json_is_refused() {
    let setup = Setup::new().await;
    std::fs::write(
        setup.dir.path().join("client_secret.json"),
        setup.emu.web_client_json().to_string(),
    )
    .unwrap();
    setup
        .auth(&[])
        .await
        .expect_code(1)
        .expect_error(&["\"Web application\" client", "\"Desktop app\""]);
    assert!(setup.emu.state().authorizations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_consent_is_reported_in_the_terminal_and_the_browser() {
    let setup = Setup::new().await;
    let before = token_bytes(&setup);
    setup.emu.set_consent(Consent::Deny);
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    assert_eq!(query(&location)["error"], "access_denied");
    let (status, page) = browser.open(&location).await;
    assert_eq!(status, 400);
    assert!(page.contains("access was denied"), "{page}");
    session
        .finish()
        .await
        .expect_code(1)
        .expect_error(&["access was denied", "`gphotosd auth` again"]);
    assert_eq!(token_bytes(&setup), before, "the old token file is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_url_from_another_attempt_is_refused() {
    let setup = Setup::new().await;
    let before = token_bytes(&setup);
    let mut session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let location = Browser::new().consent(&url).await;
    session
        .paste(&with_state(&location, "from-another-attempt"))
        .await;
    session
        .finish()
        .await
        .expect_code(1)
        .expect_error(&["pasted URL", "`state` does not match"]);
    assert!(
        setup.emu.state().code_exchanges.is_empty(),
        "the code was not used"
    );
    assert_eq!(token_bytes(&setup), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_another_attempt_is_refused() {
    let setup = Setup::new().await;
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    let (status, page) = browser.open(&with_state(&location, "forged")).await;
    assert_eq!(status, 400, "{page}");
    session
        .finish()
        .await
        .expect_code(1)
        .expect_error(&["another authorization attempt", "does not match"]);
    assert!(setup.emu.state().code_exchanges.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unticked_upload_scope_saves_nothing() {
    let setup = Setup::new().await;
    let before = token_bytes(&setup);
    setup
        .emu
        .set_consent(Consent::GrantOnly(vec![READ_APP_CREATED.to_owned()]));
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    let (status, _) = browser.open(&location).await;
    assert_eq!(status, 400);
    session.finish().await.expect_code(1).expect_error(&[
        "did not grant the permission to upload",
        "photoslibrary.appendonly",
        "unticked",
        "Nothing was saved",
    ]);
    assert_eq!(token_bytes(&setup), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_gives_up_after_the_configured_timeout() {
    let setup = Setup::new().await;
    setup.write_config("[auth]\ntimeout = \"1s\"\n");
    let started = std::time::Instant::now();
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    session.url().await;
    let run = session.finish().await;
    run.expect_code(1)
        .expect_error(&["no answer from Google within 1s", "[auth] timeout"]);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_reported_with_the_key_to_change() {
    let setup = Setup::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    setup.write_config(&format!("[auth]\nlisten_port = {port}\n"));
    setup.auth(&[]).await.expect_code(1).expect_error(&[
        &format!("port {port} on 127.0.0.1 is already in use"),
        "[auth] listen_port",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_listen_port_is_the_redirect_and_the_ssh_hint() {
    let setup = Setup::new().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    setup.write_config(&format!("[auth]\nlisten_port = {port}\n"));
    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    assert_eq!(
        query(&url)["redirect_uri"],
        format!("http://127.0.0.1:{port}/")
    );
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    browser.open(&location).await;
    let run = session.finish().await;
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("ssh -L {port}:127.0.0.1:{port}")),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_paused_for_auth_resumes_after_gphotosd_auth() {
    let setup = Setup::new().await;
    let refresh = setup.grant_token(&[APPENDONLY]);
    setup.emu.revoke_refresh_token(&refresh);
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    let mut daemon = setup.spawn_daemon();
    setup
        .wait_db(
            "the daemon pauses for auth",
            Duration::from_secs(30),
            |db| {
                db.daemon_row().is_ok_and(|d| {
                    d.pause
                        .is_some_and(|p| p.reason == PauseReason::AuthRequired)
                })
            },
        )
        .await;
    let queued_meanwhile = setup.add_fixtures(&setup.camera.join("later"), &["GOPR0001.JPG"]);

    let session = setup.spawn_auth(&[], "gphotosd=debug");
    let url = session.url().await;
    let browser = Browser::new();
    let location = browser.consent(&url).await;
    browser.open(&location).await;
    session.finish().await.expect_code(0);

    wait_until("both files are uploaded", Duration::from_secs(30), || {
        setup.emu.state().items.len() == 2
    })
    .await;
    setup
        .wait_db(
            "the file queued during the pause is recorded as created",
            Duration::from_secs(30),
            |db| {
                db.file_by_path(&queued_meanwhile[0])
                    .is_ok_and(|row| row.is_some_and(|r| r.media_item_id.is_some()))
            },
        )
        .await;
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)).await, Some(0));
    let log = daemon.log();
    assert!(
        log.contains("`gphotosd auth`"),
        "the log tells what to do:\n{log}"
    );
    assert!(!log.contains(&refresh), "no token in the log");
}
