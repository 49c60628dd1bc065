//! Where webhooks may send: http(s) URLs whose every address is public, unless the
//! server allows internal targets. The check runs when a webhook is saved and again
//! at each connection (through the HTTP client's resolver), so a name that later
//! resolves inward (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// Why a target was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL needs a host")]
    NoHost,
    #[error("{0} is a loopback, private or otherwise internal address")]
    Internal(IpAddr),
    #[error("{host} resolves to {addr}, a loopback, private or otherwise internal address")]
    ResolvesInternal { host: String, addr: IpAddr },
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

/// Parses `raw` and checks its scheme and host.
pub fn parse(raw: &str) -> Result<Url, TargetError> {
    let url = Url::parse(raw.trim()).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::NoHost);
    }
    Ok(url)
}

/// Checks `url`'s addresses (resolving a name) unless internal targets are allowed.
pub async fn check(url: &Url, allow_internal: bool) -> Result<(), TargetError> {
    if allow_internal {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => public(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs = lookup(name, port).await?;
            for addr in addrs {
                if !is_public(addr.ip()) {
                    return Err(TargetError::ResolvesInternal {
                        host: name.to_string(),
                        addr: addr.ip(),
                    });
                }
            }
            Ok(())
        }
        None => Err(TargetError::NoHost),
    }
}

fn public(ip: IpAddr) -> Result<(), TargetError> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::Internal(ip))
    }
}

async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let resolved = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((name, port)),
    )
    .await;
    match resolved {
        Ok(Ok(addrs)) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err(TargetError::Unresolvable(name.to_string()))
            } else {
                Ok(addrs)
            }
        }
        _ => Err(TargetError::Unresolvable(name.to_string())),
    }
}

/// Whether `ip` is reachable on the public internet (not loopback, private,
/// link-local, shared, documentation, multicast, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || is_embedded_internal_v4(v6))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))) // benchmarking
}

/// NAT64 (`64:ff9b::/96`) and IPv4-compatible addresses carry an IPv4 address that
/// may itself be internal.
fn is_embedded_internal_v4(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    let local_nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    let compatible = s[0..6].iter().all(|x| *x == 0);
    // 6to4 carries its IPv4 address in bits 16-47; Teredo's is obfuscated: refuse it.
    let six_to_four = Ipv4Addr::new(
        (s[1] >> 8) as u8,
        (s[1] & 0xff) as u8,
        (s[2] >> 8) as u8,
        (s[2] & 0xff) as u8,
    );
    let teredo = s[0] == 0x2001 && s[1] == 0;
    teredo
        || local_nat64
        || (s[0] == 0x2002 && !is_public_v4(six_to_four))
        || ((nat64 || compatible) && !is_public_v4(embedded))
}

/// The HTTP client's resolver: drops internal addresses, and fails a name that has
/// only internal ones, so no connection can reach them.
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs = lookup(&host, 0).await?;
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(TargetError::Unresolvable(format!(
                    "{host} (to a public address)"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver for a client that honours `allow_internal`.
pub fn resolver(allow_internal: bool) -> Option<Arc<PublicResolver>> {
    (!allow_internal).then(|| Arc::new(PublicResolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(ip(internal)), "{internal} must be refused");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public} must be allowed");
        }
    }

    #[test]
    fn only_http_urls_with_hosts() {
        assert_eq!(parse("ftp://example.com/x"), Err(TargetError::Scheme));
        assert_eq!(parse("file:///etc/passwd"), Err(TargetError::Scheme));
        assert!(matches!(parse("not a url"), Err(TargetError::Invalid(_))));
        assert!(parse("https://example.com/hook").is_ok());
    }
}
