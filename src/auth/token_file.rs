//! The token file: Google's "authorized_user" JSON layout plus the cached access token.
//!
//! Written atomically (temporary file in the same directory, fsync, rename, fsync of the
//! directory) with mode 0600, so a crash leaves either the old or the new file, never half
//! of one, and no other user can read the refresh token.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::AuthError;

/// Contents of `token.json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenFile {
    /// Always `authorized_user`, as Google's own tools write it.
    #[serde(rename = "type")]
    pub kind: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// The cached access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the cached access token expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_uri: Option<String>,
    /// Scopes Google granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("client_id", &self.client_id)
            .field("expiry", &self.expiry)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    /// A new file for a freshly granted refresh token.
    pub fn new(client_id: &str, client_secret: &str, refresh_token: &str) -> TokenFile {
        TokenFile {
            kind: "authorized_user".to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            refresh_token: refresh_token.to_owned(),
            token: None,
            expiry: None,
            token_uri: None,
            scopes: Vec::new(),
        }
    }

    /// Reads the token file; a missing file is [`AuthError::NoTokenFile`].
    pub fn load(path: &Path) -> Result<TokenFile, AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuthError::NoTokenFile {
                    path: path.to_owned(),
                });
            }
            Err(e) => {
                return Err(AuthError::TokenFile {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
            }
        };
        let file: TokenFile = serde_json::from_str(&text).map_err(|e| AuthError::TokenFile {
            path: path.to_owned(),
            message: format!("not a gphotosd token file ({e}); run `gphotosd auth` again"),
        })?;
        if file.refresh_token.is_empty() {
            return Err(AuthError::TokenFile {
                path: path.to_owned(),
                message: "it holds no refresh token; run `gphotosd auth` again".to_owned(),
            });
        }
        Ok(file)
    }

    /// Writes the file atomically with mode 0600 (its directory 0700 when created here).
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        let fail = |e: std::io::Error| AuthError::TokenFile {
            path: path.to_owned(),
            message: format!("cannot write it: {e}"),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(fail)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("token.json"),
            std::process::id()
        ));
        let json = serde_json::to_vec_pretty(self).map_err(|e| fail(std::io::Error::other(e)))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        // `mode` only applies to a newly created file; a stale temp file keeps its mode.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        give_to_directory_owner(&f, dir);
        f.write_all(&json).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(fail)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
        Ok(())
    }
}

/// `sudo gphotosd auth` writes as root into the state directory of the daemon's user; a
/// root-owned 0600 file there would be unreadable to the daemon. So the file takes the
/// directory's owner. Without root this is a no-op (the owners already match) or fails,
/// which is only worth a warning: the file is still written.
fn give_to_directory_owner(file: &std::fs::File, dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let (Ok(d), Ok(f)) = (std::fs::metadata(dir), file.metadata()) else {
        return;
    };
    if d.uid() == f.uid() {
        return;
    }
    if let Err(e) = std::os::unix::fs::fchown(file, Some(d.uid()), Some(d.gid())) {
        tracing::warn!(
            "cannot give the token file to the owner (uid {}) of {}: {e}; a daemon running \
             as that user may not be able to read it",
            d.uid(),
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/token.json");
        let mut file = TokenFile::new("id", "secret", "refresh");
        file.scopes = vec!["s".into()];
        file.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let back = TokenFile::load(&path).unwrap();
        assert_eq!(back.refresh_token, "refresh");
        assert_eq!(back.kind, "authorized_user");
        assert!(!format!("{back:?}").contains("refresh\""));
    }

    #[test]
    fn a_file_written_by_root_belongs_to_the_owner_of_its_directory() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        if std::fs::metadata(dir.path()).unwrap().uid() != 0 {
            return; // Only root can give files away.
        }
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
        let path = state.join("token.json");
        TokenFile::new("id", "secret", "refresh")
            .save(&path)
            .unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_missing_file_says_to_run_auth() {
        let dir = tempfile::tempdir().unwrap();
        let err = TokenFile::load(&dir.path().join("token.json")).unwrap_err();
        assert!(err.to_string().contains("gphotosd auth"), "{err}");
    }
}
