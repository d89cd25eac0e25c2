//! How a webhook delivery is signed: `Stockroom-Signature: t=<unix seconds>,v1=<hex>` where
//! the hex is HMAC-SHA256, keyed with the endpoint's secret (the whole `whsec_…` string), of
//! `"<t>.<body>"`. While a rotated secret is still honoured, a second `v1=` carries the old
//! secret's signature, so a receiver that has either one verifies. Receivers should refuse a
//! `t` more than 5 minutes from their clock (a replayed delivery).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "stockroom-signature";

/// How far a signature's time may be from a receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// A new signing secret: `whsec_` and 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new secret for the endpoint `id`, and it sealed with the current data key (bound to the
/// endpoint: a sealed secret moved to another row does not open).
pub fn new_sealed(keys: &crate::crypto::Keys, id: uuid::Uuid) -> (String, Vec<u8>) {
    let secret = new_secret();
    let sealed = keys.seal(secret.as_bytes(), id.as_bytes());
    (secret, sealed)
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header's value for `body` sent at `timestamp`, signed with each of `secrets` (the
/// current one first).
pub fn sign(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        let digest = mac(secret, timestamp, body).finalize().into_bytes();
        value.push_str(",v1=");
        value.push_str(&hex::encode(digest));
    }
    value
}

/// Whether `header` is a signature of `body` by `secret` made within [`TOLERANCE_SECS`] of
/// `now` (what a receiver does; the tests use it).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    signatures
        .iter()
        .any(|s| mac(secret, timestamp, body).verify_slice(s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_either_secret_and_only_in_time() {
        let (new, old) = (new_secret(), new_secret());
        let header = sign(&[&new, &old], 1_700_000_000, b"{}");
        assert!(verify(&new, &header, b"{}", 1_700_000_100));
        assert!(verify(&old, &header, b"{}", 1_700_000_100));
        assert!(!verify(&new, &header, b"{ }", 1_700_000_100));
        assert!(!verify(&new, &header, b"{}", 1_700_000_400));
        assert!(!verify(&new_secret(), &header, b"{}", 1_700_000_000));
    }

    #[test]
    fn the_header_is_the_documented_one() {
        // Python: hmac.new(b"whsec_test", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(&["whsec_test"], 1, b"{}"),
            "t=1,v1=7500d5d4be4b3ef07af1fe56f7d522d135cdaa7530de557e67cc1049c52de094"
        );
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 43);
    }
}
