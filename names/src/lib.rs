//! clamator's name rules (spec §1.3), in a crate of their own so the `#[clamator::service]`
//! macro checks names at compile time without building the runtime for the host.
//!
//! Both checks are anchored strictly: unlike Python's `re.match(…$)`, a trailing newline is
//! rejected, so a name accepted here is accepted by every clamator peer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `^[a-z][a-z0-9-]*$`: service names, also used as Redis stream and group names.
pub fn is_valid_service(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// `^[a-z][a-zA-Z0-9]*$`: method names (no hyphen since clamator 0.1.6).
pub fn is_valid_method(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| b.is_ascii_alphanumeric())
}

/// `echo_text` → `echoText`: the clamator wire name of a snake_case Rust identifier.
pub fn to_camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["a", "arith", "my-svc", "s3", "a-"] {
            assert!(is_valid_service(ok), "{ok}");
        }
        for bad in ["", "A", "1a", "-a", "a_b", "a.b", "arith\n", "é", "aB"] {
            assert!(!is_valid_service(bad), "{bad:?}");
        }
    }

    #[test]
    fn method_names() {
        for ok in ["add", "echoText", "slowAdd2", "x"] {
            assert!(is_valid_method(ok), "{ok}");
        }
        for bad in ["", "Add", "slow-add", "slow_add", "a.b", "add\n", "9a"] {
            assert!(!is_valid_method(bad), "{bad:?}");
        }
    }

    #[test]
    fn camel_case() {
        assert_eq!(to_camel_case("echo_text"), "echoText");
        assert_eq!(to_camel_case("add"), "add");
        assert_eq!(to_camel_case("slow_add_2"), "slowAdd2");
    }
}
