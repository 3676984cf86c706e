//! The `Request-Timeout` header: how long the caller is willing to wait for the bus.

use std::time::Duration;

/// Parses a `Request-Timeout` value: a positive decimal number with an optional unit, `ms`,
/// `s` (the default) or `m`: `250ms`, `2s`, `2`, `1.5s`, `1m`. `None` for anything else
/// (zero, negative, empty, not finite, too large), so the caller answers 400 instead of guessing.
pub fn parse_request_timeout(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let number = number.trim_end();
    // Digits and at most one dot only: no sign, exponent, `inf` or `nan`.
    if number.is_empty()
        || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || number.bytes().filter(|&b| b == b'.').count() > 1
        || number == "."
    {
        return None;
    }
    let seconds = number.parse::<f64>().ok()? * scale;
    // The digits-only check above rules NaN out; zero is refused.
    if seconds <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_request_timeout("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_request_timeout("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_request_timeout(" 250ms "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_request_timeout("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_request_timeout("1m"), Some(Duration::from_secs(60)));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "s",
            "ms",
            "0",
            "0s",
            "-1s",
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            ".",
            "2h",
            "1 s x",
            "99999999999999999999999999999999999999m",
        ] {
            assert_eq!(parse_request_timeout(bad), None, "{bad:?}");
        }
    }
}
