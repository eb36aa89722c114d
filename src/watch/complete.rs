//! Whether a file's bytes are all there: a structural check, made before a file is queued,
//! for the formats whose end can be verified without ever calling a complete file
//! incomplete.
//!
//! Quiet periods alone cannot tell a finished copy from a paused one (a camera or a slow
//! share pausing longer than `settle`, a writer that closes and reopens). The formats below
//! say where they end, so a truncated file is recognised from its header and its tail:
//!
//! - ISO-BMFF (MP4, MOV, M4V, 3GP, HEIC/HEIF, AVIF, CR3): the top-level boxes must tile
//!   the file; a box running past the end is a truncated file. Bytes after the last box
//!   that are no box header (too short, or a type that is no four-character code) are
//!   junk some tool appended, not missing data: unchecked.
//! - PNG: the `IEND` chunk is in the tail.
//! - WebP (RIFF): the file is at least as long as its RIFF header says.
//! - JPEG: an end-of-image marker follows the first start-of-scan, in the last
//!   [`TAIL_WINDOW`]. Not "at the very end": phones append motion-photo videos and other
//!   trailers after it. Compressed scan data never holds `FF D9`, so a cut-off scan is
//!   recognised; a trailer's random bytes make a false "incomplete" practically impossible.
//!
//! Every other format is [`Completeness::Unchecked`]. Memory stays bounded: at most the
//! tail window is read, plus box and segment headers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much of a file's end is searched for an end marker.
pub const TAIL_WINDOW: u64 = 1024 * 1024;

/// Headers walked at most before giving up (then the file counts as unchecked).
const MAX_HEADERS: usize = 100_000;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The `IEND` chunk type and its CRC: the last 8 bytes of every PNG.
const PNG_END: &[u8] = b"IEND\xae\x42\x60\x82";
/// Top-level QuickTime atoms a `.mov` may start with instead of `ftyp`.
const QUICKTIME_FIRST: &[&[u8; 4]] = &[b"wide", b"free", b"skip", b"mdat", b"moov", b"pnot"];

/// What the structure of a file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// The format's end is there.
    Complete,
    /// A format this module cannot verify (or a malformed file): nothing is held back.
    Unchecked,
    /// Bytes are missing; the reason says which.
    Incomplete(String),
}

/// Checks the file at `path`. Unreadable files are [`Completeness::Unchecked`]: reading
/// them fails later with its own clear reason.
pub fn check(path: &Path) -> Completeness {
    let Ok(mut file) = File::open(path) else {
        return Completeness::Unchecked;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return Completeness::Unchecked;
    };
    let mut head = [0u8; 16];
    let n = read_at(&mut file, 0, &mut head).unwrap_or(0);
    let head = &head[..n];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let result = if head.starts_with(PNG_SIGNATURE) {
        png(&mut file, len)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        let declared = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]])) + 8;
        Ok(if len < declared {
            Completeness::Incomplete(format!(
                "the RIFF header announces {declared} bytes, the file has {len}"
            ))
        } else {
            Completeness::Complete
        })
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        jpeg(&mut file, len)
    } else if head.len() >= 8 && is_iso_bmff(&head[4..8], &ext) {
        iso_bmff(&mut file, len)
    } else {
        Ok(Completeness::Unchecked)
    };
    result.unwrap_or(Completeness::Unchecked)
}

/// Why a file that is not queued yet waits, for `gphotosd status PATH`: `None` when it
/// looks complete, or is old enough to be uploaded as it is.
pub fn explain_wait(path: &Path, wait: Duration) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age >= wait {
        return None;
    }
    match check(path) {
        Completeness::Incomplete(why) => Some(waiting_message(&why, wait)),
        _ => None,
    }
}

/// "looks incomplete: …; waiting until …", as status and logs show it.
pub fn waiting_message(why: &str, wait: Duration) -> String {
    format!(
        "looks incomplete: {why}; waiting until it is complete or unchanged for {}",
        humantime::format_duration(wait)
    )
}

/// Whether a file modified at `mtime_ns` (ns since the epoch) is still within `wait`.
pub fn is_recent(mtime_ns: i64, wait: Duration) -> bool {
    age(mtime_ns) < wait
}

/// How long ago `mtime_ns` (ns since the epoch) was; zero for a time in the future.
pub fn age(mtime_ns: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(Duration::from_nanos(u64::try_from(mtime_ns).unwrap_or(0)))
}

fn is_iso_bmff(first_type: &[u8], ext: &str) -> bool {
    first_type == b"ftyp"
        || (matches!(ext, "mov" | "qt" | "mp4" | "m4v")
            && QUICKTIME_FIRST.iter().any(|t| t.as_slice() == first_type))
}

/// Reads as much of `buf` as the file has from `offset`; returns the count.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Whether `needle` occurs in the last [`TAIL_WINDOW`] bytes, starting no earlier than
/// `from`. Searched from the end backwards in small blocks: an end marker is nearly always
/// in a file's last bytes, so one block is read instead of the whole window (which matters
/// for a scan of many large photos, above all on a network share).
fn tail_contains(file: &mut File, len: u64, from: u64, needle: &[u8]) -> std::io::Result<bool> {
    const BLOCK: u64 = 64 * 1024;
    let start = from.max(len.saturating_sub(TAIL_WINDOW));
    // Each block reaches `overlap` bytes into the next one, for a needle across the seam.
    let overlap = needle.len().saturating_sub(1) as u64;
    let mut buf = vec![0u8; usize::try_from(BLOCK + overlap).unwrap_or(0)];
    let mut end = len;
    while end > start {
        let block_start = end.saturating_sub(BLOCK).max(start);
        let block_end = (end + overlap).min(len);
        let want = usize::try_from(block_end - block_start).unwrap_or(0);
        let n = read_at(file, block_start, &mut buf[..want])?;
        if contains(&buf[..n], needle) {
            return Ok(true);
        }
        end = block_start;
    }
    Ok(false)
}

/// Whether `needle` occurs in `haystack`, looked for from the end (where end markers are)
/// and comparing the first byte before the rest.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .windows(needle.len())
        .rev()
        .any(|w| w[0] == first && &w[1..] == rest)
}

fn png(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    // Searched, not required at the very end: some tools append data after IEND.
    Ok(if tail_contains(file, len, 8, PNG_END)? {
        Completeness::Complete
    } else {
        Completeness::Incomplete("the PNG has no IEND chunk at its end".to_owned())
    })
}

fn iso_bmff(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    let mut offset = 0u64;
    for _ in 0..MAX_HEADERS {
        if offset == len {
            return Ok(Completeness::Complete);
        }
        let mut header = [0u8; 16];
        let n = read_at(file, offset, &mut header)?;
        if n < 8 || !is_fourcc(&header[4..8]) {
            return Ok(Completeness::Unchecked);
        }
        let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
        let size = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 => return Ok(Completeness::Complete), // the last box runs to the end
            1 if n < 16 => {
                return Ok(Completeness::Incomplete(format!(
                    "the header of the `{kind}` box at byte {offset} is cut off"
                )));
            }
            1 => u64::from_be_bytes(header[8..16].try_into().unwrap_or([0; 8])),
            s => u64::from(s),
        };
        if size < 8 {
            return Ok(Completeness::Unchecked); // malformed: Google decides
        }
        let end = offset.saturating_add(size);
        if end > len {
            return Ok(Completeness::Incomplete(format!(
                "the `{kind}` box at byte {offset} needs {size} bytes, {} are there",
                len - offset
            )));
        }
        offset = end;
    }
    Ok(Completeness::Unchecked)
}

/// Whether `t` can be a box type: letters, digits, spaces (and `©` of QuickTime atoms).
fn is_fourcc(t: &[u8]) -> bool {
    t.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b' ' || b == 0xa9)
}

fn jpeg(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    // Walk the segments before the first scan by their lengths: an EXIF thumbnail's own
    // end marker lies inside them and must not count.
    let mut offset = 2u64;
    for _ in 0..MAX_HEADERS {
        let mut header = [0u8; 4];
        let n = read_at(file, offset, &mut header)?;
        if n < 4 {
            return Ok(Completeness::Incomplete(
                "the JPEG ends before its image data".to_owned(),
            ));
        }
        if header[0] != 0xff {
            return Ok(Completeness::Unchecked);
        }
        match header[1] {
            0xff => offset += 1, // fill byte
            0xd9 => return Ok(Completeness::Complete),
            0x01 | 0xd0..=0xd7 => offset += 2, // markers without a length
            marker => {
                let length = u64::from(u16::from_be_bytes([header[2], header[3]]));
                let end = offset + 2 + length;
                if end > len {
                    return Ok(Completeness::Incomplete(
                        "the JPEG ends inside a header segment".to_owned(),
                    ));
                }
                if marker == 0xda {
                    return Ok(if tail_contains(file, len, end, &[0xff, 0xd9])? {
                        Completeness::Complete
                    } else {
                        Completeness::Incomplete(
                            "the JPEG has no end-of-image marker after its image data".to_owned(),
                        )
                    });
                }
                offset = end;
            }
        }
    }
    Ok(Completeness::Unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::watch::tests::fixture;

    const MEDIA: &[&str] = &[
        "GOPR0001.JPG",
        "IMG_0002.JPG",
        "IMG_0003.PNG",
        "IMG_0004.HEIC",
        "IMG_0005.WEBP",
        "GX010001.MP4",
        "GX020001.MP4",
        "MVI_0006.MOV",
        "GL010001.LRV",
        "GX010001.THM",
    ];

    #[test]
    fn every_media_fixture_is_complete() {
        for name in MEDIA {
            assert_eq!(check(&fixture(name)), Completeness::Complete, "{name}");
        }
        for name in ["CORRUPT.JPG", "EMPTY.JPG", "notes.txt"] {
            assert_eq!(check(&fixture(name)), Completeness::Unchecked, "{name}");
        }
    }

    #[test]
    fn truncated_copies_are_incomplete_and_trailers_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        for name in MEDIA {
            let bytes = std::fs::read(fixture(name)).unwrap();
            for cut in [bytes.len() / 3, bytes.len() * 4 / 5, bytes.len() - 1] {
                let p = dir.path().join(name);
                std::fs::write(&p, &bytes[..cut]).unwrap();
                assert!(
                    matches!(check(&p), Completeness::Incomplete(_)),
                    "{name} cut at {cut} of {}",
                    bytes.len()
                );
            }
        }
        // Trailers after the end of a JPEG (motion photos), a PNG or a video are not
        // missing bytes.
        for name in [
            "GOPR0001.JPG",
            "IMG_0002.JPG",
            "IMG_0003.PNG",
            "GX010001.MP4",
        ] {
            let mut bytes = std::fs::read(fixture(name)).unwrap();
            bytes.extend_from_slice(b"\0\0\0\0");
            let p = dir.path().join(name);
            std::fs::write(&p, &bytes).unwrap();
            assert!(
                !matches!(check(&p), Completeness::Incomplete(_)),
                "{name} + 4 bytes"
            );
        }
    }

    #[test]
    fn an_end_marker_is_found_anywhere_in_the_tail_window_and_not_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jpg");
        let scan_start: &[u8] = &[0xff, 0xd8, 0xff, 0xda, 0x00, 0x04, 0x01, 0x02];
        let window = usize::try_from(TAIL_WINDOW).unwrap();
        // End markers followed by trailers of every interesting length: none, across a
        // 64 KiB block seam, deep in the window, just inside it, just outside it.
        for (trailer, complete) in [
            (0, true),
            (64 * 1024 - 1, true),
            (64 * 1024, true),
            (300_000, true),
            (window - 2, true),
            (window - 1, false),
        ] {
            let mut bytes = scan_start.to_vec();
            bytes.resize(scan_start.len() + 2 * window, 0x11);
            bytes.extend_from_slice(&[0xff, 0xd9]);
            bytes.resize(bytes.len() + trailer, 0x22);
            std::fs::write(&p, &bytes).unwrap();
            let expected = if complete {
                Completeness::Complete
            } else {
                Completeness::Incomplete(
                    "the JPEG has no end-of-image marker after its image data".to_owned(),
                )
            };
            assert_eq!(check(&p), expected, "trailer of {trailer} bytes");
        }
    }

    #[test]
    fn a_box_of_64_bit_size_or_running_to_the_end_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.mp4");
        let mut bytes = b"\0\0\0\x10ftypisom\0\0\0\0".to_vec();
        bytes.extend_from_slice(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x18");
        bytes.extend_from_slice(&[7; 8]);
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(check(&p), Completeness::Complete);
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        assert!(matches!(check(&p), Completeness::Incomplete(m) if m.contains("mdat")));
        let mut open_ended = b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\0mdat".to_vec();
        open_ended.extend_from_slice(&[1; 100]);
        std::fs::write(&p, &open_ended).unwrap();
        assert_eq!(check(&p), Completeness::Complete);
    }
}
