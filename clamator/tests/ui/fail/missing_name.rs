#[clamator::service]
pub trait Arith {}

fn main() {}
