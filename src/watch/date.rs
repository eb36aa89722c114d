//! When a photo or video was taken, where a few small reads tell: EXIF `DateTimeOriginal`
//! in JPEG (APP1) and TIFF-based raw files (DNG, CR2, NEF, ARW, ...), and the `mvhd`
//! creation time of MP4/MOV. Anything else (HEIC, PNG, a missing tag) answers `None` and
//! the caller falls back to the mtime. Only album templates with `{year}`/`{month}` ask.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, Datelike, Local};

/// How much of a JPEG or TIFF is read looking for EXIF.
const EXIF_WINDOW: u64 = 128 * 1024;
/// Seconds from 1904-01-01 (QuickTime's epoch) to 1970-01-01.
const QUICKTIME_EPOCH_OFFSET: i64 = 2_082_844_800;

/// (year, month) the file was taken, else of its mtime (`mtime_ns`) in local time.
pub fn year_month(path: &Path, mtime_ns: i64) -> (i32, u32) {
    capture_year_month(path).unwrap_or_else(|| {
        let local = DateTime::from_timestamp_nanos(mtime_ns).with_timezone(&Local);
        (local.year(), local.month())
    })
}

/// (year, month) from the file's own metadata, if it has any we read.
pub fn capture_year_month(path: &Path) -> Option<(i32, u32)> {
    let mut file = File::open(path).ok()?;
    let mut head = Vec::new();
    (&mut file).take(EXIF_WINDOW).read_to_end(&mut head).ok()?;
    if head.starts_with(&[0xff, 0xd8]) {
        return exif_in_jpeg(&head);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return exif_date(&head);
    }
    if head
        .get(4..8)
        .is_some_and(|t| t == b"ftyp" || t == b"moov" || t == b"wide")
    {
        return quicktime_year_month(&mut file);
    }
    None
}

fn exif_in_jpeg(jpeg: &[u8]) -> Option<(i32, u32)> {
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xff {
        let marker = jpeg[pos + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        if marker == 0xda {
            return None; // image data starts: no EXIF before it
        }
        let body = jpeg.get(pos + 4..pos + 2 + len)?;
        if marker == 0xe1 && body.starts_with(b"Exif\0\0") {
            return exif_date(&body[6..]);
        }
        pos += 2 + len;
    }
    None
}

/// Reads `DateTimeOriginal` (or `DateTime`) from a TIFF structure.
fn exif_date(tiff: &[u8]) -> Option<(i32, u32)> {
    let big = tiff.starts_with(b"MM");
    let u16_at = |at: usize| {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as usize)
    };
    // The value of `tag` in the IFD at `ifd`: its offset for ASCII, or the LONG itself.
    let find = |ifd: usize, tag: u16| -> Option<usize> {
        let count = usize::from(u16_at(ifd)?);
        (0..count.min(512)).find_map(|i| {
            let entry = ifd + 2 + i * 12;
            (u16_at(entry)? == tag).then(|| u32_at(entry + 8))?
        })
    };
    let ifd0 = u32_at(4)?;
    let from_exif = find(ifd0, 0x8769).and_then(|exif| find(exif, 0x9003));
    let at = from_exif.or_else(|| find(ifd0, 0x0132))?;
    // "YYYY:MM:DD HH:MM:SS"
    let text = std::str::from_utf8(tiff.get(at..at + 7)?).ok()?;
    let year: i32 = text.get(0..4)?.parse().ok()?;
    let month: u32 = text.get(5..7)?.parse().ok()?;
    ((1900..=9999).contains(&year) && (1..=12).contains(&month)).then_some((year, month))
}

/// Walks top-level boxes to `moov`, then its children to `mvhd`.
fn quicktime_year_month(file: &mut File) -> Option<(i32, u32)> {
    let end = file.metadata().ok()?.len();
    let moov = find_box(file, 0, end, b"moov")?;
    let mvhd = find_box(file, moov.0, moov.1, b"mvhd")?;
    file.seek(SeekFrom::Start(mvhd.0)).ok()?;
    let mut header = [0u8; 12];
    file.read_exact(&mut header).ok()?;
    let secs = if header[0] == 1 {
        i64::try_from(u64::from_be_bytes(header[4..12].try_into().ok()?)).ok()?
    } else {
        i64::from(u32::from_be_bytes(header[4..8].try_into().ok()?))
    };
    if secs == 0 {
        return None; // not set by the writer
    }
    let taken = DateTime::from_timestamp(secs - QUICKTIME_EPOCH_OFFSET, 0)?;
    (taken.year() >= 1971).then(|| (taken.year(), taken.month()))
}

/// The (content start, content end) of the first box named `name` in `[start, end)`.
fn find_box(file: &mut File, start: u64, end: u64, name: &[u8; 4]) -> Option<(u64, u64)> {
    let mut pos = start;
    for _ in 0..256 {
        if pos + 8 > end {
            return None;
        }
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut header = [0u8; 16];
        file.read_exact(&mut header[..8]).ok()?;
        let mut size = u64::from(u32::from_be_bytes(header[..4].try_into().ok()?));
        let mut header_len = 8;
        if size == 1 {
            file.read_exact(&mut header[8..]).ok()?;
            size = u64::from_be_bytes(header[8..16].try_into().ok()?);
            header_len = 16;
        } else if size == 0 {
            size = end - pos;
        }
        if size < header_len {
            return None;
        }
        if &header[4..8] == name {
            return Some((pos + header_len, (pos + size).min(end)));
        }
        pos += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::watch::tests::fixture;

    #[test]
    fn exif_date_time_original_of_a_camera_jpeg() {
        assert_eq!(
            capture_year_month(&fixture("GOPR0001.JPG")),
            Some((2024, 7))
        );
    }

    #[test]
    fn files_without_a_readable_date_fall_back_to_the_mtime() {
        assert_eq!(capture_year_month(&fixture("IMG_0003.PNG")), None);
        assert_eq!(capture_year_month(&fixture("CORRUPT.JPG")), None);
        // 2021-03-04T05:06:07Z, late enough in the month for every time zone.
        let mtime = 1_614_834_367 * 1_000_000_000 + 10 * 86_400 * 1_000_000_000;
        assert_eq!(year_month(&fixture("IMG_0003.PNG"), mtime), (2021, 3));
    }

    #[test]
    fn quicktime_creation_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mov");
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0, 0, 0, 16]);
        bytes.extend_from_slice(b"ftypqt  \0\0\0\0");
        bytes.extend_from_slice(&[0, 0, 0, 16]);
        bytes.extend_from_slice(b"mdat12345678");
        let created = 1_700_000_000i64 + QUICKTIME_EPOCH_OFFSET; // 2023-11-14
        let mut mvhd = vec![0u8; 4];
        mvhd.extend_from_slice(&(created as u32).to_be_bytes());
        mvhd.extend_from_slice(&[0; 8]);
        let mvhd_box = [&((8 + mvhd.len()) as u32).to_be_bytes()[..], b"mvhd", &mvhd].concat();
        let moov = [
            &((8 + mvhd_box.len()) as u32).to_be_bytes()[..],
            b"moov",
            &mvhd_box,
        ]
        .concat();
        bytes.extend_from_slice(&moov);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(capture_year_month(&path), Some((2023, 11)));
    }
}
