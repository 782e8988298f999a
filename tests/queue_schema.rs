//! POSIX and System V queues carry their creator's whole schema tree beside them (the
//! POSIX queue's schema header, the System V queue's registry): a process of another
//! definition of the message type is refused at open, told which field differs.

use ipc::Error;

mod common;
use common::{MqName, Proc};

const ROLE: &str = "IPC_QUEUE_SCHEMA_ROLE";

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

/// The difference a mismatch names, or a panic saying what came instead.
fn difference(e: Error) -> String {
    match e {
        Error::SchemaMismatch {
            difference: Some(d),
            ..
        } => d.into_string(),
        e => panic!("not a mismatch naming a field: {e:?}"),
    }
}

/// The child side: opens the queue the parent made, as the other definition.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (kind, name) = role.split_once(' ').unwrap();
    let e = match kind {
        "mq" => ipc::mq::Receiver::<v2::Order>::open(name).unwrap_err(),
        "sysv" => {
            let id = name.parse().unwrap();
            ipc::sysv::Receiver::<v2::Order>::from_id(id).unwrap_err()
        }
        _ => panic!("unknown role {role}"),
    };
    let d = difference(e);
    assert!(d.contains("`Order.qty`"), "{d}");
    assert!(d.contains("u64") && d.contains("u32"), "{d}");
    println!("ready");
}

#[test]
fn a_posix_queue_names_the_field_that_differs_to_a_process_of_another_definition() {
    let name = MqName::new("schema-mq");
    let _tx = ipc::mq::Sender::<v1::Order>::create(&name.0, ipc::mq::Options::new()).unwrap();
    let mut child = Proc::spawn(ROLE, &format!("mq {}", name.0));
    child.wait_ready();
    child.assert_success();
    // The same in this process, the other way round: the header says v1.
    let d = difference(ipc::mq::Sender::<v2::Order>::open(&name.0).unwrap_err());
    assert!(d.contains("`Order.qty`"), "{d}");
}

#[test]
fn a_system_v_queue_names_the_field_that_differs_to_a_process_of_another_definition() {
    let opts = ipc::sysv::Options::new();
    let tx = ipc::sysv::Sender::<v1::Order>::create(ipc::sysv::Key::Private, opts).unwrap();
    let id = tx.id();
    let mut child = Proc::spawn(ROLE, &format!("sysv {id}"));
    child.wait_ready();
    child.assert_success();
    // A queue it made for v1 goes with it: nothing left behind.
    tx.remove().unwrap();
}
