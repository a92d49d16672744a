//! Nothing here: `tests/` holds `latchkey-store-postgres`'s tests that drive the facade
//! (`instances.rs`: four service processes on one database; `faults.rs`: killed writers,
//! a stopped and a silent server).
//!
//! The facade's tests depend on `latchkey-store-postgres`, so these cannot be its
//! dev-dependency tests and still be published. They need a server: `eval
//! "$(.ci/postgres)"` (see CONTRIBUTING.md).
