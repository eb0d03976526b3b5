//! Where webhook and Slack deliveries may go. A tenant names the URL, and the sender
//! runs inside the platform's network: without a check, a rule could make it call the
//! cloud's metadata service (169.254.169.254 hands out the task's credentials) or any
//! internal address. Such addresses are refused when an endpoint is saved and again
//! at delivery (the sender resolves names through [`allowed`] too, since DNS can
//! change in between), unless ALLOW_PRIVATE_ENDPOINTS is set (tests, a laptop).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

/// How long a name may take to resolve when an endpoint is saved.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedTarget {
    #[error(
        "{host} is a {kind} address: deliveries to private networks are refused (ALLOW_PRIVATE_ENDPOINTS=true allows them)"
    )]
    Address { host: String, kind: &'static str },
    #[error(
        "{host} resolves to {ip}, a {kind} address: deliveries to private networks are refused (ALLOW_PRIVATE_ENDPOINTS=true allows them)"
    )]
    Resolves {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },
    #[error("{host} does not resolve ({reason}); use a public host name or address")]
    Unresolvable { host: String, reason: String },
    #[error("{0} is not a URL with a host")]
    NoHost(String),
}

/// What kind of non-public address `ip` is, or None for a public one.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

/// Whether a delivery may go to `ip`.
pub fn allowed(ip: IpAddr) -> bool {
    private_kind(ip).is_none()
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared carrier-grade NAT (100.64.0.0/10)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local (cloud metadata, 169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_kind(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16)
    // carry an IPv4 address that would be reached through them.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..3] == [0x64, 0xff9b, 1] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return v4_kind(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if segments[0] == 0x2002 {
        return v4_kind(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    Some(match segments[0] {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "unique local (fc00::/7, incl. cloud metadata fd00:ec2::254)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast",
        0x2001 if segments[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x2001 if segments[1] == 0 => "Teredo (2001::/32)",
        0x0100 if segments[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        0x0000..=0x00ff => "IPv4-compatible or reserved (::/8)",
        _ => return None,
    })
}

/// Checks a webhook or Slack URL: its host must be, or resolve only to, public
/// addresses.
pub async fn check_url(url: &str) -> Result<(), RefusedTarget> {
    let parsed =
        url::Url::parse(url).map_err(|_| RefusedTarget::NoHost(crate::redact::url(url)))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => return check_ip(&ip.to_string(), IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => return check_ip(&ip.to_string(), IpAddr::V6(ip)),
        Some(url::Host::Domain(host)) => host.to_owned(),
        None => return Err(RefusedTarget::NoHost(crate::redact::url(url))),
    };
    let resolved = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.clone(), port)),
    )
    .await
    .map_err(|_| RefusedTarget::Unresolvable {
        host: host.clone(),
        reason: format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs()),
    })?
    .map_err(|err| RefusedTarget::Unresolvable {
        host: host.clone(),
        reason: err.to_string(),
    })?;
    let mut any = false;
    for address in resolved {
        any = true;
        if let Some(kind) = private_kind(address.ip()) {
            return Err(RefusedTarget::Resolves {
                host,
                ip: address.ip(),
                kind,
            });
        }
    }
    if !any {
        return Err(RefusedTarget::Unresolvable {
            host,
            reason: "no addresses".to_owned(),
        });
    }
    Ok(())
}

fn check_ip(host: &str, ip: IpAddr) -> Result<(), RefusedTarget> {
    match private_kind(ip) {
        Some(kind) => Err(RefusedTarget::Address {
            host: host.to_owned(),
            kind,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_allowed() {
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "192.0.0.192",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
            "100::1",
            "ff::1",
            "192.88.99.1",
        ] {
            assert!(!allowed(ip(refused)), "{refused} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(allowed(ip(public)), "{public} should be allowed");
        }
    }

    #[tokio::test]
    async fn urls_naming_or_resolving_to_private_addresses_are_refused() {
        let metadata = check_url("http://169.254.169.254/latest/meta-data/").await;
        assert!(
            matches!(&metadata, Err(RefusedTarget::Address { kind, .. }) if kind.contains("metadata")),
            "{metadata:?}"
        );
        assert!(matches!(
            check_url("https://[::1]:8443/hook").await,
            Err(RefusedTarget::Address { .. })
        ));
        let localhost = check_url("http://localhost:9000/hook").await;
        assert!(
            matches!(&localhost, Err(RefusedTarget::Resolves { host, .. }) if host == "localhost"),
            "{localhost:?}"
        );
        assert!(check_url("https://203.0.113.9/hook").await.is_err());
        assert_eq!(check_url("https://8.8.8.8/hook").await, Ok(()));
    }
}
