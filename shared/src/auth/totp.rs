//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s), as ordinary authenticator apps do it.

use base64::Engine;
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

use crate::error::ApiError;

pub const ISSUER: &str = "Stockroom";
const STEP_SECS: u64 = 30;

/// A new 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP, ApiError> {
    // The label may not contain ':'; emails do not, but be safe.
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account,
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("TOTP setup: {e}")))
}

/// The `otpauth://totp/...` URI authenticator apps import.
pub fn otpauth_uri(secret: &[u8], account: &str) -> Result<String, ApiError> {
    Ok(totp(secret, account)?.get_url())
}

/// The secret in base32, for typing into an app by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// The URI as a QR code, an SVG image in a `data:` URI.
pub fn qr_code_data_uri(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| ApiError::Internal(e.into()))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The time step `code` matches (now, or one step either side for clock drift), provided it is
/// later than `last_step`: a code is accepted at most once.
pub fn verify(
    secret: &[u8],
    code: &str,
    last_step: Option<i64>,
    now_unix: u64,
) -> Result<Option<i64>, ApiError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret, "x")?;
    for offset in [-1i64, 0, 1] {
        let time = now_unix.saturating_add_signed(offset * STEP_SECS as i64);
        let step = (time / STEP_SECS) as i64;
        if last_step.is_some_and(|last| step <= last) {
            continue;
        }
        if totp.check(code, time) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890"; // RFC 6238 test secret

    #[test]
    fn rfc_6238_vector_is_accepted() {
        // RFC 6238 SHA-1 at T = 59 s: 94287082 (8 digits); the 6-digit code is its tail.
        assert_eq!(verify(SECRET, "287082", None, 59).unwrap(), Some(1));
    }

    #[test]
    fn a_code_is_accepted_once() {
        let step = verify(SECRET, "287082", None, 59).unwrap();
        assert_eq!(verify(SECRET, "287082", step, 59).unwrap(), None);
    }

    #[test]
    fn neighbouring_steps_are_tolerated_but_not_further() {
        assert!(verify(SECRET, "287082", None, 59 + 30).unwrap().is_some());
        assert!(verify(SECRET, "287082", None, 59 + 90).unwrap().is_none());
    }

    #[test]
    fn garbage_is_not_a_code() {
        assert_eq!(verify(SECRET, "28708a", None, 59).unwrap(), None);
        assert_eq!(verify(SECRET, "", None, 59).unwrap(), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let uri = otpauth_uri(SECRET, "ann@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Stockroom:ann%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("secret={}", secret_base32(SECRET))),
            "{uri}"
        );
        assert!(uri.contains("issuer=Stockroom"));
        assert!(
            qr_code_data_uri(&uri)
                .unwrap()
                .starts_with("data:image/svg+xml;base64,")
        );
    }
}
