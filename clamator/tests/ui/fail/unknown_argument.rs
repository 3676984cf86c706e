#[clamator::service(name = "arith", version = "1")]
pub trait Arith {}

fn main() {}
