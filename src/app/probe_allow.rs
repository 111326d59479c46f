//! Who may be probed (`probe.allowed_targets`): an exporter reachable by others must not become
//! a way to open WebSockets to anywhere. Entries that parse as CIDRs match targets given as IP
//! addresses; the others are regexes that must match the whole host. Pure.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::kurento::redact::cap;

/// The parsed `probe.allowed_targets`.
#[derive(Debug, Clone)]
pub struct AllowList {
    networks: Vec<IpNet>,
    hosts: Vec<Regex>,
}

impl AllowList {
    /// Parses the entries, or says which one is neither a CIDR nor a regex.
    pub fn new(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList {
            networks: Vec::new(),
            hosts: Vec::new(),
        };
        for entry in entries {
            if let Ok(net) = entry.parse::<IpNet>() {
                list.networks.push(net);
                continue;
            }
            // Anchored: `kms-1\.example` must not also allow `kms-1.example.attacker.net`.
            match Regex::new(&format!("^(?:{entry})$")) {
                Ok(re) => list.hosts.push(re),
                Err(e) => {
                    let reason = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                    return Err(format!(
                        "{:?} is neither a CIDR nor a valid regex: {reason}",
                        cap(entry)
                    ));
                }
            }
        }
        Ok(list)
    }

    /// Whether `host` (an IP address, bracketed or not, or a name) may be probed.
    pub fn allows(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>()
            && self.networks.iter().any(|net| net.contains(&ip))
        {
            return true;
        }
        self.hosts.iter().any(|re| re.is_match(bare))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        AllowList::new(&entries).unwrap()
    }

    #[test]
    fn networks_match_addresses_and_regexes_match_whole_names() {
        let allow = list(&["127.0.0.0/8", "::1/128", "localhost", r"kms-\d+\.example"]);
        for ok in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "localhost",
            "kms-12.example",
        ] {
            assert!(allow.allows(ok), "{ok}");
        }
        for no in [
            "10.0.0.1",
            "::2",
            "localhost.attacker.net",
            "kms-12.example.attacker.net",
            "xkms-1.example",
            "203.0.113.5",
        ] {
            assert!(!allow.allows(no), "{no}");
        }
        assert!(
            !list(&[]).allows("127.0.0.1"),
            "an empty list allows nothing"
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let err = AllowList::new(&["10.0.0.0/8".to_owned(), "kms-(".to_owned()]).unwrap_err();
        assert!(err.contains("\"kms-(\""), "{err}");
    }
}
