//! The etsy adapter (issue 16 fills this module).
