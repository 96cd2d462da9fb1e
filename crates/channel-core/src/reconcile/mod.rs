//! The reconciliation engine.
