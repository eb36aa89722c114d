//! Page sizes and opaque page tokens. A token encodes the position and a fingerprint of the
//! query it belongs to, so replaying it with a different query is rejected, as Google binds
//! tokens to their request. Positions are plain offsets: items created between pages shift
//! them, which reproduces the "same id on two pages" effect real clients must tolerate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::errors::ApiError;

/// Validates `pageSize` (absent or 0 = `default`; 1..=`max` allowed).
pub(crate) fn page_size(
    raw: Option<i64>,
    default: usize,
    max: usize,
    what: &str,
) -> Result<usize, ApiError> {
    match raw {
        None | Some(0) => Ok(default),
        Some(n) if n > 0 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(
            format!("Invalid page size {n}: must be between 1 and {max}."),
            format!("{what}: pageSize {n} outside 1..={max}"),
        )),
    }
}

/// Parses `pageSize` from a query string value.
pub(crate) fn parse_page_size(raw: Option<String>, what: &str) -> Result<Option<i64>, ApiError> {
    match raw {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::invalid(
                format!("Invalid value at 'page_size' (TYPE_INT32), \"{s}\""),
                format!("{what}: pageSize {s:?} is not an integer"),
            )
        }),
    }
}

fn fingerprint(query: &str) -> String {
    let d = Sha256::digest(query.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..9])
}

pub(crate) fn make_token(query: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{offset}", fingerprint(query)))
}

/// Decodes a token for `query`; `None` input means the first page.
pub(crate) fn read_token(token: Option<&str>, query: &str, what: &str) -> Result<usize, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bad = || {
        ApiError::invalid(
            "Invalid page token.",
            format!(
                "{what}: pageToken was not issued for this query (tokens are opaque and bound to their request)"
            ),
        )
    };
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (fp, offset) = text.split_once(':').ok_or_else(bad)?;
    if fp != fingerprint(query) {
        return Err(bad());
    }
    offset.parse().map_err(|_| bad())
}

/// One page of `all` starting at `offset`, and the token for the next page if any.
pub(crate) fn page<T: Clone>(
    all: &[T],
    offset: usize,
    size: usize,
    query: &str,
) -> (Vec<T>, Option<String>) {
    let start = offset.min(all.len());
    let end = (start + size).min(all.len());
    let next = (end < all.len()).then(|| make_token(query, end));
    (all[start..end].to_vec(), next)
}
