#[clamator::service(name = "arith")]
pub trait Arith {
    #[clamator(rename = "slow-add")]
    async fn slow(&self, params: String) -> Result<String, clamator::RpcError>;
}

fn main() {}
