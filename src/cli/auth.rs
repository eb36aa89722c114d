//! `gphotosd auth`: connect a Google account. The flow itself is
//! [`crate::auth::Authorization`]; this file is the terminal around it (instructions, the
//! pasted line, the report). `gphotosd auth --check` refreshes the saved token once.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::mpsc;

use crate::api::http_client;
use crate::auth::{
    AuthError, Authorization, ClientSecret, SCOPE_APPENDONLY, SCOPE_READ_APP_CREATED, TokenSource,
    Via,
};
use crate::config::Config;

use super::load_config;

pub(super) async fn auth(config_path: &Path, check: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let client = ClientSecret::load(&config.google.client_secret_file)?;
    let http = http_client(config.google.connect_timeout, config.google.read_timeout);
    if check {
        return check_token(&config, &client, http).await;
    }
    let flow = Authorization::start(client, config.auth.listen_port).await?;
    let redirect_uri = flow.redirect_uri();
    println!(
        "Open this URL in a browser (on this or any other computer), sign in to the Google \
         account whose library gphotosd should upload to, and allow access:\n"
    );
    println!("{}\n", flow.url());
    println!(
        "Waiting up to {} for Google's answer on {redirect_uri}.\n\
         If the browser runs on another computer, the page it lands on after you allow access \
         will not load; that is expected. Copy the whole address from its address bar, paste \
         it here and press Enter.",
        humantime::format_duration(config.auth.timeout)
    );
    if config.auth.listen_port != 0 {
        println!(
            "Or forward the port first, from the computer with the browser: \
             ssh -L {port}:127.0.0.1:{port} <this machine>",
            port = config.auth.listen_port
        );
    }
    let token_path = config.token_path();
    let granted = flow
        .complete(terminal_lines(), config.auth.timeout, &http, &token_path)
        .await?;
    let via = match granted.via {
        Via::Browser => "from the browser",
        Via::Pasted => "from the pasted URL",
    };
    println!("\nConnected ({via}). Google granted:");
    print_scopes(&granted.scopes);
    warn_if_expiring(granted.refresh_token_expires_in);
    println!(
        "Token saved to {} (mode 0600). A running gphotosd picks it up by itself; \
         `gphotosd auth --check` tests it.",
        token_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Refreshes the saved token once: the cheapest request that proves Google still honours
/// it, and the answer lists the scopes it carries.
async fn check_token(
    config: &Config,
    client: &ClientSecret,
    http: reqwest::Client,
) -> anyhow::Result<ExitCode> {
    let path = config.token_path();
    let source = TokenSource::new(&path, &client.token_uri, http);
    let report = source.refresh_now().await.map_err(|e| match e {
        AuthError::NoTokenFile { .. } | AuthError::TokenFile { .. } => anyhow!(e),
        _ => anyhow!(e).context(format!("the token in {} does not work", path.display())),
    })?;
    println!(
        "The token in {} works: Google issued a fresh access token. Scopes:",
        path.display()
    );
    print_scopes(&report.scopes);
    warn_if_expiring(report.refresh_token_expires_in);
    Ok(ExitCode::SUCCESS)
}

/// Google only limits a refresh token's life for apps whose consent screen is still in
/// "Testing" (or when the user chose time-limited access): the daemon would stop weekly.
fn warn_if_expiring(lifetime: Option<Duration>) {
    let Some(lifetime) = lifetime else { return };
    let hours = lifetime.as_secs().div_ceil(3600);
    let left = if hours > 48 {
        format!("{} days", hours.div_ceil(24))
    } else {
        format!("{hours} hours")
    };
    println!(
        "Warning: Google says this refresh token expires in {left}; gphotosd will then pause \
         until you run `gphotosd auth` again. This happens while the app's OAuth consent \
         screen is in \"Testing\": publish it (Google Auth Platform → Audience → Publish \
         app, see docs/google-cloud-setup.md) and run `gphotosd auth` once more."
    );
}

fn print_scopes(scopes: &[String]) {
    if scopes.is_empty() {
        println!("  (Google did not list them)");
        return;
    }
    for scope in scopes {
        let what = match scope.as_str() {
            SCOPE_APPENDONLY => " (upload photos and videos, create albums)",
            SCOPE_READ_APP_CREATED => {
                " (find the albums and items gphotosd created; `gphotosd verify` checks them)"
            }
            _ => "",
        };
        println!("  {scope}{what}");
    }
    if !scopes.iter().any(|s| s == SCOPE_READ_APP_CREATED) {
        println!(
            "Note: without {SCOPE_READ_APP_CREATED} gphotosd uploads, but cannot find its own \
             albums again if its database is lost, and `gphotosd verify` cannot check that \
             Google still has what was uploaded. Run `gphotosd auth` and tick every box to \
             grant it."
        );
    }
}

/// Lines typed or pasted into the terminal. Read on a plain thread: tokio's stdin would
/// keep the runtime from shutting down until the user pressed Enter, even after the
/// browser's redirect had finished the job. At end of input the channel closes and only
/// the browser is waited for.
fn terminal_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(reader)
    {
        tracing::warn!("cannot read pasted URLs ({e}); waiting for the browser only");
    }
    rx
}
