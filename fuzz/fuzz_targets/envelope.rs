#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clamator_fuzz::check_envelope(data));
