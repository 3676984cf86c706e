#[clamator::service(name = "arith")]
pub trait Arith {
    #[allow(non_snake_case)]
    async fn Add(&self, params: String) -> Result<String, clamator::RpcError>;
}

fn main() {}
