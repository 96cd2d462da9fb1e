//! The magento adapter (issue 16 fills this module).
