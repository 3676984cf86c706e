#[clamator::service(name = "arith")]
pub trait Arith {
    fn add(&self, params: String) -> Result<String, clamator::RpcError>;
}

fn main() {}
