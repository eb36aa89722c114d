//! How paths appear in logs and messages: one line each, exactly.
//!
//! A file name may hold a newline (which would split a log line and fake another) or bytes
//! that are not UTF-8 (which a lossy conversion would make indistinguishable). Both are
//! shown escaped, as Rust's `Debug` does, without the quotes.

use std::path::Path;

/// Text for a terminal: control characters (a newline, an escape sequence in a crafted
/// file name) escaped, everything else as it is.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `path` escaped for a log line or message.
pub fn shown(path: &Path) -> String {
    let debug = format!("{path:?}");
    debug
        .strip_prefix('"')
        .and_then(|d| d.strip_suffix('"'))
        .map_or_else(|| debug.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_only_control_characters() {
        assert_eq!(super::printable("a b/ü.jpg"), "a b/ü.jpg");
        assert_eq!(
            super::printable("x\u{1b}[31mred\n.jpg"),
            "x\\u{1b}[31mred\\n.jpg"
        );
    }

    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn newlines_and_invalid_bytes_are_escaped_and_stay_distinct() {
        assert_eq!(shown(Path::new("/cam/a b.jpg")), "/cam/a b.jpg");
        assert_eq!(shown(Path::new("/cam/a\nb.jpg")), "/cam/a\\nb.jpg");
        let ff = shown(Path::new(OsStr::from_bytes(b"/cam/x\xff.jpg")));
        let fe = shown(Path::new(OsStr::from_bytes(b"/cam/x\xfe.jpg")));
        assert_ne!(ff, fe);
        assert!(!ff.contains('\u{fffd}'));
    }
}
