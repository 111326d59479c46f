//! The simulated KMS (design §7). Depends on `kurento::protocol` only, never on the client.
