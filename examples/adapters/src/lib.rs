//! Shared helpers for the adapter example programs (see the package README).
