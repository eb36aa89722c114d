//! Content sniffing: decides from the first bytes of an upload whether Google Photos would
//! accept it (a supported photo or video format) and, where it is cheap, its pixel size.
//! Detection is by magic numbers only (the `infer` crate plus 3GP and MPEG-TS, which it
//! lacks), never by file name — so a GoPro `.LRV` (an MP4) and `.THM` (a JPEG) pass, just
//! as they would if Google sniffs content. Anything else gets per-item `BAD_IMAGE`.

/// How many leading bytes of every upload are kept for sniffing. JPEG dimensions sit after
/// the EXIF segment, which is at most 64 KiB.
pub(crate) const HEAD_LEN: usize = 64 * 1024 + 1024;

/// What the bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detected {
    pub mime: &'static str,
    pub video: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Formats from Google's upload-media page ("AVIF, BMP, GIF, HEIC, ICO, JPG, PNG, TIFF,
/// WEBP, some RAW" and "3GP, ASF, AVI, …, MOV, MP4, MPG, MTS, WMV"), as `infer` names them.
const PHOTOS: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heif",
    "image/avif",
    "image/bmp",
    "image/tiff",
    "image/x-canon-cr2",
    "image/vnd.microsoft.icon",
];
const VIDEOS: &[&str] = &[
    "video/mp4",
    "video/x-m4v",
    "video/quicktime",
    "video/x-matroska",
    "video/x-msvideo",
    "video/x-ms-wmv",
    "video/mpeg",
];

/// Sniffs `head`; `None` means "not a photo or video Google accepts".
pub(crate) fn sniff(head: &[u8]) -> Option<Detected> {
    if let Some(mime) = sniff_extra(head) {
        return Some(Detected {
            mime,
            video: true,
            width: None,
            height: None,
        });
    }
    if let Some(mime) = sniff_camera_raw(head) {
        return Some(Detected {
            mime,
            video: false,
            width: None,
            height: None,
        });
    }
    let kind = infer::get(head)?;
    let mime = PHOTOS
        .iter()
        .chain(VIDEOS)
        .find(|m| **m == kind.mime_type())?;
    let video = VIDEOS.contains(mime);
    let (width, height) = if video {
        (None, None)
    } else {
        dimensions(mime, head).map_or((None, None), |(w, h)| (Some(w), Some(h)))
    };
    Some(Detected {
        mime,
        video,
        width,
        height,
    })
}

/// 3GP/3G2 (an `ftyp` brand `infer` does not list) and MPEG transport streams (.MTS/.M2TS
/// from camcorders: a 0x47 sync byte every 188 bytes, or every 192 with a 4-byte prefix).
fn sniff_extra(b: &[u8]) -> Option<&'static str> {
    if b.len() >= 12 && &b[4..8] == b"ftyp" && (&b[8..11] == b"3gp" || &b[8..11] == b"3g2") {
        return Some("video/3gpp");
    }
    let ts = |start: usize, stride: usize| {
        b.len() > start + 2 * stride && (0..3).all(|i| b[start + i * stride] == 0x47)
    };
    if ts(0, 188) || ts(4, 192) {
        return Some("video/mp2t");
    }
    None
}

/// Camera raw containers `infer` does not know: Canon CR3 (ISO-BMFF brand `crx `),
/// Panasonic RW2 (`IIU\0`), Olympus ORF (`IIRO`, `IIRS`, `MMOR`), Fujifilm RAF. Google
/// accepts "some RAW files", per camera model; the emulator cannot know the model, so it
/// accepts these formats as a whole (TIFF-based raws — DNG, NEF, ARW, GPR — already pass as
/// TIFF, CR2 by `infer`).
fn sniff_camera_raw(b: &[u8]) -> Option<&'static str> {
    if b.len() >= 12 && &b[4..8] == b"ftyp" && &b[8..12] == b"crx " {
        return Some("image/x-canon-cr3");
    }
    if b.starts_with(b"IIU\0") {
        return Some("image/x-panasonic-rw2");
    }
    if [b"IIRO", b"IIRS", b"MMOR"]
        .iter()
        .any(|m| b.starts_with(*m))
    {
        return Some("image/x-olympus-orf");
    }
    if b.starts_with(b"FUJIFILMCCD-RAW") {
        return Some("image/x-fuji-raf");
    }
    None
}

fn dimensions(mime: &str, b: &[u8]) -> Option<(u32, u32)> {
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le32 =
        |i: usize| Some(i32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?).unsigned_abs());
    match mime {
        "image/png" => Some((be32(16)?, be32(20)?)),
        "image/gif" => Some((le16(6)?, le16(8)?)),
        "image/bmp" => Some((le32(18)?, le32(22)?)),
        "image/jpeg" => jpeg_dimensions(b),
        _ => None,
    }
}

/// Walks JPEG segments to the first SOFn marker.
fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        while *b.get(i)? != 0xFF {
            i += 1;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        if matches!(marker, 0xD0..=0xD9 | 0x01) {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = u16::from_be_bytes([*b.get(i + 3)?, *b.get(i + 4)?]);
            let w = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]);
            return Some((u32::from(w), u32::from(h)));
        }
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_jpeg_sizes_are_read() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(640u32.to_be_bytes());
        png.extend(480u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0]);
        let d = sniff(&png).unwrap();
        assert_eq!(
            (d.mime, d.width, d.height),
            ("image/png", Some(640), Some(480))
        );

        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, b'J', b'F', 0xFF, 0xC0, 0, 11, 8, 0, 30, 0, 40, 3, 0,
        ];
        let d = sniff(&jpeg).unwrap();
        assert_eq!((d.width, d.height), (Some(40), Some(30)));
    }

    #[test]
    fn camera_raws_infer_does_not_know_are_photos() {
        for (head, mime) in [
            (&b"\0\0\0\x18ftypcrx \0\0\0\x01"[..], "image/x-canon-cr3"),
            (b"IIU\0\x18\0\0\0", "image/x-panasonic-rw2"),
            (b"IIRO\x08\0\0\0", "image/x-olympus-orf"),
            (b"FUJIFILMCCD-RAW 0201", "image/x-fuji-raf"),
        ] {
            let d = sniff(head).unwrap_or_else(|| panic!("{mime} refused"));
            assert_eq!((d.mime, d.video), (mime, false));
        }
        assert!(
            sniff(b"\0\0\0\x18ftypcrxx\0\0\0\x01").is_none_or(|d| d.mime != "image/x-canon-cr3")
        );
    }

    #[test]
    fn text_and_audio_are_rejected_but_transport_streams_pass() {
        assert!(sniff(b"hello world, definitely not a photo").is_none());
        assert!(sniff(b"ID3\x03\0\0\0\0\0\0 mp3 audio").is_none());
        let mut ts = vec![0u8; 188 * 3];
        for i in 0..3 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(sniff(&ts).unwrap().mime, "video/mp2t");
    }
}
