//! The client's address: the socket peer, unless the peer is a trusted proxy.
//!
//! Behind trusted proxies the address is the right-most `X-Forwarded-For` entry that is not
//! itself a trusted proxy: entries to its left were written by the client and can be forged.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An address range such as `10.0.0.0/8`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `None` unless `raw` is an address, optionally with a prefix length that fits it.
    pub fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr.parse().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (raw.parse().ok()?, None),
        };
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` lies in the range; an IPv4-mapped IPv6 address counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        use IpAddr::{V4, V6};
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = [IpNetwork::parse("10.0.0.0/8").unwrap()];
        let ip = resolve(
            "203.0.113.9".parse().unwrap(),
            &headers("1.2.3.4"),
            &trusted,
        );
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
        let trusted = [IpNetwork::parse("10.0.0.0/8").unwrap()];
        let peer = "10.0.0.2".parse().unwrap();
        // The client forged 6.6.6.6; 198.51.100.7 is what our proxy saw.
        let ip = resolve(peer, &headers("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted);
        assert_eq!(ip.to_string(), "198.51.100.7");
        assert_eq!(resolve(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(resolve(peer, &headers("garbage, 10.1.1.1"), &trusted), peer);
    }
}
