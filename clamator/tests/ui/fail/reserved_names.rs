#[clamator::service(name = "arith")]
pub trait Arith {
    async fn new(&self, params: String) -> Result<String, clamator::RpcError>;
    async fn add(&self, params: String) -> Result<String, clamator::RpcError>;
    async fn add_with_timeout(&self, params: String) -> Result<String, clamator::RpcError>;
}

fn main() {}
