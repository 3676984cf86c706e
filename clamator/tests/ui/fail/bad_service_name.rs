#[clamator::service(name = "Arith")]
pub trait Arith {}

fn main() {}
