#[clamator::data]
fn not_a_type() {}

#[clamator::data(rename = "x")]
struct Args;

fn main() {}
