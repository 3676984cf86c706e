#[clamator::service(name = "arith")]
pub trait Arith {
    const LIMIT: u32;
    async fn add(&self, params: String) -> Result<String, clamator::RpcError> {
        Ok(params)
    }
}

fn main() {}
