//! Catalog and bundles.
