//! From readings to what is exported: pure, table-tested, no I/O and no Prometheus names.

pub(crate) mod capacity;
pub(crate) mod counters;
pub mod detail;
pub(crate) mod model;
pub(crate) mod quality;
pub(crate) mod rates;
pub(crate) mod snapshot;
pub(crate) mod summary;
pub(crate) mod topology;
pub(crate) mod zombie;
