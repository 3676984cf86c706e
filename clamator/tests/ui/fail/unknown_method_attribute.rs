#[clamator::service(name = "arith")]
pub trait Arith {
    #[clamator(notify)]
    async fn ping(&self, params: String);
}

fn main() {}
