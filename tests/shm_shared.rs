//! `Shared<T>` and the process-shared semaphore across real processes (this binary re-runs
//! itself with `SHM_SHARED_ROLE` naming the role).

use std::time::Duration;

use ipc::shm::{LockError, Options, Shared};
use ipc::Error;

const ROLE: &str = "SHM_SHARED_ROLE";

mod common;
use common::{Proc, ShmName as Name};

/// This binary re-run as a child playing `role` on the segment `name`.
fn spawn(role: &str, name: &str) -> Proc {
    Proc::spawn(ROLE, &format!("{role} {name}"))
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (role, name) = role.split_once(' ').unwrap();
    match role {
        "increment" => {
            let counter = Shared::<u64>::open(name).unwrap();
            for _ in 0..1000 {
                let mut g = counter.lock().unwrap();
                let v = *g;
                std::thread::yield_now();
                *g = v + 1;
            }
        }
        "die-holding-the-lock" => {
            let counter = Shared::<u64>::open(name).unwrap();
            let mut g = counter.lock().unwrap();
            *g = 999;
            println!("ready");
            std::thread::sleep(Duration::from_secs(60));
        }
        "post-when-written" => {
            let v = Shared::<[u32; 4]>::open(name).unwrap();
            *v.lock().unwrap() = [1, 2, 3, 4];
            v.semaphore().post();
        }
        _ => panic!("unknown role {role}"),
    }
    std::process::exit(0);
}

#[test]
fn two_processes_increment_one_counter_to_2000() {
    let name = Name::new("counter");
    let counter = Shared::<u64>::create(&name.0, 0, Options::new()).unwrap();
    let kids = [spawn("increment", &name.0), spawn("increment", &name.0)];
    for k in kids {
        k.assert_success();
    }
    assert_eq!(*counter.lock().unwrap(), 2000);
}

#[test]
fn a_holder_killed_while_locked_gives_owner_died_and_the_value_can_be_repaired() {
    let name = Name::new("robust");
    let counter = Shared::<u64>::create(&name.0, 0, Options::new()).unwrap();
    let mut kid = spawn("die-holding-the-lock", &name.0);
    kid.wait_ready();
    kid.kill();
    match counter.lock() {
        Err(LockError::OwnerDied(mut g)) => {
            assert_eq!(*g, 999);
            *g = 0;
            g.mark_consistent();
        }
        other => panic!("{other:?}"),
    }
    let mut g = counter.lock().unwrap();
    *g += 1;
    drop(g);
    assert_eq!(*counter.lock().unwrap(), 1);
}

#[test]
fn owner_died_until_marked_consistent_and_converts_to_error() {
    let name = Name::new("robust2");
    let counter = Shared::<u64>::create(&name.0, 5, Options::new()).unwrap();
    let mut kid = spawn("die-holding-the-lock", &name.0);
    kid.wait_ready();
    kid.kill();
    assert!(matches!(counter.lock(), Err(LockError::OwnerDied(_))));
    // Not marked consistent: the next locker is told too, and `?` gives Error::OwnerDied.
    let e: Error = counter.lock().map(|_| ()).unwrap_err().into();
    assert!(matches!(e, Error::OwnerDied), "{e}");
}

#[test]
fn invalid_bytes_in_a_shared_value_are_refused_and_repairable() {
    let name = Name::new("invalid");
    let flag = Shared::<bool>::create(&name.0, true, Options::new()).unwrap();
    // A hostile writer stores 7 into the bool.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    // SAFETY: maps the test's own segment file; writes plain bytes.
    let mut m = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    let at = m.iter().rposition(|&b| b == 1).unwrap();
    m[at] = 7;
    match flag.lock() {
        Err(LockError::Invalid(repair, e)) => {
            println!("refused: {e}");
            let g = repair.set(false);
            assert!(!*g);
        }
        other => panic!("{other:?}"),
    }
    assert!(!*flag.lock().unwrap());
}

#[test]
fn semaphore_in_the_segment_signals_across_processes() {
    let name = Name::new("sem");
    let v = Shared::<[u32; 4]>::create(&name.0, [0; 4], Options::new()).unwrap();
    let kid = spawn("post-when-written", &name.0);
    v.semaphore().wait_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(*v.lock().unwrap(), [1, 2, 3, 4]);
    kid.assert_success();
    assert!(matches!(
        v.semaphore().wait_timeout(Duration::from_millis(5)),
        Err(Error::Timeout(_))
    ));
}

#[test]
fn wrong_type_is_a_schema_mismatch() {
    let name = Name::new("schema");
    let _v = Shared::<u64>::create(&name.0, 0, Options::new()).unwrap();
    assert!(matches!(
        Shared::<u32>::open(&name.0),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(matches!(
        ipc::shm::Receiver::<u64>::open(&name.0),
        Err(Error::Corrupt(_))
    ));
}
