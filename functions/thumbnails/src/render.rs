//! Thumbnails of an image: decoded within limits (a decompression bomb is refused before its
//! pixels are allocated), turned upright as its EXIF orientation says, scaled down to each size
//! on its longer side (never up), and encoded as JPEG, or lossless WebP when it has
//! transparency.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use shared::storage::FileType;

/// JPEG quality of the thumbnails: small files, no visible blocks at these sizes.
const JPEG_QUALITY: u8 = 82;

/// Thumbnails of one image.
#[derive(Debug)]
pub struct Thumbnails {
    /// `jpeg` or `webp`.
    pub format: &'static str,
    pub content_type: &'static str,
    /// The upright image's pixels.
    pub width: u32,
    pub height: u32,
    /// One per size asked for, in that order.
    pub images: Vec<Vec<u8>>,
}

/// Why an image gets no thumbnails: nothing to retry.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("not an image type")]
    NotAnImage,
    #[error("{0} x {1} pixels is more than the limit")]
    TooLarge(u32, u32),
    #[error("the image cannot be decoded: {0}")]
    Broken(#[from] image::ImageError),
}

/// Thumbnails of `bytes`, an image of `file_type`, at each of `sizes`, for an image of at most
/// `max_pixels`.
pub fn render(
    bytes: &[u8],
    file_type: FileType,
    sizes: &[u32],
    max_pixels: u64,
) -> Result<Thumbnails, Refused> {
    let format = match file_type {
        FileType::Jpeg => ImageFormat::Jpeg,
        FileType::Png => ImageFormat::Png,
        FileType::Webp => ImageFormat::WebP,
        FileType::Pdf => return Err(Refused::NotAnImage),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Each side and the whole allocation bounded by the pixel limit (4 bytes a pixel, 16-bit
    // images twice that), checked again on the header below.
    let side = u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(Refused::TooLarge(width, height));
    }
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    let alpha = image.color().has_alpha();
    let (format, content_type) = if alpha {
        ("webp", "image/webp")
    } else {
        ("jpeg", "image/jpeg")
    };
    // Largest first: each smaller one is scaled from the one before (cheaper, and as sharp).
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut images = vec![Vec::new(); sizes.len()];
    let (full_width, full_height) = (image.width(), image.height());
    let mut source = image;
    for i in order {
        let px = sizes[i];
        if source.width().max(source.height()) > px {
            source = source.thumbnail(px, px);
        }
        images[i] = encode(&source, alpha)?;
    }
    Ok(Thumbnails {
        format,
        content_type,
        width: full_width,
        height: full_height,
        images,
    })
}

fn encode(image: &DynamicImage, alpha: bool) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    if alpha {
        let rgba = image.to_rgba8();
        rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out))?;
    } else {
        let rgb = image.to_rgb8();
        rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use shared::storage::FileType;
    use shared::testing::files::{jpeg, png, png_bomb};

    use super::{Refused, render};

    const LIMIT: u64 = 100_000_000;

    #[test]
    fn a_photo_is_scaled_to_each_size_on_its_longer_side_as_jpeg() {
        let thumbs = render(&jpeg(1600, 1200), FileType::Jpeg, &[256, 1024], LIMIT).unwrap();
        assert_eq!(
            (thumbs.format, thumbs.width, thumbs.height),
            ("jpeg", 1600, 1200)
        );
        let sizes: Vec<(u32, u32)> = thumbs
            .images
            .iter()
            .map(|bytes| {
                let image = image::load_from_memory(bytes).unwrap();
                (image.width(), image.height())
            })
            .collect();
        assert_eq!(sizes, [(256, 192), (1024, 768)]);
    }

    #[test]
    fn a_small_image_is_not_scaled_up() {
        let thumbs = render(&png(100, 40), FileType::Png, &[256, 1024], LIMIT).unwrap();
        for bytes in &thumbs.images {
            let image = image::load_from_memory(bytes).unwrap();
            assert_eq!((image.width(), image.height()), (100, 40));
        }
    }

    #[test]
    fn transparency_is_kept_in_lossless_webp() {
        let mut image = image::RgbaImage::new(600, 300);
        image.put_pixel(0, 0, image::Rgba([255, 0, 0, 0]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        let thumbs = render(bytes.get_ref(), FileType::Png, &[256], LIMIT).unwrap();
        assert_eq!((thumbs.format, thumbs.content_type), ("webp", "image/webp"));
        let small = image::load_from_memory(&thumbs.images[0]).unwrap();
        assert!(small.color().has_alpha());
        assert_eq!((small.width(), small.height()), (256, 128));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_its_pixels_are_allocated() {
        let refused = render(&png_bomb(50_000, 50_000), FileType::Png, &[256], LIMIT).unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::TooLarge(50_000, 50_000) | Refused::Broken(_)
            ),
            "{refused:?}"
        );
        let refused = render(b"<svg></svg>", FileType::Png, &[256], LIMIT).unwrap_err();
        assert!(matches!(refused, Refused::Broken(_)), "{refused:?}");
        assert!(matches!(
            render(b"%PDF-1.7", FileType::Pdf, &[256], LIMIT),
            Err(Refused::NotAnImage)
        ));
    }
}
