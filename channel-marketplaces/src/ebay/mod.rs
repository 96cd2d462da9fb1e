//! The ebay adapter (issue 16 fills this module).
