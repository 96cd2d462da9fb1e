//! The ebay emulator (issue 16 fills this module).
