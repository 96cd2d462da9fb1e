#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]
