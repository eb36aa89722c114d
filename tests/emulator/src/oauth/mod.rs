//! Google's OAuth 2.0 endpoints for installed apps: the consent screen ([`authorize`],
//! auto-answering per [`Consent`]), the token endpoint ([`token`]: authorization code with
//! PKCE S256, refresh token), revocation and the device-code endpoint ([`revoke`]).

pub(crate) mod authorize;
pub(crate) mod revoke;
pub(crate) mod token;

use serde::{Deserialize, Serialize};

/// What the emulated user does on the consent screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Grants every requested scope.
    Approve,
    /// Clicks "Cancel": redirect with `error=access_denied`.
    Deny,
    /// Unticks scopes: grants only the requested scopes that are in this list.
    GrantOnly(Vec<String>),
}

/// Whether `uri` is a loopback redirect a Desktop client may use (any port, any path).
pub(crate) fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    url.scheme() == "http"
        && url.fragment().is_none()
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

/// `[A-Za-z0-9-._~]{43,128}`: RFC 7636's alphabet for verifiers (and S256 challenges).
pub(crate) fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Form or query pairs, last value wins.
pub(crate) fn pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_only() {
        assert!(is_loopback_redirect("http://127.0.0.1:8080/"));
        assert!(is_loopback_redirect("http://[::1]:9/cb"));
        assert!(is_loopback_redirect("http://localhost"));
        assert!(!is_loopback_redirect("https://127.0.0.1:8080/"));
        assert!(!is_loopback_redirect("http://example.com/"));
        assert!(!is_loopback_redirect("urn:ietf:wg:oauth:2.0:oob"));
    }
}
