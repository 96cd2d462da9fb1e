//! Price lists.
