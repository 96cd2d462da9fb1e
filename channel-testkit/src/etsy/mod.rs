//! The etsy emulator (issue 16 fills this module).
