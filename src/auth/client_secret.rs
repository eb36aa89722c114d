//! Google's OAuth client JSON, as downloaded from the Cloud console.

use std::path::Path;

use serde::Deserialize;

use super::AuthError;

/// The fields of an installed-app ("Desktop app") client that gphotosd needs.
#[derive(Clone, Deserialize)]
pub struct ClientSecret {
    pub client_id: String,
    pub client_secret: String,
    pub auth_uri: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth_uri", &self.auth_uri)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

#[derive(Deserialize)]
struct Download {
    installed: Option<ClientSecret>,
    web: Option<serde_json::Value>,
}

impl ClientSecret {
    /// Reads the client JSON at `path`, refusing other client kinds with a fix.
    pub fn load(path: &Path) -> Result<ClientSecret, AuthError> {
        let bad = |message: String| AuthError::ClientSecret {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(format!(
                "cannot read it ({e}). Download the JSON of a \"Desktop app\" OAuth client \
                 from the Google Cloud console and set [google] client_secret_file to it"
            ))
        })?;
        let download: Download = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not Google's OAuth client JSON: {e}")))?;
        match download {
            Download {
                installed: Some(client),
                ..
            } => Ok(client),
            Download { web: Some(_), .. } => Err(bad(
                "this is a \"Web application\" client; gphotosd needs a \"Desktop app\" \
                 client (Google Cloud console → APIs & Services → Credentials → Create \
                 credentials → OAuth client ID → Desktop app)"
                    .to_owned(),
            )),
            _ => Err(bad(
                "it has no \"installed\" section; download the JSON of a \"Desktop app\" \
                 OAuth client"
                    .to_owned(),
            )),
        }
    }
}
