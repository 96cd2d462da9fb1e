#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stocksync_fuzz::takealot::run(data));
