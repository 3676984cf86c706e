//! An inventory service as a new user writes it from the README: one `clamator` dependency,
//! params and results declared with `#[clamator::data]` (no serde or schemars dependency, no
//! crate-path attribute), handlers returning `anyhow::Result`, and application code that holds
//! an [`AnyClient`] so the transport is chosen once, at start-up.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{bail, Context};
use clamator::AnyClient;

/// How many of an item to reserve.
#[clamator::data]
#[derive(Debug, Clone)]
pub struct Reserve {
    /// Stock-keeping unit.
    pub sku: String,
    /// Units wanted (at least 1).
    pub quantity: u32,
}

/// What is left after a reservation.
#[clamator::data]
#[derive(Debug, Clone, PartialEq)]
pub struct Remaining {
    /// Units still in stock.
    pub left: u32,
}

/// The `inventory` service.
#[clamator::service(name = "inventory")]
pub trait Inventory {
    /// Takes `quantity` units of `sku` out of stock.
    async fn reserve(&self, params: Reserve) -> anyhow::Result<Remaining>;
}

/// Stock kept in memory.
pub struct Stock(Mutex<HashMap<String, u32>>);

impl Stock {
    /// A stock with these counts.
    pub fn new(items: &[(&str, u32)]) -> Self {
        Self(Mutex::new(
            items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        ))
    }
}

impl Inventory for Stock {
    async fn reserve(&self, p: Reserve) -> anyhow::Result<Remaining> {
        if p.quantity == 0 {
            bail!("quantity must be at least 1");
        }
        let mut stock = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = stock
            .get_mut(&p.sku)
            .with_context(|| format!("unknown sku {:?}", p.sku))?;
        *left = left
            .checked_sub(p.quantity)
            .with_context(|| format!("only {left} of {} left", p.sku))?;
        Ok(Remaining { left: *left })
    }
}

/// Application code: reserves one unit, whatever bus carries the call.
pub async fn reserve_one(bus: &AnyClient, sku: &str) -> Result<u32, clamator::Error> {
    let reply = InventoryClient::new(bus.clone())
        .reserve(&Reserve {
            sku: sku.to_owned(),
            quantity: 1,
        })
        .await?;
    Ok(reply.left)
}
