pub struct NotAnError;

#[clamator::service(name = "arith")]
pub trait Arith {
    async fn add(&self, params: String) -> Result<String, NotAnError>;
}

fn main() {}
