//! The name rules of `clamator-protocol::names` (spec §1.3), repeated here so names are checked
//! at compile time without the macro pulling in the runtime crate. A test keeps both in step.

/// `^[a-z][a-z0-9-]*$`, anchored strictly.
pub(crate) fn is_valid_service(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// `^[a-z][a-zA-Z0-9]*$`, anchored strictly.
pub(crate) fn is_valid_method(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| b.is_ascii_alphanumeric())
}

/// `echo_text` → `echoText`.
pub(crate) fn to_camel_case(snake: &str) -> String {
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
    use clamator_protocol::names as runtime;

    #[test]
    fn agrees_with_the_runtime_rules() {
        let samples = [
            "",
            "a",
            "A",
            "arith",
            "my-svc",
            "s3",
            "a-",
            "1a",
            "-a",
            "a_b",
            "a.b",
            "arith\n",
            "é",
            "aB",
            "add",
            "echoText",
            "slowAdd2",
            "x",
            "Add",
            "slow-add",
            "slow_add",
            "add\n",
            "9a",
            "echo_text",
            "_x",
            "a__b",
            "slow_add_2",
            "abc_",
        ];
        for s in samples {
            assert_eq!(
                is_valid_service(s),
                runtime::is_valid_service(s),
                "service {s:?}"
            );
            assert_eq!(
                is_valid_method(s),
                runtime::is_valid_method(s),
                "method {s:?}"
            );
            assert_eq!(to_camel_case(s), runtime::to_camel_case(s), "camel {s:?}");
        }
    }
}
