#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

#[cfg(feature = "ebay")]
pub mod ebay;
#[cfg(feature = "magento")]
pub mod magento;
