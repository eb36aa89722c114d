//! [`Route`]: turns method + path + upload headers into what the request is, the name it is
//! counted under in `State::requests`, and the [`Target`] fault matching uses. Routing is by
//! hand because Google's paths (`/v1/mediaItems:batchCreate`, `/v1/albums/{id}:share`) put a
//! custom verb after a path parameter, which path-template routers do not model.

use axum::http::{HeaderMap, Method, Uri};

use crate::faults::{Endpoint, Target};

/// What a request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /v1/uploads` with `X-Goog-Upload-Protocol: resumable` (a session start).
    ResumableStart,
    /// `POST /v1/uploads` otherwise (a raw upload, or a malformed one).
    RawUpload,
    /// `POST /v1/uploads?upload_id=…`: a request on a session URL.
    Session {
        upload_id: String,
        command: SessionCommand,
    },
    BatchCreate,
    AlbumsCreate,
    AlbumsList,
    AlbumsGet(String),
    AlbumsBatchAdd(String),
    MediaItemsList,
    MediaItemsGet(String),
    MediaItemsBatchGet,
    MediaItemsSearch,
    /// Sharing (`sharedAlbums.*`, `albums.share`/`unshare`/`join`…): gone since March 2025.
    Sharing,
    /// Any other `/v1` path or method.
    UnknownV1,
    Authorize,
    Token,
    Revoke,
    DeviceCode,
    /// `/__emulator/…` control API.
    Control(String),
    /// Anything else.
    NotFound,
}

/// The parsed `X-Goog-Upload-Command` of a session request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionCommand {
    Query,
    Cancel,
    /// `upload`, `upload, finalize` or `finalize`.
    Upload {
        upload: bool,
        finalize: bool,
    },
    /// Missing or not a combination Google defines; the text is kept for the error.
    Invalid(String),
}

/// Parses `X-Goog-Upload-Command` as a comma list with optional whitespace.
pub(crate) fn parse_command(raw: Option<&str>) -> SessionCommand {
    let Some(raw) = raw else {
        return SessionCommand::Invalid(String::new());
    };
    let parts: Vec<String> = raw
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["query"] => SessionCommand::Query,
        ["cancel"] => SessionCommand::Cancel,
        ["upload"] => SessionCommand::Upload {
            upload: true,
            finalize: false,
        },
        ["upload", "finalize"] => SessionCommand::Upload {
            upload: true,
            finalize: true,
        },
        ["finalize"] => SessionCommand::Upload {
            upload: false,
            finalize: true,
        },
        _ => SessionCommand::Invalid(raw.to_owned()),
    }
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Value of query parameter `name`, percent-decoded.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Route {
    pub(crate) fn classify(method: &Method, uri: &Uri, headers: &HeaderMap) -> Route {
        // Clients may percent-encode the ':' of a custom verb.
        let path = uri.path().replace("%3A", ":").replace("%3a", ":");
        let post = method == Method::POST;
        let get = method == Method::GET;
        if let Some(rest) = path.strip_prefix("/__emulator/") {
            return Route::Control(rest.to_owned());
        }
        match path.as_str() {
            "/o/oauth2/v2/auth" | "/o/oauth2/auth" if get => return Route::Authorize,
            "/token" | "/o/oauth2/token" if post => return Route::Token,
            "/revoke" | "/o/oauth2/revoke" if post => return Route::Revoke,
            "/device/code" if post => return Route::DeviceCode,
            _ => {}
        }
        let Some(v1) = path.strip_prefix("/v1/") else {
            return Route::NotFound;
        };
        if v1.starts_with("sharedAlbums") {
            return Route::Sharing;
        }
        match v1 {
            "uploads" if post => {
                if let Some(upload_id) = query_param(uri, "upload_id") {
                    let command = parse_command(header(headers, "x-goog-upload-command"));
                    return Route::Session { upload_id, command };
                }
                let protocol = header(headers, "x-goog-upload-protocol").unwrap_or("");
                if protocol.eq_ignore_ascii_case("resumable") {
                    Route::ResumableStart
                } else {
                    Route::RawUpload
                }
            }
            "mediaItems:batchCreate" if post => Route::BatchCreate,
            "mediaItems:search" if post => Route::MediaItemsSearch,
            "mediaItems:batchGet" if get => Route::MediaItemsBatchGet,
            "mediaItems" if get => Route::MediaItemsList,
            "albums" if post => Route::AlbumsCreate,
            "albums" if get => Route::AlbumsList,
            _ => Route::classify_resource(v1, get, post),
        }
    }

    fn classify_resource(v1: &str, get: bool, post: bool) -> Route {
        let simple_id = |id: &str| !id.is_empty() && !id.contains('/') && !id.contains(':');
        if let Some(rest) = v1.strip_prefix("albums/") {
            if let Some((id, verb)) = rest.split_once(':') {
                return match verb {
                    "batchAddMediaItems" if post && simple_id(id) => {
                        Route::AlbumsBatchAdd(id.to_owned())
                    }
                    "share" | "unshare" | "join" | "leave" => Route::Sharing,
                    _ => Route::UnknownV1,
                };
            }
            if get && simple_id(rest) {
                return Route::AlbumsGet(rest.to_owned());
            }
        }
        if let Some(id) = v1.strip_prefix("mediaItems/")
            && get
            && simple_id(id)
        {
            return Route::MediaItemsGet(id.to_owned());
        }
        Route::UnknownV1
    }

    /// Name in `State::requests`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Route::ResumableStart => "resumable_start",
            Route::RawUpload => "raw_upload",
            Route::Session { command, .. } => match command {
                SessionCommand::Query => "query",
                SessionCommand::Cancel => "cancel",
                SessionCommand::Upload { .. } | SessionCommand::Invalid(_) => "resumable_upload",
            },
            Route::BatchCreate => "batch_create",
            Route::AlbumsCreate => "albums_create",
            Route::AlbumsList => "albums_list",
            Route::AlbumsGet(_) => "albums_get",
            Route::AlbumsBatchAdd(_) => "albums_batch_add",
            Route::MediaItemsList => "media_items_list",
            Route::MediaItemsGet(_) => "media_items_get",
            Route::MediaItemsBatchGet => "media_items_batch_get",
            Route::MediaItemsSearch => "media_items_search",
            Route::Sharing => "shared_albums",
            Route::UnknownV1 | Route::NotFound => "unknown",
            Route::Authorize => "authorize",
            Route::Token => "token",
            Route::Revoke => "revoke",
            Route::DeviceCode => "device_code",
            Route::Control(_) => "control",
        }
    }

    /// Whether the request counts toward the Library API daily quota.
    pub(crate) fn is_library_api(&self) -> bool {
        !matches!(
            self,
            Route::UnknownV1
                | Route::NotFound
                | Route::Authorize
                | Route::Token
                | Route::Revoke
                | Route::DeviceCode
                | Route::Control(_)
        )
    }

    /// For fault matching; `None` for the control API, which faults never touch.
    pub(crate) fn target(&self) -> Option<Target> {
        let endpoint = match self {
            Route::Control(_) => return None,
            Route::ResumableStart => Some(Endpoint::ResumableStart),
            Route::RawUpload => Some(Endpoint::RawUpload),
            Route::Session { command, .. } => match command {
                SessionCommand::Query => Some(Endpoint::Query),
                SessionCommand::Cancel => Some(Endpoint::Cancel),
                _ => Some(Endpoint::ResumableUpload),
            },
            Route::BatchCreate => Some(Endpoint::BatchCreate),
            Route::AlbumsCreate => Some(Endpoint::AlbumsCreate),
            Route::AlbumsList => Some(Endpoint::AlbumsList),
            Route::AlbumsGet(_) => Some(Endpoint::AlbumsGet),
            Route::AlbumsBatchAdd(_) => Some(Endpoint::AlbumsBatchAdd),
            Route::MediaItemsList => Some(Endpoint::MediaItemsList),
            Route::MediaItemsGet(_) => Some(Endpoint::MediaItemsGet),
            Route::MediaItemsBatchGet => Some(Endpoint::MediaItemsBatchGet),
            Route::MediaItemsSearch => Some(Endpoint::MediaItemsSearch),
            Route::Token => Some(Endpoint::Token),
            Route::Authorize => Some(Endpoint::Authorize),
            Route::Revoke => Some(Endpoint::Revoke),
            Route::Sharing | Route::UnknownV1 | Route::NotFound | Route::DeviceCode => None,
        };
        let finalizes = matches!(
            self,
            Route::Session {
                command: SessionCommand::Upload { finalize: true, .. },
                ..
            }
        );
        Some(Target {
            endpoint,
            finalizes,
        })
    }

    /// Upload-body routes handle `CutAfter` themselves (a session keeps aligned bytes).
    pub(crate) fn handles_cut(&self) -> bool {
        matches!(
            self,
            Route::RawUpload
                | Route::Session {
                    command: SessionCommand::Upload { .. },
                    ..
                }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_list_tolerates_spaces_and_case() {
        let uf = SessionCommand::Upload {
            upload: true,
            finalize: true,
        };
        assert_eq!(parse_command(Some("upload,finalize")), uf);
        assert_eq!(parse_command(Some("upload, finalize")), uf);
        assert_eq!(parse_command(Some(" Upload ,  FINALIZE ")), uf);
        assert!(matches!(
            parse_command(Some("finalize, upload")),
            SessionCommand::Invalid(_)
        ));
        assert!(matches!(parse_command(None), SessionCommand::Invalid(_)));
    }

    #[test]
    fn custom_verbs_after_ids_are_routed() {
        let h = HeaderMap::new();
        let r = |m: Method, p: &str| Route::classify(&m, &p.parse().unwrap(), &h);
        assert_eq!(
            r(Method::POST, "/v1/mediaItems:batchCreate"),
            Route::BatchCreate
        );
        assert_eq!(
            r(Method::POST, "/v1/mediaItems%3AbatchCreate"),
            Route::BatchCreate
        );
        assert_eq!(
            r(Method::GET, "/v1/albums/abc"),
            Route::AlbumsGet("abc".into())
        );
        assert_eq!(
            r(Method::POST, "/v1/albums/abc:batchAddMediaItems"),
            Route::AlbumsBatchAdd("abc".into())
        );
        assert_eq!(r(Method::POST, "/v1/albums/abc:share"), Route::Sharing);
        assert_eq!(r(Method::GET, "/v1/sharedAlbums"), Route::Sharing);
        assert_eq!(r(Method::DELETE, "/v1/albums"), Route::UnknownV1);
    }
}
