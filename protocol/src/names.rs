//! Service and method names (spec §1.3); the rules themselves live in `clamator-names`, shared
//! with the macro.

pub use clamator_names::{is_valid_method, is_valid_service, to_camel_case};

use crate::error::InvalidReason;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
