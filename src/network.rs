//! Which addresses a webhook may connect to. A webhook URL is typed by a shop admin and the
//! request leaves from inside the shop's network, so by default no request goes to loopback,
//! private (RFC 1918), shared (CGNAT), link-local (169.254.169.254 included), multicast,
//! documentation, benchmarking, reserved or unspecified addresses, IPv4 or IPv6 (IPv4-mapped,
//! IPv4-translated, NAT64, 6to4 and Teredo addresses count as what they embed or are refused
//! outright, and fc00::/7 is refused). `fluent_webhook.allowed_networks` opens CIDR ranges.
//!
//! The engine checks the address it actually connects to: a resolver of ours (see
//! engine::sender) filters every DNS answer, and IP-literal URLs are checked before sending,
//! so a name that resolves to 127.0.0.1, or changes its answer between a check and the
//! connect, is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<(IpAddr, u8)>,
    /// Narrowed to what the process that queued a delivery allowed (see [`Self::within`]).
    narrowed: bool,
}

impl NetworkPolicy {
    /// Parses a comma- or space-separated CIDR list (`127.0.0.0/8, ::1/128`); a bare address
    /// is a single host.
    pub fn parse(text: &str) -> Result<NetworkPolicy, String> {
        let mut allowed = Vec::new();
        for item in text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            // Cut short in a message: it is a warning's, and the value may be any length.
            let shown = || item.chars().take(64).collect::<String>();
            let (address, bits) = match item.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (item, None),
            };
            let address: IpAddr =
                address.parse().map_err(|_| format!("{:?} is not an IP address or CIDR range", shown()))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{:?} has a bad prefix length", shown()))?,
                None => max,
            };
            allowed.push((address, bits));
        }
        Ok(NetworkPolicy { allowed, narrowed: false })
    }

    /// What both this policy and `origin`'s open: a process sends a delivery another one
    /// queued (the spool is shared) only where the queuing process's
    /// `fluent_webhook.allowed_networks` allowed it too. CIDR ranges are nested or apart, so
    /// the opened ranges of both are the narrower of each nested pair.
    pub fn within(&self, origin: &NetworkPolicy) -> NetworkPolicy {
        let mut allowed = Vec::new();
        for &(a, a_bits) in &self.allowed {
            for &(b, b_bits) in &origin.allowed {
                if a.is_ipv4() != b.is_ipv4() {
                    continue;
                }
                if a_bits >= b_bits && contains(b, b_bits, a) {
                    allowed.push((a, a_bits));
                } else if b_bits >= a_bits && contains(a, a_bits, b) {
                    allowed.push((b, b_bits));
                }
            }
        }
        let narrowed = allowed != self.allowed;
        NetworkPolicy { allowed, narrowed }
    }

    /// `Ok` when a request may connect to `address`; otherwise why not.
    pub fn check(&self, address: IpAddr) -> Result<(), String> {
        if self.allowed.iter().any(|(network, bits)| contains(*network, *bits, address)) {
            return Ok(());
        }
        match forbidden_kind(address) {
            None => Ok(()),
            Some(kind) if self.narrowed => Err(format!(
                "refused to connect to {address}: it is {kind}, and the fluent_webhook.allowed_networks of the \
                 process that queued this delivery does not open it"
            )),
            Some(kind) => Err(format!(
                "refused to connect to {address}: it is {kind} (fluent_webhook.allowed_networks can open a range)"
            )),
        }
    }
}

/// The opened ranges as `fluent_webhook.allowed_networks` would list them ("" when none), which
/// [`NetworkPolicy::parse`] reads back: the spool keeps it with each delivery.
impl std::fmt::Display for NetworkPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (network, bits)) in self.allowed.iter().enumerate() {
            write!(f, "{}{network}/{bits}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

fn contains(network: IpAddr, bits: u8, address: IpAddr) -> bool {
    match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => prefix_match(&n.octets(), &a.octets(), bits),
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix_match(&n.octets(), &a.octets(), bits),
        (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| contains(network, bits, IpAddr::V4(a))),
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn prefix_match(network: &[u8], address: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    network[..full] == address[..full]
        && (rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            network[full] & mask == address[full] & mask
        })
}

/// What kind of address may not be reached from a shop by default, or `None` for a public one.
pub fn forbidden_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, o2, _] = a.octets();
    Some(match (o0, o1, o2) {
        (0, _, _) => "an unspecified address (0.0.0.0/8)",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address (RFC 1918)",
        (100, 64..=127, _) => "a shared address (CGNAT, 100.64.0.0/10)",
        (169, 254, _) => "a link-local address (cloud metadata services live here)",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a reserved or documentation address",
        (192, 88, 99) => "a 6to4 relay address",
        (198, 18..=19, _) => "a benchmarking address (198.18.0.0/15)",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address (240.0.0.0/4)",
        _ => return None,
    })
}

fn forbidden_v6(a: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "an IPv4-mapped address of a forbidden IPv4 address");
    }
    let segments = a.segments();
    Some(match segments {
        [0, 0, 0, 0, 0, 0, 0, 0] => "the unspecified address (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "the loopback address (::1)",
        [0, 0, 0, 0, 0, 0, _, _] => "an IPv4-compatible address (deprecated)",
        // SIIT's ::ffff:0:0/96, which a translator on the path turns into the IPv4 inside.
        [0, 0, 0, 0, 0xffff, 0, _, _] => "an IPv4-translated address (::ffff:0:0/96)",
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => "a NAT64 address (64:ff9b::/96), which can reach IPv4 inside",
        [0x64, 0xff9b, 1, ..] => "a local NAT64 address (64:ff9b:1::/48), which can reach IPv4 inside",
        [0x64, 0xff9b, ..] => "a NAT64 address (64:ff9b::/32), which can reach IPv4 inside",
        [0x100, 0, 0, 0, ..] => "a discard address (100::/64)",
        [0x2001, 0x0db8, ..] => "a documentation address (2001:db8::/32)",
        // RFC 9637 (2024) gave documentation a second prefix, which examples now use too.
        [0x3fff, second, ..] if second & 0xf000 == 0 => "a documentation address (3fff::/20)",
        // RFC 9602: segment routing's own identifiers, not globally reachable (IANA's registry).
        [0x5f00, ..] => "an SRv6 segment identifier (5f00::/16)",
        [0x2001, 0..=0x01ff, ..] => "an IETF protocol address (2001::/23, Teredo included)",
        [0x2002, ..] => "a 6to4 address (2002::/16), which can reach IPv4 inside",
        [first, ..] if first & 0xfe00 == 0xfc00 => "a unique local address (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "a link-local address (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "a site-local address (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(address: &str) -> bool {
        NetworkPolicy::default().check(address.parse().unwrap()).is_err()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff:ffff::1",
            "5f00::1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
        ] {
            assert!(refused(address), "{address} should be refused");
        }
    }

    #[test]
    fn nat64_refusals_name_their_range() {
        let reason = |address: &str| forbidden_v6(address.parse().unwrap()).unwrap();
        assert!(reason("64:ff9b::a00:1").contains("64:ff9b::/96"));
        assert!(reason("64:ff9b:1::a00:1").contains("64:ff9b:1::/48"));
        assert!(reason("64:ff9b:2::1").contains("64:ff9b::/32"));
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "3fff:1000::1",
            "5f01::1",
        ] {
            assert!(!refused(address), "{address} should pass");
        }
    }

    #[test]
    fn allowed_networks_open_ranges() {
        let policy = NetworkPolicy::parse("127.0.0.0/8, ::1 10.0.0.0/30").unwrap();
        for address in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.0.0.3"] {
            assert!(policy.check(address.parse().unwrap()).is_ok(), "{address}");
        }
        for address in ["10.0.0.4", "192.168.0.1", "::2"] {
            assert!(policy.check(address.parse().unwrap()).is_err(), "{address}");
        }
        assert!(NetworkPolicy::parse("10.0.0.0/33").is_err());
        assert!(NetworkPolicy::parse("example.com").is_err());
        assert_eq!(NetworkPolicy::parse(" ").unwrap(), NetworkPolicy::default());
    }

    #[test]
    fn a_policy_within_another_opens_only_what_both_open() {
        let policy = |text: &str| NetworkPolicy::parse(text).unwrap();
        let ok = |p: &NetworkPolicy, a: &str| p.check(a.parse().unwrap()).is_ok();
        let sender = policy("127.0.0.0/8, 10.0.0.0/8, ::1");
        let both = sender.within(&policy("127.0.0.1, 10.1.0.0/16, 192.168.0.0/16"));
        assert!(ok(&both, "127.0.0.1") && ok(&both, "10.1.2.3") && ok(&both, "8.8.8.8"));
        assert!(!ok(&both, "127.0.0.2") && !ok(&both, "10.2.0.1") && !ok(&both, "192.168.1.1") && !ok(&both, "::1"));
        let strict = sender.within(&NetworkPolicy::default());
        let refusal = strict.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert!(refusal.contains("the process that queued this delivery does not open it"), "{refusal}");
        assert_eq!(sender.within(&sender), sender, "the same policy is not narrowed");
    }

    #[test]
    fn a_policy_reads_back_what_it_writes() {
        for text in ["", "127.0.0.0/8", "127.0.0.0/8,::1/128,10.0.0.0/8"] {
            let policy = NetworkPolicy::parse(text).unwrap();
            assert_eq!(policy.to_string(), text);
            assert_eq!(NetworkPolicy::parse(&policy.to_string()).unwrap(), policy);
        }
    }

    #[test]
    fn refusals_say_why() {
        let reason = NetworkPolicy::default().check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(reason.contains("link-local") && reason.contains("allowed_networks"), "{reason}");
    }
}
