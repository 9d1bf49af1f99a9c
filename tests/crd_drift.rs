//! `crds/` must equal what `clientops crd` prints (CI checks this too).

#[test]
fn checked_in_crds_match_the_types() {
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/clientops.yaml"))
            .expect("crds/clientops.yaml");
    let generated = clientops::api::crds::render_yaml().unwrap();
    assert!(
        on_disk == generated,
        "crds/clientops.yaml is stale: run `cargo run -- crd > crds/clientops.yaml`"
    );
}
