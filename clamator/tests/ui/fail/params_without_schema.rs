use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct NoSchema {
    pub a: f64,
}

#[clamator::service(name = "arith")]
pub trait Arith {
    async fn add(&self, params: NoSchema) -> Result<String, clamator::RpcError>;
}

fn main() {}
