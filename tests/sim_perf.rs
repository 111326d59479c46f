#![allow(clippy::unwrap_used, clippy::expect_used)]
//! How long the simulator takes to build the benchmark worlds and to serve one full getStats pass
//! over them. Prints numbers, asserts only correctness; run it in release mode:
//! `cargo test --release --test sim_perf -- --ignored --nocapture`.

use std::path::Path;
use std::time::Instant;

use kurento_exporter::sim::Scenario;
use kurento_exporter::sim::rpc::serve_frame;
use kurento_exporter::sim::world::World;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

#[test]
#[ignore = "a measurement, run in release mode with --nocapture"]
fn build_and_get_stats_pass() {
    for name in ["bench-1k.toml", "bench-10k.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        let scenario = Scenario::from_file(&path).unwrap();
        let started = Instant::now();
        let mut world = World::new(&scenario, T0, 0);
        let built = started.elapsed();
        let endpoints: Vec<String> = world
            .object_ids()
            .into_iter()
            .filter(|id| id.ends_with("_kurento.WebRtcEndpoint"))
            .collect();
        let frames: Vec<String> = endpoints
            .iter()
            .flat_map(|ep| {
                ["AUDIO", "VIDEO"].map(|media| {
                    json!({"jsonrpc":"2.0","id":1,"method":"invoke","params":{"object":ep,
                        "operation":"getStats","operationParams":{"mediaType":media},
                        "sessionId":"bench"}})
                    .to_string()
                })
            })
            .collect();
        let started = Instant::now();
        let mut bytes = 0;
        for frame in &frames {
            let reply = serve_frame(&mut world, 1, frame, T0 + 60_000)
                .reply
                .unwrap();
            assert!(!reply.contains("\"error\""), "{reply}");
            bytes += reply.len();
        }
        let served = started.elapsed();
        println!(
            "{name}: {} endpoints, world built in {built:?}; {} getStats in {served:?} ({:?} each, {} reply bytes)",
            endpoints.len(),
            frames.len(),
            served / frames.len() as u32,
            bytes
        );
    }
}
