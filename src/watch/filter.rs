//! What is worth uploading: names to ignore, camera clutter to skip, Google's supported
//! types (by extension *and* magic bytes) and size limits, decided before a byte is sent.

use std::io::Read;
use std::path::Path;

/// Google's limit for photos.
pub const MAX_PHOTO_BYTES: u64 = 200 * 1000 * 1000;
/// Google's limit for videos.
pub const MAX_VIDEO_BYTES: u64 = 20 * 1000 * 1000 * 1000;

const PHOTO_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "gif", "webp", "heic", "heif", "avif", "bmp", "ico", "tif",
    "tiff", "dng", "cr2", "cr3", "nef", "nrw", "arw", "orf", "rw2", "raf", "srw", "pef", "gpr",
];
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "qt", "3gp", "3g2", "avi", "mkv", "wmv", "asf", "divx", "mpg", "mpeg",
    "mts", "m2t", "m2ts", "mod", "tod", "mmv",
];
/// Files cameras and tools put beside the media: never uploaded.
const SIDECAR_EXTENSIONS: &[&str] = &["lrv", "thm", "xmp", "aae"];
/// Names of partial files that copy tools rename when done: the rename is what counts.
const TEMPORARY_SUFFIXES: &[&str] = &[".part", ".tmp", ".crdownload", ".partial", ".download"];
/// Folders NAS systems and desktops keep for themselves.
const IGNORED_DIRS: &[&str] = &["@eaDir", "#recycle", "#snapshot", "lost+found"];
const IGNORED_NAMES: &[&str] = &["Thumbs.db", "desktop.ini", "Desktop.ini"];

/// Whether a directory entry is looked at at all (`None`), or why not.
pub fn ignored_name(name: &str, is_dir: bool) -> Option<&'static str> {
    if name.starts_with('.') {
        return Some(if name.starts_with("._") {
            "AppleDouble metadata file"
        } else if is_dir {
            "hidden folder"
        } else {
            "hidden or temporary file"
        });
    }
    if is_dir {
        return IGNORED_DIRS
            .contains(&name)
            .then_some("system folder of the NAS or desktop");
    }
    if IGNORED_NAMES.contains(&name) {
        return Some("desktop metadata file");
    }
    let lower = name.to_ascii_lowercase();
    if TEMPORARY_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
        return Some("temporary file of a copy in progress");
    }
    None
}

/// Photo or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
}

/// Decides whether the file at `path` (of `size` bytes) is uploaded: `Ok(mime type)`, or
/// `Err(reason)` shown in `status`. Reads at most the first few KiB.
pub fn classify(path: &Path, size: u64) -> Result<String, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if SIDECAR_EXTENSIONS.contains(&ext.as_str()) {
        return Err(format!("camera or editor sidecar (.{ext}), not uploaded"));
    }
    let claimed = if PHOTO_EXTENSIONS.contains(&ext.as_str()) {
        MediaKind::Photo
    } else if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        MediaKind::Video
    } else if ext.is_empty() {
        return Err("no file extension: not a supported photo or video type".to_owned());
    } else {
        return Err(format!("not a supported photo or video type (.{ext})"));
    };
    if size == 0 {
        return Err("empty file (looked at again if it grows)".to_owned());
    }
    let head = read_head(path).map_err(|e| format!("{}: {e}", crate::store::UNREADABLE_PREFIX))?;
    let (kind, mime) = sniff(&head, claimed, &ext).ok_or_else(|| {
        format!("the content is not a photo or video, although it is named .{ext}")
    })?;
    match kind {
        MediaKind::Photo if size > MAX_PHOTO_BYTES => Err(format!(
            "photo of {} is over Google's 200 MB limit",
            bytesize::ByteSize::b(size)
        )),
        MediaKind::Video if size > MAX_VIDEO_BYTES => Err(format!(
            "video of {} is over Google's 20 GB limit",
            bytesize::ByteSize::b(size)
        )),
        _ => Ok(mime),
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8192);
    std::fs::File::open(path)?
        .take(8192)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The media kind and MIME type the bytes really are.
fn sniff(head: &[u8], claimed: MediaKind, ext: &str) -> Option<(MediaKind, String)> {
    if claimed == MediaKind::Photo && is_camera_raw(head) {
        let mime = mime_guess::from_ext(ext)
            .first_raw()
            .unwrap_or("image/x-raw")
            .to_owned();
        return Some((MediaKind::Photo, mime));
    }
    if let Some(t) = infer::get(head) {
        let kind = match t.matcher_type() {
            infer::MatcherType::Image => MediaKind::Photo,
            infer::MatcherType::Video => MediaKind::Video,
            _ => return None,
        };
        return Some((kind, t.mime_type().to_owned()));
    }
    let by_extension = || {
        mime_guess::from_ext(ext)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned()
    };
    let tiff = head.starts_with(b"II*\0") || head.starts_with(b"MM\0*");
    // MPEG transport streams (.mts/.m2ts, with or without the 4-byte timestamp) and
    // program streams (.mod/.tod/.mpg) that `infer` does not know.
    let transport = head.first() == Some(&0x47) || head.get(4) == Some(&0x47);
    let program = head.starts_with(&[0, 0, 1, 0xba]);
    match claimed {
        MediaKind::Photo if tiff => Some((MediaKind::Photo, by_extension())),
        MediaKind::Video if transport || program => Some((MediaKind::Video, by_extension())),
        _ => None,
    }
}

/// Camera raw formats whose headers are not plain TIFF: Canon CR3 (ISO-BMFF brand `crx `),
/// Panasonic RW2 (`IIU\0`), Olympus ORF (`IIRO`, `IIRS`, `MMOR`), Fujifilm RAF.
fn is_camera_raw(head: &[u8]) -> bool {
    head.get(4..12) == Some(b"ftypcrx ".as_slice())
        || head.starts_with(b"IIU\0")
        || head.starts_with(b"IIRO")
        || head.starts_with(b"IIRS")
        || head.starts_with(b"MMOR")
        || head.starts_with(b"FUJIFILMCCD-RAW")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_raw_headers_are_photos() {
        for (head, ext) in [
            (&b"\0\0\0\x18ftypcrx \0\0\0\x01"[..], "cr3"),
            (b"IIU\0\x18\0\0\0", "rw2"),
            (b"IIRO\x08\0\0\0", "orf"),
            (b"FUJIFILMCCD-RAW 0201", "raf"),
            (b"II*\0\x08\0\0\0", "nef"),
        ] {
            let (kind, _) = sniff(head, MediaKind::Photo, ext).unwrap_or_else(|| panic!("{ext}"));
            assert_eq!(kind, MediaKind::Photo, "{ext}");
        }
    }

    #[test]
    fn clutter_is_ignored_by_name() {
        assert!(ignored_name("._IMG_0001.JPG", false).is_some());
        assert!(ignored_name(".IMG_0001.JPG.Xa3f9q", false).is_some());
        assert!(ignored_name("@eaDir", true).is_some());
        assert!(ignored_name("#recycle", true).is_some());
        assert!(ignored_name(".Trash-1000", true).is_some());
        assert!(ignored_name("Thumbs.db", false).is_some());
        assert!(ignored_name("clip.mp4.part", false).is_some());
        assert!(ignored_name("IMG_0001.JPG", false).is_none());
        assert!(ignored_name("2024", true).is_none());
    }

    #[test]
    fn types_need_both_a_known_extension_and_matching_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let jpeg = write(
            "a.JPG",
            &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'],
        );
        assert_eq!(classify(&jpeg, 10).unwrap(), "image/jpeg");
        let fake = write("b.JPG", b"this is text, not a picture");
        assert!(
            classify(&fake, 27)
                .unwrap_err()
                .contains("not a photo or video")
        );
        let txt = write("notes.txt", b"x");
        assert!(classify(&txt, 1).unwrap_err().contains(".txt"));
        let lrv = write("GL010001.LRV", b"x");
        assert!(classify(&lrv, 1).unwrap_err().contains("sidecar"));
        let empty = write("e.jpg", b"");
        assert!(classify(&empty, 0).unwrap_err().contains("empty"));
        let big = write(
            "big.jpg",
            &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'],
        );
        assert!(
            classify(&big, MAX_PHOTO_BYTES + 1)
                .unwrap_err()
                .contains("200 MB")
        );
    }
}
