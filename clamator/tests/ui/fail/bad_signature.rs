#[clamator::service(name = "arith")]
pub trait Arith {
    async fn no_params(&self) -> Result<String, clamator::RpcError>;
    async fn two_params(&self, a: String, b: String) -> Result<String, clamator::RpcError>;
    async fn mut_self(&mut self, a: String) -> Result<String, clamator::RpcError>;
    async fn by_ref(&self, a: &String) -> Result<String, clamator::RpcError>;
}

fn main() {}
