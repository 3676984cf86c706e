//! Parsing the annotated trait and generating its companions.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Path, PathArguments, ReturnType,
    TraitItem, TraitItemFn, Type,
};

use clamator_names::{is_valid_method, is_valid_service, to_camel_case};

/// Arguments of `#[service(...)]`.
struct Args {
    name: LitStr,
    krate: Path,
}

/// Whether a method is answered, and with what.
enum Kind {
    /// Answered; `ok` is `T` of the declared `Result<T, E>`.
    Request { ok: Box<Type> },
    /// Fire-and-forget; the handler's output is `()` or `Result<(), E>`.
    Notification,
}

/// One method of the trait, after validation.
struct MethodInfo {
    ident: Ident,
    wire: String,
    konst: Ident,
    params: Type,
    output: Type,
    kind: Kind,
    docs: Vec<Attribute>,
}

/// Entry point: validates the trait and emits it with its companions.
pub(crate) fn service(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(attr)?;
    let mut item: ItemTrait = syn::parse2(item)?;
    check_trait_shape(&item)?;
    let methods = collect_methods(&mut item)?;
    Ok(generate(&args, &item, &methods))
}

fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut name: Option<LitStr> = None;
    let mut krate: Option<Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let value = meta.value()?;
            krate = Some(if value.peek(LitStr) {
                value.parse::<LitStr>()?.parse()?
            } else {
                value.parse()?
            });
            Ok(())
        } else {
            Err(meta.error("unknown argument; expected `name = \"<service>\"` or `crate = <path>`"))
        }
    });
    parser.parse2(attr)?;
    let name = name.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing service name: write #[clamator::service(name = \"<service>\")]",
        )
    })?;
    if !is_valid_service(&name.value()) {
        return Err(syn::Error::new(
            name.span(),
            format!(
                "invalid service name \"{}\" (must match ^[a-z][a-z0-9-]*$)",
                name.value()
            ),
        ));
    }
    Ok(Args {
        name,
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::clamator)),
    })
}

fn check_trait_shape(item: &ItemTrait) -> syn::Result<()> {
    if let Some(unsafety) = item.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            "a clamator service trait cannot be `unsafe`",
        ));
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            item.generics.span(),
            "a clamator service trait cannot be generic: its method types are the wire contract",
        ));
    }
    Ok(())
}

fn collect_methods(item: &mut ItemTrait) -> syn::Result<Vec<MethodInfo>> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut methods: Vec<MethodInfo> = Vec::new();
    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            push(syn::Error::new(
                trait_item.span(),
                "a clamator service trait holds only `async fn` methods",
            ));
            continue;
        };
        match method(f) {
            Ok(m) => {
                if let Some(first) = methods.iter().find(|o| o.wire == m.wire) {
                    push(syn::Error::new(
                        m.ident.span(),
                        format!(
                            "wire name \"{}\" is already used by `{}`",
                            m.wire, first.ident
                        ),
                    ));
                }
                methods.push(m);
            }
            Err(e) => push(e),
        }
    }
    for m in &methods {
        let name = m.ident.unraw().to_string();
        if matches!(name.as_str(), "new" | "core" | "into_core" | "service_name") {
            push(syn::Error::new(
                m.ident.span(),
                format!(
                    "`{name}` is reserved by the generated client and contract; \
                     give the Rust method another name and keep the wire name with \
                     #[clamator(rename = \"...\")]"
                ),
            ));
        }
        let timeout_variant = format!("{name}_with_timeout");
        if let Some(clash) = methods
            .iter()
            .find(|o| o.ident.unraw() == timeout_variant.as_str())
        {
            push(syn::Error::new(
                clash.ident.span(),
                format!(
                    "`{timeout_variant}` clashes with the generated timeout variant of `{name}`"
                ),
            ));
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(methods),
    }
}

/// Validates one `async fn`, strips its `#[clamator(...)]` attributes and rewrites it to return
/// a `Send` future.
fn method(f: &mut TraitItemFn) -> syn::Result<MethodInfo> {
    let (notification, rename) = take_method_attrs(&mut f.attrs)?;
    let sig = &mut f.sig;
    if let Some(body) = &f.default {
        return Err(syn::Error::new(
            body.span(),
            "default method bodies are not supported in a clamator service trait",
        ));
    }
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "methods of a clamator service trait must be `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "methods of a clamator service trait cannot be generic",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "variadics are not supported",
        ));
    }
    let shape_error = || {
        syn::Error::new(
            sig.paren_token.span.join(),
            "expected `(&self, params: P)`: a receiver `&self` and one owned params type",
        )
    };
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => return Err(shape_error()),
    }
    let params = match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(pt)), None) => (*pt.ty).clone(),
        _ => return Err(shape_error()),
    };
    if let Type::Reference(r) = &params {
        return Err(syn::Error::new(
            r.span(),
            "params are deserialized into an owned value: take `P`, not `&P`",
        ));
    }

    let ident = sig.ident.clone();
    let rust_name = ident.unraw().to_string();
    let (wire, wire_span) = match rename {
        Some(lit) => (lit.value(), lit.span()),
        None => (to_camel_case(&rust_name), ident.span()),
    };
    if !is_valid_method(&wire) {
        return Err(syn::Error::new(
            wire_span,
            format!("invalid method name \"{wire}\" (must match ^[a-z][a-zA-Z0-9]*$)"),
        ));
    }

    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let kind = if notification {
        Kind::Notification
    } else {
        Kind::Request {
            ok: result_ok_type(&sig.output).map(Box::new).ok_or_else(|| {
                let span = match &sig.output {
                    ReturnType::Type(_, ty) => ty.span(),
                    ReturnType::Default => sig.paren_token.span.close(),
                };
                syn::Error::new(
                    span,
                    "a method must return `Result<T, E>` (E: Into<HandlerError>); \
                     mark fire-and-forget methods with #[clamator(notification)]",
                )
            })?,
        }
    };

    sig.asyncness = None;
    sig.output = syn::parse_quote_spanned! {output.span()=>
        -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
    };
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    Ok(MethodInfo {
        konst: format_ident!("{}", rust_name.to_uppercase(), span = ident.span()),
        ident,
        wire,
        params,
        output,
        kind,
        docs,
    })
}

/// Reads and removes `#[clamator(notification, rename = "...")]`.
fn take_method_attrs(attrs: &mut Vec<Attribute>) -> syn::Result<(bool, Option<LitStr>)> {
    let mut notification = false;
    let mut rename: Option<LitStr> = None;
    let mut result = Ok(());
    attrs.retain(|attr| {
        if !attr.path().is_ident("clamator") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("notification") {
                notification = true;
                Ok(())
            } else if meta.path.is_ident("rename") {
                rename = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown clamator attribute; expected `notification` or `rename = \"...\"`",
                ))
            }
        });
        if let Err(e) = parsed {
            result = Err(e);
        }
        false
    });
    result.map(|()| (notification, rename))
}

/// `T` of a return type written `Result<T, E>` (any path ending in `Result`).
fn result_ok_type(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(ok) => Some(ok.clone()),
        _ => None,
    }
}

fn generate(args: &Args, item: &ItemTrait, methods: &[MethodInfo]) -> TokenStream {
    let krate = &args.krate;
    let service = &args.name;
    let service_name = service.value();
    let vis = &item.vis;
    let trait_ident = &item.ident;
    let contract_ident = format_ident!("{}Contract", trait_ident, span = trait_ident.span());
    let client_ident = format_ident!("{}Client", trait_ident, span = trait_ident.span());

    let mut item = item.clone();
    let trait_doc = format!(
        "Server side of the `{service_name}` service (`#[clamator::service]`): implement it, then \
         register [`{contract_ident}::service`]. Callers use [`{client_ident}`]."
    );
    item.attrs.push(syn::parse_quote!(#[doc = ""]));
    item.attrs.push(syn::parse_quote!(#[doc = #trait_doc]));

    let consts = methods.iter().map(|m| {
        let MethodInfo {
            konst,
            wire,
            params,
            docs,
            ..
        } = m;
        let doc = format!("The `{service_name}.{wire}` method: its wire name and types.");
        match &m.kind {
            Kind::Request { ok } => quote! {
                #[doc = #doc]
                #[doc = ""]
                #(#docs)*
                pub const #konst: #krate::Method<#params, #ok> =
                    #krate::Method::new(#service, #wire);
            },
            Kind::Notification => quote! {
                #[doc = #doc]
                #[doc = ""]
                #(#docs)*
                pub const #konst: #krate::NotificationMethod<#params> =
                    #krate::NotificationMethod::new(#service, #wire);
            },
        }
    });

    let registrations = methods.iter().map(|m| {
        let MethodInfo { konst, params, .. } = m;
        match &m.kind {
            Kind::Request { ok } => quote!(.method::<#params, #ok>(Self::#konst)),
            Kind::Notification => quote!(.notification::<#params>(Self::#konst)),
        }
    });

    let handlers = methods.iter().map(|m| {
        let MethodInfo { ident, konst, .. } = m;
        // Spanned on the return type: a bad error type is reported there.
        let register = match m.kind {
            Kind::Request { .. } => Ident::new("handle", m.output.span()),
            Kind::Notification => Ident::new("on_notification", m.output.span()),
        };
        quote! {
            .#register(Self::#konst, {
                let implementation = ::std::sync::Arc::clone(&implementation);
                move |params| {
                    let implementation = ::std::sync::Arc::clone(&implementation);
                    async move { <S as #trait_ident>::#ident(&*implementation, params).await }
                }
            })
        }
    });

    // Explicit type arguments make a missing `JsonSchema` point at the offending type.
    let entries = methods.iter().map(|m| {
        let MethodInfo { konst, params, .. } = m;
        match &m.kind {
            Kind::Request { ok } => quote! {
                #krate::manifest::ManifestEntry::for_method::<#params, #ok>(Self::#konst)?
            },
            Kind::Notification => quote! {
                #krate::manifest::ManifestEntry::for_notification::<#params>(Self::#konst)?
            },
        }
    });

    let client_methods = methods
        .iter()
        .map(|m| client_method(krate, &contract_ident, &service_name, m));

    let contract_doc = format!(
        "The `{service_name}` contract (generated from [`{trait_ident}`]): method constants, \
         the runtime [`Contract`]({}::Contract), the [`Service`]({}::Service) of an \
         implementation, and the schema manifest entries.",
        path_text(krate),
        path_text(krate)
    );
    let client_doc = format!(
        "Typed client of the `{service_name}` service (generated from [`{trait_ident}`]), over \
         any transport: `C` is an `RpcClientCore<T>`, a reference to one or an `Arc` of one."
    );
    let service_doc = format!(
        "Turns an implementation of [`{trait_ident}`] into a [`Service`]({}::Service) to \
         register on a server; the implementation is shared (in an `Arc`) by all handlers.",
        path_text(krate)
    );

    quote! {
        #item

        #[doc = #contract_doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        #vis struct #contract_ident;

        #[allow(dead_code)]
        impl #contract_ident {
            /// The service name: the first part of every method's wire name.
            pub const SERVICE_NAME: &'static str = #service;

            #(#consts)*

            /// The runtime contract (names were checked when the trait was compiled).
            pub fn contract() -> #krate::Contract {
                #krate::Contract::builder(Self::SERVICE_NAME)
                    #(#registrations)*
                    .build()
                    .expect("names and uniqueness were checked by #[clamator::service]")
            }

            #[doc = #service_doc]
            pub fn service<S>(implementation: S) -> #krate::Service
            where
                S: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static,
            {
                Self::service_from_arc(::std::sync::Arc::new(implementation))
            }

            /// Like [`service`](Self::service), for an implementation already shared in an `Arc`.
            pub fn service_from_arc<S>(implementation: ::std::sync::Arc<S>) -> #krate::Service
            where
                S: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static,
            {
                let service = #krate::Service::builder(Self::contract())
                    #(#handlers)*
                    .build()
                    .expect("every method of the contract has exactly one handler");
                // The manifest's hashes travel with the service (published with presence); a
                // type outside the schema subset only leaves them out.
                match Self::manifest_entries() {
                    ::core::result::Result::Ok(entries) => service.with_schema_hashes(
                        entries
                            .into_iter()
                            .map(|e| (e.method, e.params_hash, e.result_hash)),
                    ),
                    ::core::result::Result::Err(_) => service,
                }
            }

            /// Schema hashes of every method, for a clamator manifest (spec §8.4).
            pub fn manifest_entries() -> ::core::result::Result<
                ::std::vec::Vec<#krate::manifest::ManifestEntry>,
                #krate::schema::SchemaError,
            > {
                ::core::result::Result::Ok(::std::vec![#(#entries),*])
            }
        }

        impl #krate::ServiceContract for #contract_ident {
            const SERVICE_NAME: &'static str = #service;

            fn contract() -> #krate::Contract {
                #contract_ident::contract()
            }

            fn manifest_entries() -> ::core::result::Result<
                ::std::vec::Vec<#krate::manifest::ManifestEntry>,
                #krate::schema::SchemaError,
            > {
                #contract_ident::manifest_entries()
            }
        }

        #[doc = #client_doc]
        #[derive(Debug, Clone, Copy)]
        #vis struct #client_ident<C> {
            core: C,
        }

        #[allow(dead_code)]
        impl<C> #client_ident<C> {
            /// Wraps a client core (`&core`, `Arc<core>` or the core itself).
            pub const fn new(core: C) -> Self {
                Self { core }
            }

            /// The wrapped client core, e.g. to start or stop it.
            pub fn core(&self) -> &C {
                &self.core
            }

            /// Unwraps the client core.
            pub fn into_core(self) -> C {
                self.core
            }
        }

        #[allow(dead_code)]
        impl<C: #krate::AsClientCore> #client_ident<C> {
            #(#client_methods)*
        }
    }
}

fn client_method(
    krate: &Path,
    contract_ident: &Ident,
    service_name: &str,
    m: &MethodInfo,
) -> TokenStream {
    let MethodInfo {
        ident,
        wire,
        konst,
        params,
        docs,
        ..
    } = m;
    match &m.kind {
        Kind::Request { ok } => {
            let with_timeout = format_ident!("{}_with_timeout", ident.unraw(), span = ident.span());
            let doc = format!("Calls `{service_name}.{wire}` with the client's default timeout.");
            let doc_timeout = format!("Calls `{service_name}.{wire}` with its own timeout.");
            quote! {
                #[doc = #doc]
                #[doc = ""]
                #(#docs)*
                pub async fn #ident(&self, params: &#params)
                    -> ::core::result::Result<#ok, #krate::Error>
                {
                    #krate::AsClientCore::client_core(&self.core)
                        .call(#contract_ident::#konst, params)
                        .await
                }

                #[doc = #doc_timeout]
                pub async fn #with_timeout(
                    &self,
                    params: &#params,
                    timeout: ::core::time::Duration,
                ) -> ::core::result::Result<#ok, #krate::Error> {
                    #krate::AsClientCore::client_core(&self.core)
                        .call_with_timeout(#contract_ident::#konst, params, timeout)
                        .await
                }
            }
        }
        Kind::Notification => {
            let doc = format!(
                "Sends the `{service_name}.{wire}` notification; resolves once the transport \
                 accepted it (no answer ever comes)."
            );
            quote! {
                #[doc = #doc]
                #[doc = ""]
                #(#docs)*
                pub async fn #ident(&self, params: &#params)
                    -> ::core::result::Result<(), #krate::Error>
                {
                    #krate::AsClientCore::client_core(&self.core)
                        .notify(#contract_ident::#konst, params)
                        .await
                }
            }
        }
    }
}

/// `::clamator` → `clamator`, for intra-doc links in generated docs.
fn path_text(path: &Path) -> String {
    path.to_token_stream()
        .to_string()
        .replace(' ', "")
        .trim_start_matches("::")
        .to_owned()
}
