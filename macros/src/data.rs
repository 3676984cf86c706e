//! `#[data]`: the derives a params or result type needs, with crate paths that resolve through
//! the one `clamator` dependency.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::{Item, LitStr, Path};

/// Adds `Serialize`, `Deserialize` and `JsonSchema` derives pointing at `<crate>::serde` and
/// `<crate>::schemars`, so the user's crate needs neither dependency nor a crate attribute.
pub(crate) fn data(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let krate = parse_crate(attr)?;
    let item: Item = syn::parse2(item)?;
    if !matches!(item, Item::Struct(_) | Item::Enum(_)) {
        return Err(syn::Error::new_spanned(
            item,
            "#[clamator::data] goes on a struct or an enum (a params or result type)",
        ));
    }
    let serde = quote!(#krate::serde).to_string().replace(' ', "");
    let schemars = quote!(#krate::schemars).to_string().replace(' ', "");
    Ok(quote! {
        #[derive(#krate::serde::Serialize, #krate::serde::Deserialize, #krate::JsonSchema)]
        #[serde(crate = #serde)]
        #[schemars(crate = #schemars)]
        #item
    })
}

fn parse_crate(attr: TokenStream) -> syn::Result<Path> {
    let mut krate: Option<Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            let value = meta.value()?;
            krate = Some(if value.peek(LitStr) {
                value.parse::<LitStr>()?.parse()?
            } else {
                value.parse()?
            });
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown argument `{}`: #[clamator::data] takes only `crate = <path>`",
                meta.path.to_token_stream()
            )))
        }
    });
    parser.parse2(attr)?;
    Ok(krate.unwrap_or_else(|| syn::parse_quote!(::clamator)))
}
