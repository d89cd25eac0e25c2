//! The export bucket: an object PUT and a pre-signed GET, signed with SigV4 (aws-sigv4, the
//! SDK's own signer) over the workspace's reqwest, instead of the whole S3 SDK for two calls.
//!
//! Credentials and region come from the environment as the AWS SDK finds them (in Lambda, the
//! function role's temporary credentials); `AWS_ENDPOINT_URL_S3` points at a local S3 (moto in
//! tests), addressed path-style.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use tokio::sync::OnceCell;

/// A bucket this function writes exports to.
#[derive(Clone, Debug)]
pub struct Bucket {
    name: String,
    /// `AWS_ENDPOINT_URL_S3`, when set.
    endpoint: Option<String>,
    /// Region and credentials; the environment's when `None`.
    config: Option<aws_config::SdkConfig>,
    http: reqwest::Client,
}

static SDK: OnceCell<aws_config::SdkConfig> = OnceCell::const_new();

async fn sdk() -> &'static aws_config::SdkConfig {
    SDK.get_or_init(shared::config::secrets::sdk_config).await
}

impl Bucket {
    /// The bucket `name`, reached as the environment says.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            endpoint: std::env::var("AWS_ENDPOINT_URL_S3")
                .ok()
                .filter(|e| !e.is_empty()),
            config: None,
            http: reqwest::Client::new(),
        }
    }

    /// The bucket `name` at `endpoint`, with the region and credentials of `config`.
    pub fn at(name: &str, endpoint: &str, config: aws_config::SdkConfig) -> Self {
        Self {
            endpoint: Some(endpoint.to_owned()),
            config: Some(config),
            ..Self::new(name)
        }
    }

    /// The object's URL: path-style on a local endpoint, virtual-hosted on AWS.
    fn url(&self, region: &str, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.name),
            None => format!("https://{}.s3.{region}.amazonaws.com/{key}", self.name),
        }
    }

    async fn identity(&self) -> anyhow::Result<(Identity, String)> {
        let sdk = match &self.config {
            Some(config) => config,
            None => sdk().await,
        };
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| anyhow::anyhow!("no AWS region configured"))?;
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| anyhow::anyhow!("no AWS credentials configured"))?
            .provide_credentials()
            .await?;
        Ok((credentials.into(), region))
    }

    fn settings() -> SigningSettings {
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent: encoded once, never normalised.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings
    }

    /// Stores `body` at `key` with the headers a download needs.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        disposition: &str,
    ) -> anyhow::Result<()> {
        let (identity, region) = self.identity().await?;
        let url = self.url(&region, key);
        let mut settings = Self::settings();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let headers = [
            ("content-type", content_type),
            ("content-disposition", disposition),
        ];
        let signed = signed_request(
            (&identity, &region, settings),
            "PUT",
            &url,
            &headers,
            SignableBody::Bytes(&body),
        )?;
        let mut put = self.http.put(&url).body(body);
        for (name, value) in signed.headers() {
            put = put.header(name, value);
        }
        let response = put.send().await?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("S3 answered {status} to the export's upload: {text}");
        }
        Ok(())
    }

    /// A URL that downloads `key` without credentials until `ttl` has passed.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> anyhow::Result<String> {
        let (identity, region) = self.identity().await?;
        let url = self.url(&region, key);
        let mut settings = Self::settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        let signed = signed_request(
            (&identity, &region, settings),
            "GET",
            &url,
            &[],
            SignableBody::UnsignedPayload,
        )?;
        Ok(signed.uri().to_string())
    }
}

/// `method url` with `headers`, signed for S3 by `identity` in `region` (in headers or in the
/// query, as `settings` say).
fn signed_request(
    (identity, region, settings): (&Identity, &str, SigningSettings),
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
) -> anyhow::Result<http::Request<()>> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), body)?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(())?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}
