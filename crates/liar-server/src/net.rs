//! The client's IP address: the socket's peer, unless the peer is a trusted proxy, in which case
//! the nearest untrusted hop named by `X-Forwarded-For` (or RFC 7239 `Forwarded`). Headers from
//! untrusted peers are ignored (the seed believed any client's header, SPEC §1.3).

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer_ip = canonical(peer.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer_ip) {
        return peer_ip;
    }
    let mut hops = forwarded_for(headers);
    if hops.is_empty() {
        hops = x_forwarded_for(headers);
    }
    // Walk from the nearest hop outwards; the first address not ours is the client.
    hops.iter()
        .rev()
        .map(|ip| canonical(*ip))
        .find(|ip| !is_trusted(ip))
        .or_else(|| hops.first().copied().map(canonical))
        .unwrap_or(peer_ip)
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(s) = value.to_str() else {
            return Vec::new();
        };
        for part in s.split(',') {
            match parse_node(part.trim()) {
                Some(ip) => out.push(ip),
                // One unreadable hop makes the whole chain untrustworthy.
                None => return Vec::new(),
            }
        }
    }
    out
}

fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(s) = value.to_str() else {
            return Vec::new();
        };
        for element in s.split(',') {
            for pair in element.split(';') {
                let Some((k, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                if k.trim().eq_ignore_ascii_case("for") {
                    match parse_node(v.trim().trim_matches('"')) {
                        Some(ip) => out.push(ip),
                        None => return Vec::new(),
                    }
                }
            }
        }
    }
    out
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    const PEER: &str = "10.0.0.5:4000";

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            client_ip(PEER.parse().unwrap(), &h, &[]),
            "10.0.0.5".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_nearest_untrusted_hop() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 2.2.2.2, 10.0.0.9")]);
        let ip = client_ip(PEER.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(ip, "2.2.2.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_header_is_understood() {
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:99\";proto=https, for=10.0.0.7",
        )]);
        let ip = client_ip(PEER.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn garbage_falls_back_to_the_peer() {
        let h = headers(&[("x-forwarded-for", "evil, 2.2.2.2")]);
        let ip = client_ip(PEER.parse().unwrap(), &h, &nets(&["10.0.0.0/8"]));
        assert_eq!(ip, "10.0.0.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn mapped_ipv4_peer_matches_ipv4_networks() {
        let peer: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "3.3.3.3")]);
        assert_eq!(
            client_ip(peer, &h, &nets(&["127.0.0.1/32"])),
            "3.3.3.3".parse::<IpAddr>().unwrap()
        );
    }
}
