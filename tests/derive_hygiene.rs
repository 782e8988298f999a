//! The generated code works next to user items that shadow the prelude and common names:
//! it spells every path in full (`::core::...`, `::ipc::__private::...`).
#![allow(dead_code, non_camel_case_types)]

mod shadowed {
    pub type Result = ();
    pub struct Ok;
    pub struct Err;
    pub struct Option;
    pub mod core {}
    pub mod __private {}
    pub trait Message {}
    pub trait Copy {}
    pub struct u8;
    pub fn size_of() {}

    #[derive(Clone, ::core::marker::Copy, ipc::Message)]
    #[repr(C)]
    #[ipc(new)]
    pub struct Tick {
        pub at: ::core::primitive::u64,
        pub flag: bool,
        pub _pad: [::core::primitive::u8; 7],
    }

    #[derive(Clone, ::core::marker::Copy, ipc::Message)]
    #[repr(u8)]
    pub enum Side {
        Buy,
        Sell,
    }

    #[derive(Clone, ::core::marker::Copy, ipc::Message)]
    #[repr(C)]
    #[ipc(new)]
    pub struct Pair<T> {
        pub a: T,
        #[ipc(pad)]
        pub b: T,
    }
}

#[test]
fn derives_compile_with_shadowed_names() {
    use ipc::Message;
    assert_eq!(shadowed::Tick::SCHEMA.size, 16);
    assert!(shadowed::Tick::validate(&[0; 16]).is_ok());
    assert!(shadowed::Side::validate(&[2]).is_err());
    assert_eq!(shadowed::Pair::<u16>::SCHEMA.size, 4);
    let tick = shadowed::Tick::new(5, true);
    assert_eq!((tick.at, tick.flag, tick._pad), (5, true, [0; 7]));
    let pair = shadowed::Pair::<u16>::new(3);
    assert_eq!((pair.a, pair.b), (3, 0));
}
