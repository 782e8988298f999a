//! `bytemuck::Pod` and `Zeroable` exist exactly for derived types without invalid bit
//! patterns.

use ipc::Message;

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Sample {
    at: u64,
    value: f32,
    channel: [u16; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum State {
    Off,
    On,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct WithBool {
    ok: bool,
    n: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct WithEnum {
    state: State,
    n: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct WithStr {
    s: ipc::FixedStr<4>,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(transparent)]
struct Wrapper<T>(T);

/// Compiles only for `Pod` types.
fn pod<T: bytemuck::Pod>() {}
/// Compiles only for `Zeroable` types.
fn zeroable<T: bytemuck::Zeroable>() {}

/// Autoref specialisation: `is_pod!(T)` is true exactly when `T: Pod`, without
/// requiring it (so the test can state the negative cases).
macro_rules! is_pod {
    ($t:ty) => {{
        struct Probe<T>(core::marker::PhantomData<T>);
        #[allow(dead_code)]
        trait Yes {
            fn get(&self) -> bool {
                true
            }
        }
        impl<T: bytemuck::Pod> Yes for Probe<T> {}
        #[allow(dead_code)]
        trait No {
            fn get(&self) -> bool {
                false
            }
        }
        impl<T> No for &Probe<T> {}
        (&Probe::<$t>(core::marker::PhantomData)).get()
    }};
}

#[test]
fn all_numeric_struct_is_pod_and_casts() {
    pod::<Sample>();
    zeroable::<Sample>();
    let s = Sample {
        at: 1,
        value: 2.5,
        channel: [3, 4],
    };
    let bytes: [u8; 16] = bytemuck::cast(s);
    assert_eq!(bytes.as_slice(), ipc::as_bytes(&s));
    assert_eq!(bytemuck::cast::<[u8; 16], Sample>(bytes), s);
    assert_eq!(Sample::SCHEMA.size, 16);
    pod::<Wrapper<u32>>();
}

#[test]
fn types_with_invalid_bit_patterns_are_not_pod() {
    assert!(is_pod!(Sample));
    assert!(!is_pod!(WithBool));
    assert!(!is_pod!(WithEnum));
    assert!(!is_pod!(WithStr));
    assert!(!is_pod!(State));
    assert!(!is_pod!(Wrapper<bool>));
    // Zero bytes are still a valid bool and an empty FixedStr.
    zeroable::<WithBool>();
    zeroable::<WithStr>();
    let z: WithStr = bytemuck::Zeroable::zeroed();
    assert_eq!(z.s.as_str(), "");
}
