//! Service and method names (spec §1.3).
//!
//! Both checks are anchored strictly: unlike Python's `re.match(…$)`, a trailing newline is
//! rejected, so a name this crate accepts is accepted by every clamator peer.

use crate::error::InvalidReason;

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

/// Splits `"<service>.<method>"` at the first dot and checks both parts, in the peer's order.
pub fn split_method(full: &str) -> Result<(&str, &str), InvalidReason> {
    let (service, method) = full.split_once('.').ok_or(InvalidReason::MethodShape)?;
    if service.is_empty() || method.is_empty() {
        return Err(InvalidReason::MethodShape);
    }
    if !is_valid_service(service) {
        return Err(InvalidReason::ServiceSegment);
    }
    if !is_valid_method(method) {
        return Err(InvalidReason::MethodSegment);
    }
    Ok((service, method))
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
    fn split_at_first_dot_in_peer_order() {
        assert_eq!(split_method("arith.add"), Ok(("arith", "add")));
        assert_eq!(split_method("arith"), Err(InvalidReason::MethodShape));
        assert_eq!(split_method(".add"), Err(InvalidReason::MethodShape));
        assert_eq!(split_method("arith."), Err(InvalidReason::MethodShape));
        assert_eq!(
            split_method("Arith.add"),
            Err(InvalidReason::ServiceSegment)
        );
        assert_eq!(split_method("arith.a.b"), Err(InvalidReason::MethodSegment));
        assert_eq!(
            split_method("arith.add\n"),
            Err(InvalidReason::MethodSegment)
        );
    }

    #[test]
    fn camel_case() {
        assert_eq!(to_camel_case("echo_text"), "echoText");
        assert_eq!(to_camel_case("add"), "add");
        assert_eq!(to_camel_case("slow_add_2"), "slowAdd2");
    }
}
