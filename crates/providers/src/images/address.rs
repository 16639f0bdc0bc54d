//! Which addresses the gateway may fetch an image from: public unicast ones only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be fetched from, or `None` when it is a public unicast address. IPv6
/// addresses that carry an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that address.
pub(crate) fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified address",
        (0, _, _) => "a \"this network\" address (0.0.0.0/8)",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address (RFC 1918)",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address (100.64.0.0/10)",
        _ if ip.is_link_local() => {
            "a link-local address (169.254.0.0/16, where cloud metadata services live)"
        }
        (192, 0, 0) => "an IETF protocol address (192.0.0.0/24)",
        (198, 18..=19, _) => "a benchmarking address (198.18.0.0/15)",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() => "the broadcast address",
        (240..=255, _, _) => "a reserved address (240.0.0.0/4)",
        _ if ip.is_documentation() => "a documentation address",
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return refusal_v4(v4);
    }
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        0xfe80..=0xfebf => "a link-local address (fe80::/10)",
        0xfec0..=0xfeff => "a site-local address (fec0::/10)",
        0xfc00..=0xfdff => "a unique local address (fc00::/7)",
        0xff00..=0xffff => "a multicast address",
        0x2001 if ip.segments()[1] == 0x0db8 => "a documentation address (2001:db8::/32)",
        0x0100 if ip.segments()[1..4] == [0, 0, 0] => "a discard-only address (100::/64)",
        // Everything else in ::/8 (IPv4-compatible forms are judged above) is reserved.
        0x0000..=0x00ff => "a reserved address (::/8)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries, in the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d, and the deprecated IPv4-compatible ::a.b.c.d (but not
        // :: and ::1, which are IPv6's own).
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(tail()),
        // NAT64 (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        // 6to4 (RFC 3056): 2002:AABB:CCDD::/48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        refusal(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_special_ipv4_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "93.184.216.34",
        ] {
            assert!(!refused(ip), "{ip}");
        }
        assert_eq!(
            refusal("169.254.169.254".parse().unwrap()),
            Some("a link-local address (169.254.0.0/16, where cloud metadata services live)")
        );
    }

    #[test]
    fn private_and_special_ipv6_addresses_are_refused() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "::2",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860::8888",
        ] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_as_ipv4() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "2002:7f00:0001::",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1"] {
            assert!(!refused(ip), "{ip}");
        }
        assert_eq!(
            refusal("::ffff:127.0.0.1".parse().unwrap()),
            Some("a loopback address")
        );
    }
}
