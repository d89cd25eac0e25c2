//! A bucket through the AWS SDK's S3 client, and what the SDK's client does not make or makes
//! too slowly for a list, signed with the SDK's own SigV4 signer: a pre-signed POST (a browser
//! form upload whose policy S3 enforces) and pre-signed GET links (a page of 100 products with
//! images signs 200 links: a few microseconds each this way, against the client's whole
//! request pipeline per link).
//!
//! Region and credentials are the environment's as the SDK finds them (in Lambda, the
//! function role's); `AWS_ENDPOINT_URL_S3` points at a local S3 (moto), addressed path-style.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The tag an object sent through a pre-signed POST carries until its upload is completed; the
/// bucket's lifecycle rule expires objects that still carry it (uploads never completed).
pub const PENDING_TAG: (&str, &str) = ("stockroom-upload", "pending");

/// A bucket and a client for it.
#[derive(Clone, Debug)]
pub struct Bucket {
    name: String,
    client: aws_sdk_s3::Client,
    /// Region and credentials, for the signatures made here.
    sdk: aws_config::SdkConfig,
    /// `AWS_ENDPOINT_URL_S3`, when set: forms and links go there, path-style.
    endpoint: Option<String>,
    /// The credentials last read, until shortly before they expire.
    credentials: std::sync::Arc<tokio::sync::Mutex<Option<Credentials>>>,
}

/// A form upload straight to S3: POST `url` as `multipart/form-data` with `fields`, then the
/// file as the last field, named `file`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PresignedPost {
    pub url: String,
    /// Every field to send, in any order before `file`.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// An object's size and type as S3 holds them.
#[derive(Clone, Debug)]
pub struct ObjectHead {
    pub size: i64,
}

impl Bucket {
    /// The bucket `name`, reached as `sdk` says (`AWS_ENDPOINT_URL_S3` from the environment).
    pub fn new(name: &str, sdk: &aws_config::SdkConfig) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|e| !e.trim().is_empty());
        Self::with_endpoint(name, sdk, endpoint)
    }

    /// The bucket `name` at `endpoint` (a local S3) or on AWS (`None`).
    pub fn with_endpoint(
        name: &str,
        sdk: &aws_config::SdkConfig,
        endpoint: Option<String>,
    ) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(sdk);
        if let Some(endpoint) = &endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Self {
            name: name.to_owned(),
            client: aws_sdk_s3::Client::from_conf(config.build()),
            sdk: sdk.clone(),
            endpoint,
            credentials: Default::default(),
        }
    }

    fn region(&self) -> anyhow::Result<String> {
        self.sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| anyhow::anyhow!("no AWS region configured"))
    }

    /// The credentials to sign with: read again five minutes before they expire (a Lambda
    /// role's are temporary), else kept.
    async fn credentials(&self) -> anyhow::Result<Credentials> {
        let mut held = self.credentials.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some(credentials) = held.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| anyhow::anyhow!("no AWS credentials configured"))?
            .provide_credentials()
            .await?;
        *held = Some(credentials.clone());
        Ok(credentials)
    }

    /// The URL of `key`: path-style on a local endpoint, virtual-hosted on AWS. Keys made here
    /// hold only characters a path may carry as they are.
    fn object_url(&self, region: &str, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.name),
            None => format!("https://{}.s3.{region}.amazonaws.com/{key}", self.name),
        }
    }

    /// A form upload of exactly `size` bytes of `content_type` to `key`, valid for `ttl`; the
    /// object carries [`PENDING_TAG`] until [`Bucket::completed`].
    pub async fn presigned_post(
        &self,
        key: &str,
        content_type: &str,
        size: i64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedPost> {
        let region = self.region()?;
        let credentials = self.credentials().await?;
        let now = SystemTime::now();
        let stamp: DateTime<Utc> = now.into();
        let date = stamp.format("%Y%m%dT%H%M%SZ").to_string();
        let day = stamp.format("%Y%m%d").to_string();
        let credential = format!(
            "{}/{day}/{region}/s3/aws4_request",
            credentials.access_key_id()
        );
        let expires_at = stamp + chrono::Duration::from_std(ttl)?;
        let tagging = format!(
            "<Tagging><TagSet><Tag><Key>{}</Key><Value>{}</Value></Tag></TagSet></Tagging>",
            PENDING_TAG.0, PENDING_TAG.1
        );
        let mut fields = BTreeMap::from([
            ("key".to_owned(), key.to_owned()),
            ("Content-Type".to_owned(), content_type.to_owned()),
            ("tagging".to_owned(), tagging),
            ("success_action_status".to_owned(), "204".to_owned()),
            ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential".to_owned(), credential),
            ("x-amz-date".to_owned(), date),
        ]);
        if let Some(token) = credentials.session_token() {
            fields.insert("x-amz-security-token".to_owned(), token.to_owned());
        }
        let mut conditions = vec![
            serde_json::json!({"bucket": self.name}),
            serde_json::json!(["content-length-range", size, size]),
        ];
        conditions.extend(
            fields
                .iter()
                .map(|(name, value)| serde_json::json!({ name: value })),
        );
        let policy = serde_json::json!({
            "expiration": expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "conditions": conditions,
        });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signing_key = aws_sigv4::sign::v4::generate_signing_key(
            credentials.secret_access_key(),
            now,
            &region,
            "s3",
        );
        let signature = aws_sigv4::sign::v4::calculate_signature(signing_key, policy.as_bytes());
        fields.insert("policy".to_owned(), policy);
        fields.insert("x-amz-signature".to_owned(), signature);
        let url = match &self.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.name),
            None => format!("https://{}.s3.{region}.amazonaws.com/", self.name),
        };
        Ok(PresignedPost {
            url,
            fields,
            expires_at,
        })
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectHead>> {
        match self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectHead {
                size: head.content_length().unwrap_or_default(),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(s3_error(error)),
        }
    }

    /// The first `n` bytes of the object at `key` (all of it when smaller): one ranged GET.
    pub async fn first_bytes(&self, key: &str, n: u64) -> anyhow::Result<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(object.body.collect().await?.into_bytes().to_vec())
    }

    /// The whole object at `key`, or `None` when there is none.
    pub async fn get_if_there(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(Some(object.body.collect().await?.into_bytes().to_vec())),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(s3_error(error)),
        }
    }

    /// Stores `body` at `key`.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        disposition: Option<&str>,
    ) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .set_content_disposition(disposition.map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// The object at `key` is kept: its [`PENDING_TAG`] goes, so the lifecycle rule spares it.
    pub async fn completed(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object_tagging()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// Deletes the objects at `keys` (any that are not there are not an error).
    pub async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_objects()
                .bucket(&self.name)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(s3_error)?;
            if let Some(error) = output.errors().first() {
                anyhow::bail!(
                    "S3 did not delete {}: {}",
                    error.key().unwrap_or("?"),
                    error.message().unwrap_or("no reason given")
                );
            }
        }
        Ok(())
    }

    /// A link that reads `key` without credentials, with `Content-Disposition` as `disposition`
    /// says when given. Links are made for windows of `window`: every link to `key` made within
    /// one window is the same (a browser's cache keeps the image), and each works until the end
    /// of the next window, so one is always good for at least `window` (or until the signing
    /// credentials expire, for a Lambda role's, whichever is first).
    pub async fn presigned_get(
        &self,
        key: &str,
        disposition: Option<&str>,
        window: Duration,
    ) -> anyhow::Result<String> {
        let (start, ttl) = window_start(SystemTime::now(), window);
        self.presigned_get_at(key, disposition, start, ttl).await
    }

    /// A link that reads `key` from `start` for `ttl`.
    pub async fn presigned_get_at(
        &self,
        key: &str,
        disposition: Option<&str>,
        start: SystemTime,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        use aws_sigv4::http_request::{
            PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
            UriPathNormalizationMode, sign,
        };
        let region = self.region()?;
        let identity = self.credentials().await?.into();
        let mut url = self.object_url(&region, key);
        if let Some(disposition) = disposition {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("response-content-disposition", disposition)
                .finish();
            url = format!("{url}?{}", query.replace('+', "%20"));
        }
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent: encoded once, never normalised.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("s3")
            .time(start)
            .settings(settings)
            .build()?
            .into();
        let signable = SignableRequest::new(
            "GET",
            &url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder().method("GET").uri(&url).body(())?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

/// An S3 call's error with its whole chain of causes (the SDK's own `Display` says only
/// "service error").
fn s3_error(error: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(error).to_string())
}

/// The start of the window `now` is in, and how long a link made then works (to the end of the
/// next window).
fn window_start(now: SystemTime, window: Duration) -> (SystemTime, Duration) {
    let secs = window.as_secs().max(1);
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(since - since % secs);
    (start, Duration::from_secs(2 * secs))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::window_start;

    #[test]
    fn links_made_within_a_window_share_its_start_and_outlive_it() {
        let hour = Duration::from_secs(3600);
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(window_start(at(7200), hour), (at(7200), 2 * hour));
        assert_eq!(window_start(at(10_799), hour).0, at(7200));
        assert_eq!(window_start(at(10_800), hour).0, at(10_800));
    }
}
