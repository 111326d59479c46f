//! From readings to what is exported: pure, table-tested, no I/O and no Prometheus names.

pub mod counters;
pub mod detail;
pub mod model;
pub mod snapshot;
pub mod summary;
pub mod zombie;
