//! Unit tests of the pipeline on token streams (the compile-fail behaviour is tested
//! end to end by the trybuild suite in `ui-tests/tests/ui`).

use proc_macro2::{TokenStream, TokenTree};
use syn::DeriveInput;

fn run(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input).expect("test input parses");
    crate::derive(&input)
}

fn error_count(input: TokenStream) -> usize {
    run(input)
        .expect_err("input is refused")
        .into_iter()
        .count()
}

/// Every path in `tokens` that starts with `::` (a global path), as its first segment.
fn global_roots(tokens: TokenStream, out: &mut Vec<String>) {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tt) in tts.iter().enumerate() {
        match tt {
            TokenTree::Group(g) => global_roots(g.stream(), out),
            TokenTree::Punct(p) if p.as_char() == ':' && i + 2 < tts.len() => {
                // `a::b`, `x::y::z` and `<T as Tr>::C` continue a path; `::a` starts one.
                let continues = i > 0
                    && match &tts[i - 1] {
                        TokenTree::Ident(_) => true,
                        TokenTree::Punct(q) => q.as_char() == ':' || q.as_char() == '>',
                        _ => false,
                    };
                let next_is_colon =
                    matches!(&tts[i + 1], TokenTree::Punct(q) if q.as_char() == ':');
                if !continues && next_is_colon {
                    if let TokenTree::Ident(root) = &tts[i + 2] {
                        out.push(root.to_string());
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_mistake_is_reported_at_once() {
    let n = error_count(quote::quote! {
        #[ipc(sise = 1, size = 2, size = 3)]
        struct Frame<'a> {
            #[ipc(name = "x")]
            a: &'a u8,
            b: Vec<u8>,
            c: [usize; 2],
            d: fn(),
        }
    });
    // sise, duplicate size, missing repr, lifetime, #[ipc] on a field, &, Vec, usize, fn.
    assert_eq!(n, 9);
}

#[test]
fn every_constructor_mistake_is_reported_at_once() {
    let n = error_count(quote::quote! {
        #[ipc(new, new, pad)]
        #[repr(C)]
        struct Frame(u8, #[ipc(pad, size = 1, bogus)] u8);
    });
    // Duplicate new, pad on the type, new on a tuple struct, size and bogus on a field.
    assert_eq!(n, 5);
    let n = error_count(quote::quote! {
        #[ipc(new = "make")]
        #[repr(u8)]
        enum E { A }
    });
    // new with a value (then ignored), and so not on an enum either.
    assert_eq!(n, 1);
    let n = error_count(quote::quote! {
        #[ipc(new)]
        #[repr(u8)]
        enum E { A }
    });
    assert_eq!(n, 1);
}

#[test]
fn constructor_takes_what_is_not_padding() {
    let out = run(quote::quote! {
        #[repr(C)]
        #[ipc(new)]
        pub(crate) struct S { a: u32, _pad: [u8; 4], _b: u32, #[ipc(pad)] c: u32, _d: [u16; 2] }
    })
    .expect("accepted")
    .to_string();
    assert!(
        out.contains("pub (crate) const fn new (a : u32 , _b : u32 , _d : [u16 ; 2])"),
        "{out}"
    );
    assert!(
        out.contains("_pad : :: ipc :: __private :: zeroed :: < [u8 ; 4] > ()"),
        "{out}"
    );
    assert!(
        out.contains("c : :: ipc :: __private :: zeroed :: < u32 > ()"),
        "{out}"
    );
}

#[test]
fn refusals_do_not_panic_on_odd_input() {
    let cases = [
        quote::quote!(
            #[repr(u8)]
            enum E {
                A(u8),
                B { x: u8 },
                C,
            }
        ),
        quote::quote!(
            #[repr(C)]
            enum E {}
        ),
        quote::quote!(
            #[repr(u128)]
            enum E {
                A,
            }
        ),
        quote::quote!(#[repr(C)] union U { a: u8 }),
        quote::quote!(
            #[repr(packed(2))]
            struct S {
                a: u8,
            }
        ),
        quote::quote!(
            #[ipc]
            #[repr(C)]
            struct S {
                a: u8,
            }
        ),
        quote::quote!(
            #[ipc = "x"]
            #[repr(C)]
            struct S {
                a: u8,
            }
        ),
        quote::quote!(
            #[ipc(size = "8", align = 3, name = "", crate = "1")]
            #[repr(C)]
            struct S;
        ),
        quote::quote!(
            #[ipc(a::b = 1, c(d, e), f)]
            #[repr(C)]
            struct S;
        ),
        quote::quote!(
            #[repr(C)]
            struct S {
                a: <u8 as Tr>::Out,
                b: Rc<usize>,
                c: (isize,),
            }
        ),
    ];
    for case in cases {
        assert!(run(case).is_err());
    }
}

#[test]
fn odd_field_types_do_not_panic() {
    // Not valid Rust, but they parse: the compiler reports them; the macro must not panic.
    let cases = [
        quote::quote!(
            #[repr(C)]
            struct S {
                a: impl Copy + Send,
            }
        ),
        quote::quote!(
            #[repr(C)]
            struct S {
                a: dyn Copy + Send,
            }
        ),
        quote::quote!(
            #[repr(C)]
            struct S {
                a: _,
                b: !,
                c: m!(),
            }
        ),
        quote::quote!(
            #[repr(C)]
            struct S<T: ?Sized>
            where
                T: Copy,
            {
                a: [T; 0],
            }
        ),
    ];
    for case in cases {
        let _ = run(case);
    }
}

#[test]
fn output_refers_only_to_the_runtime_and_core() {
    let out = run(quote::quote! {
        #[repr(C)]
        #[ipc(size = 16, align = 8, new)]
        struct S<T> { a: u64, b: [T; 2], #[ipc(pad)] c: [T; 0] }
    })
    .expect("accepted");
    let mut roots = Vec::new();
    global_roots(out, &mut roots);
    assert!(!roots.is_empty());
    assert!(roots.iter().all(|r| r == "ipc" || r == "core"), "{roots:?}");
}

#[test]
fn crate_attribute_replaces_the_runtime_path() {
    let out = run(quote::quote! {
        #[repr(u8)]
        #[ipc(crate = "my::ipc")]
        enum E { A }
    })
    .expect("accepted");
    assert!(out
        .to_string()
        .contains("my :: ipc :: __private :: Message"));
    let mut roots = Vec::new();
    global_roots(out, &mut roots);
    assert!(roots.iter().all(|r| r == "core"), "{roots:?}");
}
