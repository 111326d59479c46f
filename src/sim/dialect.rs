//! The KMS major version the simulator imitates ([docs/kms-protocol.md
//! §13](../../docs/kms-protocol.md)).

use serde::Deserialize;

/// Which KMS major version the simulator imitates (field and event names, `getChilds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Dialect {
    #[serde(rename = "6")]
    V6,
    #[default]
    #[serde(rename = "7")]
    V7,
}
