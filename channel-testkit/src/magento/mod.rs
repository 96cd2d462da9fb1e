//! The magento emulator (issue 16 fills this module).
