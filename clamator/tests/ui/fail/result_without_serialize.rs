use serde::Deserialize;

#[derive(Deserialize, clamator::JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct NotSerialize {
    pub a: f64,
}

#[clamator::service(name = "arith")]
pub trait Arith {
    async fn add(&self, params: String) -> Result<NotSerialize, clamator::RpcError>;
}

fn main() {}
