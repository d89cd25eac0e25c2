//! Where a webhook may go, and the client that takes it there.
//!
//! A tenant's URL is a request-forgery risk: it could point at the metadata service, the
//! database or anything else inside the VPC. So:
//! - the URL must be https (credentials in it, fragments and other schemes are refused), on port
//!   443, 8443 or one of `WEBHOOK_PORTS`;
//! - its host must be public: an address written in the URL is checked as written, and a name
//!   is checked at delivery time by the client's own resolver, which refuses the whole name
//!   when any address it resolves to is loopback, private, link-local, multicast or reserved.
//!   The client connects only to addresses that resolver returned, so there is no window
//!   between the check and the connection for a DNS answer to change (no rebinding);
//! - redirects are not followed, no proxy is used, an attempt ends after 10 s, and at most 64 KB
//!   of the answer is read.
//!
//! `WEBHOOK_ALLOW_LOCAL_TARGETS` (a developer's machine, the tests) lifts the address and
//! scheme rules; the template never sets it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::config::WebhookSettings;

/// How long one attempt may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How much of an answer is kept with the attempt.
pub const KEPT_ANSWER_BYTES: usize = 1024;

/// Why a URL cannot be a webhook endpoint's.
pub fn check_url(raw: &str, settings: &WebhookSettings) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    let local = settings.allow_local_targets;
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    let host = url.host().ok_or("must name a host")?;
    let port = url.port_or_known_default().ok_or("must name a port")?;
    if !local && !settings.ports.contains(&port) {
        let ports: Vec<String> = settings.ports.iter().map(u16::to_string).collect();
        return Err(format!("must use port {}", ports.join(", ")));
    }
    let literal = match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(name) => {
            if !local && (name == "localhost" || name.ends_with(".localhost")) {
                return Err("must not name this machine".into());
            }
            None
        }
    };
    if let Some(ip) = literal
        && !local
        && !is_public(ip)
    {
        return Err(format!("{ip} is not a public address"));
    }
    Ok(url)
}

/// Whether `ip` is a public unicast address (not loopback, private, shared, link-local,
/// documentation, benchmarking, multicast, reserved or unspecified; an IPv6 address that
/// carries an IPv4 one is judged by it).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 6to4 relays, benchmarking, reserved.
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        // Site-local (deprecated, fec0::/10), documentation (2001:db8::/32), IETF protocol
        // assignments (2001::/23, Teredo among them), discard (100::/64), IPv4-compatible.
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x2001 && s[1] < 0x0200)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        || s[0..6] == [0, 0, 0, 0, 0, 0])
}

/// Resolves names for the delivery client, refusing a name any of whose addresses is not
/// public: the client connects only to what this returns.
struct CheckedResolver {
    allow_local: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_local = self.allow_local;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if !allow_local && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(
                    format!("{host} resolves to {}, not a public address", bad.ip()).into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The client deliveries go through (build once per execution environment).
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            allow_local: settings.allow_local_targets,
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent("Stockroom-Webhooks/1")
        .build()
        .expect("a client without custom TLS settings builds")
}

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// The first [`KEPT_ANSWER_BYTES`] of its answer.
    pub response: Option<String>,
    /// Why the attempt did not succeed, when it did not get a 2xx.
    pub error: Option<String>,
    pub latency: Duration,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// POSTs `body` to `url` with `headers` (the URL checked again first: the rules may have
/// changed since it was saved).
pub async fn post(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    url: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Attempt {
    let started = Instant::now();
    let refused = |error: String| Attempt {
        status: None,
        response: None,
        error: Some(error),
        latency: started.elapsed(),
    };
    let url = match check_url(url, settings) {
        Ok(url) => url,
        Err(reason) => return refused(format!("refused: the URL {reason}")),
    };
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return refused(describe(&error)),
    };
    let status = response.status().as_u16();
    let mut answer = Vec::new();
    let mut error = None;
    while answer.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
    }
    answer.truncate(KEPT_ANSWER_BYTES);
    let response = (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned());
    let error = error.or(match status {
        200..=299 => None,
        300..=399 => Some(format!("answered {status}: redirects are not followed")),
        _ => Some(format!("answered {status}")),
    });
    Attempt {
        status: Some(status),
        response,
        error,
        latency: started.elapsed(),
    }
}

/// A transport error in words, with its causes (the resolver's refusal is one).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> WebhookSettings {
        WebhookSettings {
            ports: vec![443, 8443],
            allow_local_targets: false,
            queue_url: None,
            realtime_endpoint: None,
        }
    }

    #[test]
    fn only_public_https_urls_on_the_allowed_ports_pass() {
        let s = strict();
        assert!(check_url("https://hooks.example.com/stockroom", &s).is_ok());
        assert!(check_url("https://hooks.example.com:8443/x", &s).is_ok());
        assert!(check_url("https://93.184.216.34/x", &s).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pass@hooks.example.com/x",
            "https://hooks.example.com:22/x",
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:169.254.169.254]/x",
            "https://[fd00::1]/x",
            "https://224.0.0.1/x",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://localhost/x",
            "https://hooks.example.com/x#frag",
            "not a url",
        ] {
            assert!(check_url(bad, &s).is_err(), "{bad} passed");
        }
        let local = WebhookSettings {
            allow_local_targets: true,
            ..strict()
        };
        assert!(check_url("http://127.0.0.1:9999/hook", &local).is_ok());
    }

    #[test]
    fn addresses_are_judged_by_what_they_reach() {
        for public in ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
        for private in [
            "192.168.1.1",
            "172.16.0.1",
            "198.18.0.1",
            "255.255.255.255",
            "fe80::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "::",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
    }

    #[tokio::test]
    async fn the_client_resolves_no_name_to_a_private_address() {
        let strict = CheckedResolver { allow_local: false };
        let name = || "localhost".parse::<Name>().expect("a name");
        let error = match strict.resolve(name()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("not a public address"), "{error}");
        let local = CheckedResolver { allow_local: true };
        assert!(local.resolve(name()).await.is_ok());
    }
}
