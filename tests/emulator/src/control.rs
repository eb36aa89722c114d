//! The `/__emulator/` control API: the library handle's controls over HTTP, for the binary
//! (benchmarks, the demo, other languages). Never counted, never faulted, never quota'd.
//!
//! | Method | Path | Body | Effect |
//! |---|---|---|---|
//! | GET | `state` | — | [`crate::State`] JSON |
//! | GET | `faults` | — | pending faults |
//! | POST | `faults` | a [`crate::Fault`] or an array of them | inject |
//! | DELETE | `faults` | — | clear faults and chaos |
//! | POST | `chaos` | a [`crate::Chaos`] or `null` | set/clear random faults |
//! | POST | `clock/advance` | `{"seconds":N}` | advance the emulated clock |
//! | POST | `refresh-token` | `{"scopes":[…]}` | `{"refresh_token":…}` |
//! | POST | `storage-limit` | `{"bytes":N}` or `{"bytes":null}` | set the storage limit |
//! | POST | `consent` | `"approve"`, `"deny"` or `{"grant_only":[…]}` | consent behaviour |
//! | GET | `client-json` | — | the installed-app client JSON |
//! | DELETE | `items/{id}` | — | delete a media item as the user would in the app (404 if unknown) |
//! | DELETE | `albums/{id}` | — | delete an album as the user would in the app (404 if unknown) |

use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::json_ok;
use crate::faults::{Chaos, Fault};
use crate::oauth::Consent;
use crate::routes::Route;
use crate::store::Shared;

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

#[derive(Deserialize)]
struct Scopes {
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct Limit {
    bytes: Option<u64>,
}

fn bad(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("bad control request: {e}\n"),
    )
        .into_response()
}

pub(crate) async fn handle(shared: &Shared, route: &Route, parts: Parts, body: Body) -> Response {
    let Route::Control(path) = route else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(e),
    };
    let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
    let json: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    macro_rules! from {
        ($t:ty) => {
            match serde_json::from_value::<$t>(json.clone()) {
                Ok(v) => v,
                Err(e) => return bad(e),
            }
        };
    }
    match (&parts.method, path.as_str()) {
        (&Method::GET, "state") => json_ok(&json!(shared.snapshot())),
        (&Method::GET, "faults") => json_ok(&json!(shared.lock().faults.pending())),
        (&Method::POST, "faults") => {
            let faults = match from!(OneOrMany) {
                OneOrMany::One(f) => vec![f],
                OneOrMany::Many(v) => v,
            };
            let mut inner = shared.lock();
            for f in faults {
                inner.faults.push(f);
            }
            json_ok(&json!({}))
        }
        (&Method::DELETE, "faults") => {
            shared.lock().faults.clear();
            json_ok(&json!({}))
        }
        (&Method::POST, "chaos") => {
            let chaos = from!(Option<Chaos>);
            shared.lock().faults.set_chaos(chaos);
            json_ok(&json!({}))
        }
        (&Method::POST, "clock/advance") => {
            let a = from!(Advance);
            shared.clock.advance(Duration::from_secs(a.seconds));
            json_ok(&json!({"now": crate::clock::rfc3339(shared.clock.now())}))
        }
        (&Method::POST, "refresh-token") => {
            let s = from!(Scopes);
            let scopes: Vec<&str> = s.scopes.iter().map(String::as_str).collect();
            json_ok(&json!({"refresh_token": shared.grant_refresh_token(None, &scopes)}))
        }
        (&Method::POST, "storage-limit") => {
            shared.lock().storage_limit = from!(Limit).bytes;
            json_ok(&json!({}))
        }
        (&Method::POST, "consent") => {
            shared.lock().consent = from!(Consent);
            json_ok(&json!({}))
        }
        (&Method::GET, "client-json") => json_ok(&shared.client_json("installed")),
        (&Method::DELETE, p) if p.starts_with("items/") => {
            let id = &p["items/".len()..];
            if shared.lock().delete_item(id) {
                json_ok(&json!({}))
            } else {
                (StatusCode::NOT_FOUND, "no such media item\n").into_response()
            }
        }
        (&Method::DELETE, p) if p.starts_with("albums/") => {
            let id = &p["albums/".len()..];
            if shared.lock().delete_album(id) {
                json_ok(&json!({}))
            } else {
                (StatusCode::NOT_FOUND, "no such album\n").into_response()
            }
        }
        _ => (StatusCode::NOT_FOUND, "unknown control endpoint\n").into_response(),
    }
}
