//! What a file is: the types an upload may declare, and what its first bytes say it is.

use serde::{Deserialize, Serialize};

/// A type an upload may be. Anything else is refused when it is asked for (422 naming it), and
/// an object whose first bytes are not its declared type is refused when it is completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum FileType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "application/pdf")]
    Pdf,
}

impl FileType {
    pub const ALL: [FileType; 4] = [Self::Jpeg, Self::Png, Self::Webp, Self::Pdf];

    /// The media type, as declared and as stored.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
        }
    }

    pub fn parse(mime: &str) -> Option<Self> {
        let mime = mime.trim().to_ascii_lowercase();
        // `image/jpg` is what some clients send for JPEG.
        match mime.as_str() {
            "image/jpg" => Some(Self::Jpeg),
            _ => Self::ALL.into_iter().find(|t| t.mime() == mime),
        }
    }

    /// The allowed media types, for messages.
    pub fn list() -> String {
        Self::ALL.map(Self::mime).join(", ")
    }

    pub fn is_image(self) -> bool {
        !matches!(self, Self::Pdf)
    }

    /// The type `head` (a file's first bytes) is, by its signature; `None` for anything else
    /// (an executable, HTML, SVG, a GIF, a ZIP, text).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        match head {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Self::Png),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::Webp),
            [b'%', b'P', b'D', b'F', b'-', ..] => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The pixels of an image whose first bytes are `head`, read from its header (a JPEG's frame
    /// header may come after up to 64 KB of metadata); `None` when the header is not in `head`
    /// or is broken.
    pub fn dimensions(self, head: &[u8]) -> Option<(u32, u32)> {
        let format = match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            // The header chunk comes first, at a fixed place (the decoder would also want the
            // chunks up to the image data).
            Self::Png => {
                return match head.get(12..24) {
                    Some([b'I', b'H', b'D', b'R', w @ .., h0, h1, h2, h3]) => {
                        let width = u32::from_be_bytes((*w).try_into().ok()?);
                        let height = u32::from_be_bytes([*h0, *h1, *h2, *h3]);
                        (width > 0 && height > 0).then_some((width, height))
                    }
                    _ => None,
                };
            }
            Self::Webp => image::ImageFormat::WebP,
            Self::Pdf => return None,
        };
        image::ImageReader::with_format(std::io::Cursor::new(head), format)
            .into_dimensions()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::FileType;

    #[test]
    fn signatures_name_the_allowed_types_and_nothing_else() {
        assert_eq!(
            FileType::sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
            Some(FileType::Jpeg)
        );
        assert_eq!(
            FileType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(FileType::Png)
        );
        assert_eq!(
            FileType::sniff(b"RIFF\x24\0\0\0WEBPVP8 "),
            Some(FileType::Webp)
        );
        assert_eq!(FileType::sniff(b"%PDF-1.7\n"), Some(FileType::Pdf));
        for other in [
            &b"MZ\x90\0\x03\0\0\0"[..],
            b"\x7FELF\x02\x01\x01",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\">",
            b"<!DOCTYPE html><html>",
            b"GIF89a",
            b"PK\x03\x04",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"",
        ] {
            assert_eq!(FileType::sniff(other), None, "{other:?}");
        }
    }

    #[test]
    fn media_types_parse_as_clients_send_them() {
        assert_eq!(FileType::parse("image/JPEG"), Some(FileType::Jpeg));
        assert_eq!(FileType::parse("image/jpg"), Some(FileType::Jpeg));
        assert_eq!(FileType::parse(" application/pdf "), Some(FileType::Pdf));
        assert_eq!(FileType::parse("image/svg+xml"), None);
        assert_eq!(FileType::parse("text/html"), None);
    }

    #[test]
    fn a_png_header_gives_its_declared_size_without_the_pixels() {
        // A PNG whose header declares 50,000 x 50,000 pixels, and nothing after it.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&50_000u32.to_be_bytes());
        png.extend_from_slice(&50_000u32.to_be_bytes());
        assert_eq!(FileType::Png.dimensions(&png), Some((50_000, 50_000)));
        assert_eq!(FileType::Png.dimensions(&png[..20]), None);
    }
}
