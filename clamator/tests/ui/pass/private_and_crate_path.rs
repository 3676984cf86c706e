//! A private trait (private companions, no dead-code noise) and a renamed crate path.
#![deny(warnings)]

use clamator::JsonSchema;
use serde::{Deserialize, Serialize};

mod alias {
    pub use clamator as clam;
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Empty {}

#[clamator::service(name = "private", crate = alias::clam)]
trait Private {
    async fn get(&self, params: Empty) -> Result<Empty, clamator::RpcError>;
}

fn main() {}
