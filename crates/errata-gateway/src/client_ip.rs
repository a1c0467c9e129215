//! The client's address: the socket peer, or the nearest untrusted hop in `X-Forwarded-For`
//! when the peer is a configured trusted proxy.

use std::net::IpAddr;

use crate::lookup::{HeaderLookup, visible};
use ipnet::IpNet;

/// Walks `X-Forwarded-For` from the right, skipping trusted proxies; the first address that
/// is not trusted is the client. Without trusted proxies the header is ignored entirely.
pub fn client_ip<H: HeaderLookup + ?Sized>(peer: IpAddr, headers: &H, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let mut hops = Vec::new();
    headers.each("x-forwarded-for", &mut |v| {
        if let Some(v) = visible(v) {
            hops.extend(v.split(',').map(str::trim));
        }
    });
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A garbled entry: stop and keep the last trustworthy address.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("x-forwarded-for", v.parse().unwrap());
        m
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        let outsider: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(client_ip(outsider, &h("1.2.3.4"), &trusted), outsider);
        assert_eq!(
            client_ip(peer, &h("1.2.3.4"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A client cannot spoof by prepending: the rightmost untrusted hop wins.
        assert_eq!(
            client_ip(peer, &h("6.6.6.6, 1.2.3.4, 10.2.2.2"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(client_ip(peer, &h("1.2.3.4"), &[]), peer);
    }
}
