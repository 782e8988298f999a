//! A shared-memory segment carries its message type's whole schema after its header: a
//! peer built from another definition is refused with the first field that differs named,
//! on channels, topics and shared values alike.

use ipc::shm::{Options, Publisher, Receiver, Sender, Shared, Subscriber};
use ipc::Error;

mod common;
use common::ShmName as Name;

mod v1 {
    #[derive(ipc::Message, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub qty: u32,
        pub price: u32,
    }
}

mod v2 {
    #[derive(ipc::Message, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub qty: u64,
    }
}

fn difference(e: Error) -> String {
    match e {
        Error::SchemaMismatch {
            difference: Some(d),
            ..
        } => d.into_string(),
        e => panic!("not a mismatch naming a field: {e:?}"),
    }
}

#[test]
fn a_peer_of_another_definition_is_told_which_field_differs() {
    let name = Name::new("schema-chan");
    let _rx = Receiver::<v1::Order>::create(&name.0, Options::new()).unwrap();
    let e = Sender::<v2::Order>::open(&name.0).unwrap_err();
    let text = e.to_string();
    let d = difference(e);
    assert!(d.contains("`Order.qty`"), "{d}");
    assert!(d.contains("u32") && d.contains("u64"), "{d}");
    assert!(text.contains("first difference"), "{text}");

    let topic = Name::new("schema-topic");
    let _tx = Publisher::<v2::Order>::create(&topic.0, Options::new()).unwrap();
    let d = difference(Subscriber::<v1::Order>::open(&topic.0).unwrap_err());
    assert!(d.contains("`Order.qty`"), "{d}");

    let shared = Name::new("schema-shared");
    let init = v1::Order {
        id: 1,
        qty: 2,
        price: 3,
    };
    let _s = Shared::<v1::Order>::create(&shared.0, init, Options::new()).unwrap();
    let d = difference(Shared::<v2::Order>::open(&shared.0).unwrap_err());
    assert!(d.contains("`Order"), "{d}");
}

#[test]
fn a_slice_channel_names_its_element_field() {
    let name = Name::new("schema-slice");
    let _rx = Receiver::<[v1::Order]>::create(&name.0, Options::new().max_len(4)).unwrap();
    let d = difference(Sender::<[v2::Order]>::open(&name.0).unwrap_err());
    assert!(d.contains("`Order.qty`"), "{d}");
}

const ROLE: &str = "IPC_SHM_SCHEMA_ROLE";

/// The child side: opens what the parent made, as the other definition.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (kind, name) = role.split_once(' ').unwrap();
    let e = match kind {
        "channel" => Sender::<v2::Order>::open(name).unwrap_err(),
        "topic" => Subscriber::<v2::Order>::open(name).unwrap_err(),
        _ => panic!("unknown role {role}"),
    };
    let d = difference(e);
    assert!(d.contains("`Order.qty`"), "{d}");
    assert!(d.contains("u32") && d.contains("u64"), "{d}");
    println!("ready");
}

#[test]
fn a_process_of_another_definition_is_told_which_field_differs() {
    let chan = Name::new("schema-proc-chan");
    let _rx = Receiver::<v1::Order>::create(&chan.0, Options::new()).unwrap();
    let topic = Name::new("schema-proc-topic");
    let _tx = Publisher::<v1::Order>::create(&topic.0, Options::new()).unwrap();
    for role in [format!("channel {}", chan.0), format!("topic {}", topic.0)] {
        let mut child = common::Proc::spawn(ROLE, &role);
        child.wait_ready();
        child.assert_success();
    }
}
