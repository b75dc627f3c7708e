//! Load tool of `scripts/snapshot_bench.sh` (built as the example `snapshot_load`, never run in
//! CI): `write` puts N values of B bytes over K keys through C pipelined connections to a
//! plaintext cluster and prints the rate; `wait-value` polls one server with sequential reads
//! until KEY holds VALUE there and prints how long that took.
//!
//! ```text
//! snapshot_load write ADDRS WRITES KEYS VALUE_BYTES CONNECTIONS
//! snapshot_load wait-value ADDR KEY VALUE TIMEOUT_MS
//! ```

use ballot_node::client::{KvClient, KvPipeline};
use ballot_node::kv::{Consistency, KvOp, KvResult};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const CLUSTER_ID: &str = "ballot";
/// Requests each connection keeps in flight.
const IN_FLIGHT: usize = 128;

/// The value written by write number `i`: its number, padded to `bytes`.
fn value(i: u64, bytes: usize) -> String {
    format!("{i:0bytes$}")
}

async fn write(addrs: Vec<SocketAddr>, writes: u64, keys: u64, bytes: usize, connections: u64) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let addrs = addrs.clone();
            tokio::spawn(async move {
                let mut pipe = KvPipeline::new(addrs, CLUSTER_ID);
                let mut tickets = VecDeque::new();
                // Connection c writes i = c, c + C, ...: the last write of every key is the one
                // with the highest i, whichever connection it went through.
                let mut i = c;
                while i < writes {
                    let op = KvOp::Put {
                        key: format!("k{}", i % keys),
                        value: value(i, bytes),
                    };
                    tickets.push_back(pipe.submit(op).await.expect("submit"));
                    if tickets.len() >= IN_FLIGHT {
                        let result = tickets.pop_front().expect("one").await.expect("put");
                        assert_eq!(result, KvResult::Done);
                    }
                    i += connections;
                }
                for ticket in tickets {
                    assert_eq!(ticket.await.expect("put"), KvResult::Done);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "wrote {writes} puts ({bytes}-byte values over {keys} keys, {connections} connections) in {secs:.1} s: {:.0} writes/s",
        writes as f64 / secs
    );
}

async fn wait_value(addr: SocketAddr, key: &str, expected: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    let mut client = KvClient::new(vec![addr], CLUSTER_ID);
    loop {
        let got = client.get_with(key, Consistency::Sequential).await;
        if matches!(&got, Ok(Some(v)) if v == expected) {
            println!(
                "{addr} served {key} = its last value after {:.0} ms",
                start.elapsed().as_secs_f64() * 1000.0
            );
            return true;
        }
        if start.elapsed() > timeout {
            eprintln!("{addr}: {key} is {got:?} after {timeout:?}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addrs = |s: &str| -> Vec<SocketAddr> {
        s.split(',').map(|a| a.parse().expect("address")).collect()
    };
    let n = |s: &str| -> u64 { s.parse().expect("number") };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", cluster, writes, keys, bytes, connections] => {
            rt.block_on(write(
                addrs(cluster),
                n(writes),
                n(keys),
                n(bytes) as usize,
                n(connections),
            ));
            ExitCode::SUCCESS
        }
        ["wait-value", addr, key, expected, timeout_ms] => {
            let ok = rt.block_on(wait_value(
                addrs(addr)[0],
                key,
                expected,
                Duration::from_millis(n(timeout_ms)),
            ));
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: snapshot_load write ADDRS WRITES KEYS VALUE_BYTES CONNECTIONS | wait-value ADDR KEY VALUE TIMEOUT_MS");
            ExitCode::from(2)
        }
    }
}
