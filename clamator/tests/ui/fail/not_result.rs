#[clamator::service(name = "arith")]
pub trait Arith {
    async fn add(&self, params: String) -> String;
}

fn main() {}
