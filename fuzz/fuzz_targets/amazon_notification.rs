#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stocksync_fuzz::amazon::run_notification(data));
