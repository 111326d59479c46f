//! A target found by service discovery (file_sd, DNS): a `kms` name and a KMS URL, polled with the
//! `[poll]` defaults.

/// One discovered KMS.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiscoveredTarget {
    /// The `kms` label value.
    pub name: String,
    pub url: String,
}
