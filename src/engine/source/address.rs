//! The one address policy for everything a user can make the server connect to: a
//! `.torrent` fetched by URL and the trackers of a torrent or magnet.
//!
//! Addresses fall in three classes. Public ones are always allowed. Link-local ones
//! (169.254/16, fe80::/10) are never allowed: cloud metadata services live there, and no
//! tracker or torrent host has a reason to. Everything else that is not globally routable
//! (loopback, RFC 1918, unique local, carrier-grade NAT, unspecified, multicast,
//! broadcast, reserved) is private: allowed only when the operator says so
//! (`ALLOW_PRIVATE_URLS`, `ALLOW_PRIVATE_TRACKERS`), for a LAN tracker or a test.
//!
//! Host names get the same classes by name where the name says it all (`localhost`,
//! single-label names, `.local`, `.internal`, ...), and otherwise by what they resolve to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where an address or a name points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable.
    Public,
    /// Link-local (cloud metadata): never allowed.
    LinkLocal,
    /// Not globally routable; the text says which kind ("loopback", ...).
    Private(&'static str),
}

impl AddressClass {
    /// Whether the policy lets the server connect to this class.
    pub fn allowed(self, allow_private: bool) -> bool {
        match self {
            AddressClass::Public => true,
            AddressClass::LinkLocal => false,
            AddressClass::Private(_) => allow_private,
        }
    }
}

/// Why one address or name is refused, shown to users (and in `droppedTrackers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address or name refused.
    pub what: String,
    pub class: AddressClass,
}

impl Refusal {
    /// The same refusal, for a name that resolved to the refused address.
    pub fn via_name(self, name: &str) -> Self {
        if name.trim_start_matches('[').trim_end_matches(']') == self.what {
            return self;
        }
        Self {
            what: format!("{name}, resolving to {},", self.what),
            ..self
        }
    }

    /// The refusal with what would lift it: `allow_var` for private addresses, nothing
    /// for link-local ones.
    pub fn explain(&self, allow_var: &str) -> String {
        match self.class {
            AddressClass::LinkLocal => format!("{self}, never allowed"),
            _ => format!("{self}; set {allow_var}=true to allow"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            AddressClass::Public => write!(f, "{} is public", self.what),
            AddressClass::LinkLocal => write!(f, "{} is a link-local address", self.what),
            AddressClass::Private(kind) => write!(f, "{} is {kind}", self.what),
        }
    }
}

/// Checks one address against the policy.
pub fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    let class = classify(ip);
    if class.allowed(allow_private) {
        Ok(())
    } else {
        Err(Refusal {
            what: ip.to_string(),
            class,
        })
    }
}

/// The class of an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(v4: Ipv4Addr) -> AddressClass {
    use AddressClass::{LinkLocal, Private, Public};
    let o = v4.octets();
    if v4.is_link_local() {
        LinkLocal
    } else if v4.is_loopback() {
        Private("a loopback address")
    } else if v4.is_private() {
        Private("a private address (RFC 1918)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Private("a carrier-grade NAT address (100.64/10)")
    } else if v4.is_unspecified() || o[0] == 0 {
        Private("an unspecified address (this host)")
    } else if v4.is_broadcast() || v4.is_multicast() {
        Private("a broadcast or multicast address")
    } else if (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        || o[0] >= 240
    {
        Private("a reserved address")
    } else {
        Public
    }
}

fn classify_v6(v6: Ipv6Addr) -> AddressClass {
    use AddressClass::{LinkLocal, Private, Public};
    // Addresses that carry an IPv4 address are what that address is: mapped
    // (::ffff:a.b.c.d), the deprecated compatible form (::a.b.c.d) and NAT64 (64:ff9b::/96).
    if let Some(v4) = v6.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = v6.segments();
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return classify_v4(Ipv4Addr::from_bits(v6.to_bits() as u32));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::from_bits(v6.to_bits() as u32));
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        LinkLocal
    } else if v6.is_loopback() {
        Private("a loopback address")
    } else if v6.is_unspecified() {
        Private("an unspecified address (this host)")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Private("a unique local address (fc00::/7)")
    } else if (s[0] & 0xffc0) == 0xfec0 {
        Private("a site-local address (fec0::/10)")
    } else if v6.is_multicast() {
        Private("a multicast address")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Private("a reserved address")
    } else {
        Public
    }
}

/// Cloud metadata services by name: as forbidden as their link-local address.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Suffixes of names that only mean something inside a local network: RFC 6761
/// (`localhost`), RFC 6762 (`local`, and the private-use labels of its appendix G),
/// RFC 8375 (`home.arpa`) and ICANN's reserved `internal`.
const LOCAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "home.arpa",
];

/// The class of a host name by the name alone: `None` when only resolving it tells.
/// `name` is a host as `url` parsed it (lower case, IDNA applied).
pub fn classify_name(name: &str) -> Option<AddressClass> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if METADATA_NAMES.contains(&name) {
        return Some(AddressClass::LinkLocal);
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Some(AddressClass::Private("a loopback name"));
    }
    if !name.contains('.') {
        return Some(AddressClass::Private(
            "a single-label name (resolved through the local search domains)",
        ));
    }
    let local = LOCAL_SUFFIXES.iter().any(|s| {
        name.len() > s.len() && name.ends_with(s) && name[..name.len() - s.len()].ends_with('.')
    });
    local.then_some(AddressClass::Private("a local-network name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> AddressClass {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn link_local_is_its_own_class() {
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert_eq!(class(ip), AddressClass::LinkLocal, "{ip}");
            assert!(!class(ip).allowed(true), "{ip}");
        }
    }

    #[test]
    fn private_addresses_need_the_operator_s_consent() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
        ] {
            let c = class(ip);
            assert!(matches!(c, AddressClass::Private(_)), "{ip}: {c:?}");
            assert!(!c.allowed(false) && c.allowed(true), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "169.253.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(class(ip), AddressClass::Public, "{ip}");
        }
    }

    #[test]
    fn names_that_say_where_they_point() {
        for name in [
            "metadata.google.internal",
            "metadata.google.internal.",
            "instance-data",
        ] {
            assert_eq!(classify_name(name), Some(AddressClass::LinkLocal), "{name}");
        }
        for name in [
            "localhost",
            "localhost.",
            "a.localhost",
            "tracker",
            "nas.local",
            "jenkins.corp",
            "svc.internal",
            "box.home.arpa",
            "printer.lan",
        ] {
            let c = classify_name(name);
            assert!(matches!(c, Some(AddressClass::Private(_))), "{name}: {c:?}");
        }
        for name in [
            "tracker.example.org",
            "local.example.org",
            "lan.party.net",
            "localhost.example.com",
        ] {
            assert_eq!(classify_name(name), None, "{name}");
        }
    }

    #[test]
    fn refusals_say_what_would_allow_them() {
        let private = check_ip("10.0.0.1".parse().unwrap(), false).unwrap_err();
        assert_eq!(
            private.explain("ALLOW_PRIVATE_TRACKERS"),
            "10.0.0.1 is a private address (RFC 1918); set ALLOW_PRIVATE_TRACKERS=true to allow"
        );
        let metadata = check_ip("169.254.169.254".parse().unwrap(), true).unwrap_err();
        assert_eq!(
            metadata.explain("ALLOW_PRIVATE_TRACKERS"),
            "169.254.169.254 is a link-local address, never allowed"
        );
        assert!(check_ip("10.0.0.1".parse().unwrap(), true).is_ok());
    }
}
