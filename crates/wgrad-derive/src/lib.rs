//! `#[derive(Module)]`: implements `wgrad_nn::Module` from a struct's fields, so a composite model cannot
//! forget to visit a child's parameters or to switch a child between training and evaluation.
//!
//! Every field is a part of the module unless marked, and must implement `wgrad_nn::module::Visit`
//! (a `Param`, any `Module`, `Option`/`Vec` of those, `Box<dyn Forward>`). Field attributes:
//! - `#[module(skip)]`: not a part (hyper-parameters, configs, constants);
//! - `#[module(training)]`: a `bool` that `set_training` sets (dropout, batch norm);
//! - `#[module(flatten)]`: the part's names are not prefixed with the field name (`Sequential`'s layers
//!   are `0.weight`, as in PyTorch).
//!
//! Parameter paths are the field names joined with dots (`encoder.conv1.weight`), PyTorch's `state_dict`
//! keys. The model is Burn's `#[derive(Module)]`; the trait method names follow PyTorch.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Field, Fields, Ident};

/// See the crate docs.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The path of wgrad-nn in the crate being compiled: `::wgrad_nn` for a direct dependency (and inside
/// wgrad-nn and its doctests, which `extern crate self as wgrad_nn` serves), `::wgrad::nn` through the
/// umbrella crate (which does the same for itself). `crate::…` is never used: doctests and examples are
/// other crates, though the package is the same.
fn nn_path() -> Tokens {
    match crate_name("wgrad-nn") {
        Ok(FoundCrate::Itself) => return quote!(::wgrad_nn),
        Ok(FoundCrate::Name(name)) => {
            let ident = format_ident!("{name}");
            return quote!(::#ident);
        }
        Err(_) => {}
    }
    match crate_name("wgrad") {
        Ok(FoundCrate::Itself) => quote!(::wgrad::nn),
        Ok(FoundCrate::Name(name)) => {
            let ident = format_ident!("{name}");
            quote!(::#ident::nn)
        }
        Err(_) => quote!(::wgrad_nn),
    }
}

/// How the derive treats one field.
#[derive(PartialEq)]
enum Role {
    Part { flatten: bool },
    Training,
    Skip,
}

fn role(field: &Field) -> syn::Result<Role> {
    let mut role = Role::Part { flatten: false };
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            role = if meta.path.is_ident("skip") {
                Role::Skip
            } else if meta.path.is_ident("training") {
                Role::Training
            } else if meta.path.is_ident("flatten") {
                Role::Part { flatten: true }
            } else {
                return Err(meta.error("expected `skip`, `training` or `flatten`"));
            };
            Ok(())
        })?;
    }
    Ok(role)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Module)] supports structs only",
        ));
    };
    let nn = nn_path();
    let (mut visits, mut trainings) = (Vec::new(), Vec::new());
    let fields: Vec<(Tokens, String, &Field)> = match &data.fields {
        Fields::Named(named) => named
            .named
            .iter()
            .map(|f| {
                let ident: &Ident = f.ident.as_ref().expect("named fields have names");
                (quote!(#ident), ident.to_string(), f)
            })
            .collect(),
        Fields::Unnamed(unnamed) => unnamed
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let index = syn::Index::from(i);
                (quote!(#index), i.to_string(), f)
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    for (access, name, field) in fields {
        match role(field)? {
            Role::Skip => {}
            Role::Training => trainings.push(quote!(self.#access = training;)),
            Role::Part { flatten } => {
                let prefix = if flatten {
                    quote!(prefix.to_string())
                } else {
                    quote!(#nn::module::join(prefix, #name))
                };
                visits.push(quote!(#nn::module::Visit::visit_part(&self.#access, &#prefix, f);));
                trainings.push(
                    quote!(#nn::module::Visit::set_part_training(&mut self.#access, training);),
                );
            }
        }
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #nn::Module for #ident #ty_generics #where_clause {
            fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &#nn::Param)) {
                let _ = (&prefix, &f);
                #(#visits)*
            }
            fn set_training(&mut self, training: bool) {
                let _ = training;
                #(#trainings)*
            }
        }
    })
}
