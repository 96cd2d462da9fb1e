//! The shared HTTP transport.
