#[clamator::service(name = "arith")]
pub trait Arith {
    async fn echo_text(&self, params: String) -> Result<String, clamator::RpcError>;
    #[clamator(rename = "echoText")]
    async fn echo(&self, params: String) -> Result<String, clamator::RpcError>;
}

fn main() {}
