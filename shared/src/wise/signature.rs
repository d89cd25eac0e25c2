//! Wise signs every webhook delivery: `X-Signature-SHA256` is the base64 RSA-SHA256
//! (PKCS#1 v1.5) signature of the raw request body, made with Wise's private key. Only the
//! public key is ever used here, so the `rsa` crate's timing advisory about private-key
//! operations (RUSTSEC-2023-0071) does not apply.

use base64::Engine;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

/// Keys shorter than this are refused: Wise's keys are 2048-bit or longer.
const MIN_KEY_BITS: usize = 2048;

/// Checks webhook signatures against Wise's public key (`WISE_WEBHOOK_PUBLIC_KEY`).
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    key: VerifyingKey<Sha256>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "WISE_WEBHOOK_PUBLIC_KEY is not an RSA public key of at least 2048 bits in PEM form (-----BEGIN PUBLIC KEY-----)"
)]
pub struct InvalidKey;

impl SignatureVerifier {
    /// Reads a PEM public key: SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, as Wise publishes it)
    /// or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, InvalidKey> {
        let pem = pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|_| InvalidKey)?;
        if key.size() * 8 < MIN_KEY_BITS {
            return Err(InvalidKey);
        }
        Ok(Self {
            key: VerifyingKey::new(key),
        })
    }

    /// Whether `signature` (the header's base64 text) is Wise's signature of `body`.
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        self.key.verify(body, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPublicKey};

    fn key_pair() -> (SigningKey<Sha256>, RsaPublicKey) {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public = private.to_public_key();
        (SigningKey::new(private), public)
    }

    fn sign(key: &SigningKey<Sha256>, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
    }

    #[test]
    fn a_signature_verifies_for_its_body_only() {
        let (signer, public) = key_pair();
        let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        let verifier = SignatureVerifier::from_pem(&pem).unwrap();
        let body = br#"{"event_type":"transfers#state-change"}"#;
        let signature = sign(&signer, body);
        assert!(verifier.verify(body, &signature));
        assert!(!verifier.verify(br#"{"event_type":"transfers#state-change" }"#, &signature));
        assert!(!verifier.verify(body, "not base64!"));
        assert!(!verifier.verify(body, ""));

        let (other, _) = key_pair();
        assert!(!verifier.verify(body, &sign(&other, body)));

        // The PKCS#1 form of the same key works too.
        let pkcs1 = public.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(
            SignatureVerifier::from_pem(&pkcs1)
                .unwrap()
                .verify(body, &signature)
        );
    }

    #[test]
    fn garbage_and_short_keys_are_refused() {
        assert!(
            SignatureVerifier::from_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
            )
            .is_err()
        );
        let short = RsaPrivateKey::new(&mut rand::thread_rng(), 1024)
            .unwrap()
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(SignatureVerifier::from_pem(&short).is_err());
    }
}
