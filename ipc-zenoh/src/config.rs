//! Zenoh configurations that reach only the endpoints they are given.

use ipc::{Error, Result};

/// A Zenoh configuration for a peer that listens on `listen` and connects to `connect`
/// (endpoints such as `tcp/10.0.0.1:7447`, `tcp/127.0.0.1:0`) and nothing else:
/// multicast scouting and gossip are off, so the session neither announces itself on the
/// network nor connects to peers it hears of. A connection that drops is retried every
/// 100 ms at first, then every second, for as long as the session lives.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// let config = ipc_zenoh::config::peer(&["tcp/127.0.0.1:7447"], &[])?;
/// let session = ipc_zenoh::open(config)?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::InvalidEndpoint`] if an endpoint is not one Zenoh can parse.
pub fn peer(listen: &[&str], connect: &[&str]) -> Result<zenoh::Config> {
    let mut config = zenoh::Config::default();
    let set = |config: &mut zenoh::Config, key: &str, value: &str| {
        config
            .insert_json5(key, value)
            .map_err(|e| Error::InvalidEndpoint {
                endpoint: value.to_owned(),
                problem: format!("zenoh refuses `{key}`: {e}"),
                grammar: "a Zenoh endpoint, e.g. tcp/10.0.0.1:7447 or tcp/[::1]:7447",
            })
    };
    set(&mut config, "mode", r#""peer""#)?;
    set(&mut config, "scouting/multicast/enabled", "false")?;
    set(&mut config, "scouting/gossip/enabled", "false")?;
    set(&mut config, "listen/endpoints", &json_list(listen))?;
    set(&mut config, "connect/endpoints", &json_list(connect))?;
    set(
        &mut config,
        "connect/retry",
        r#"{"period_init_ms": 100, "period_max_ms": 1000, "period_increase_factor": 2}"#,
    )?;
    Ok(config)
}

/// `["a", "b"]`, each string escaped as JSON.
fn json_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_and_scouting_are_set() {
        let config = super::peer(&["tcp/127.0.0.1:0"], &["tcp/127.0.0.1:7447"]).unwrap();
        assert_eq!(
            config.get_json("scouting/multicast/enabled").unwrap(),
            "false"
        );
        assert_eq!(config.get_json("scouting/gossip/enabled").unwrap(), "false");
        assert!(config
            .get_json("connect/endpoints")
            .unwrap()
            .contains("tcp/127.0.0.1:7447"));
    }

    #[test]
    fn a_bad_endpoint_is_an_error() {
        let e = super::peer(&["nonsense"], &[]).unwrap_err();
        assert!(matches!(e, ipc::Error::InvalidEndpoint { .. }), "{e}");
    }
}
