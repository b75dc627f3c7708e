//! `--op report`: the markdown tables of a results file (JSON lines of cells and failovers),
//! written into `--docs` between `<!-- side-by-side:begin -->` and `<!-- side-by-side:end -->`.

use crate::Args;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Opens the generated part of the section.
pub const BEGIN: &str = "<!-- side-by-side:begin -->";
/// Closes it.
pub const END: &str = "<!-- side-by-side:end -->";

/// Reads `--results`, renders, writes `--docs` (or prints when `--docs` is not given).
pub fn run(args: &Args) -> Result<(), String> {
    let path = args
        .results
        .as_ref()
        .ok_or("--results FILE: required for --op report")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--results {}: {e}", path.display()))?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not a JSON line: {e}", path.display(), i + 1))?;
        lines.push(v);
    }
    let body = render(&lines, &args.notes)?;
    match &args.docs {
        None => print!("{body}"),
        Some(docs) => {
            let old = std::fs::read_to_string(docs)
                .map_err(|e| format!("--docs {}: {e}", docs.display()))?;
            let new = splice(&old, &body);
            std::fs::write(docs, new).map_err(|e| format!("--docs {}: {e}", docs.display()))?;
            eprintln!("wrote the side-by-side tables into {}", docs.display());
        }
    }
    Ok(())
}

/// `old` with the text between the markers replaced by `body`; a section with the markers is
/// appended if they are missing.
fn splice(old: &str, body: &str) -> String {
    if let (Some(b), Some(e)) = (old.find(BEGIN), old.find(END)) {
        if b < e {
            return format!("{}{BEGIN}\n{body}{}", &old[..b], &old[e..]);
        }
    }
    let mut out = old.trim_end().to_owned();
    out.push_str("\n\n## ZooKeeper 3.8 and ballot side by side\n\n");
    let _ = write!(out, "{BEGIN}\n{body}{END}\n");
    out
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if !n.is_multiple_of(2) {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// The value at rank ⌈p/100 · n⌉.
fn rank_pct(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

fn fmt(x: f64, decimals: usize) -> String {
    if decimals == 0 {
        let r = x.round() as i64;
        // Thousands separators for readability.
        let digits = r.abs().to_string();
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if r < 0 {
            format!("-{out}")
        } else {
            out
        }
    } else {
        format!("{x:.decimals$}")
    }
}

/// Median, and (min–max) when there is more than one value.
fn spread(xs: &[f64], decimals: usize) -> String {
    let Some(m) = median(xs) else {
        return "–".into();
    };
    if xs.len() < 2 {
        return fmt(m, decimals);
    }
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{} ({}–{})",
        fmt(m, decimals),
        fmt(lo, decimals),
        fmt(hi, decimals)
    )
}

/// Decimals for a latency in ms.
fn lat_decimals(xs: &[f64]) -> usize {
    match median(xs) {
        Some(m) if m >= 10.0 => 1,
        _ => 2,
    }
}

/// The systems a results file may hold, in column order: (`system` in the JSON lines, short name
/// for table headers, long name for the failover table).
const SYSTEMS: [(&str, &str, &str); 3] = [
    ("zookeeper", "ZK", "ZooKeeper 3.8"),
    ("ballot", "Raft", "ballot Raft"),
    ("ballot-zab", "ZAB", "ballot ZAB"),
];

fn values(rows: &[&Value], key: &str) -> Vec<f64> {
    rows.iter().filter_map(|v| num(v, key)).collect()
}

/// RSS of the leader and the median of the followers, over the cell's rounds.
fn rss(rows: &[&Value]) -> String {
    if rows.is_empty() {
        return "–".into();
    }
    let mut lead = Vec::new();
    let mut follow = Vec::new();
    for r in rows {
        let leader = r.get("leader_id").and_then(Value::as_u64);
        for s in r
            .get("servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(mib) = num(s, "rss_mib") else {
                continue;
            };
            if s.get("id").and_then(Value::as_u64) == leader {
                lead.push(mib);
            } else {
                follow.push(mib);
            }
        }
    }
    match (median(&lead), median(&follow)) {
        (Some(l), Some(f)) => format!("{} / {}", fmt(l, 0), fmt(f, 0)),
        _ => "–".into(),
    }
}

fn cpu(rows: &[&Value]) -> String {
    if rows.is_empty() {
        return "–".into();
    }
    let m = |k: &str| median(&values(rows, k)).map_or("–".into(), |x| fmt(x, 0));
    format!(
        "{} (L {} + F {})",
        m("servers_cpu_pct"),
        m("leader_cpu_pct"),
        m("followers_cpu_pct")
    )
}

fn total(rows: &[&Value], key: &str) -> String {
    if rows.is_empty() {
        return "–".into();
    }
    let sum: f64 = values(rows, key).iter().sum();
    if rows.len() > 1 {
        let each: Vec<String> = values(rows, key).iter().map(|x| fmt(*x, 0)).collect();
        format!("{} ({})", fmt(sum, 0), each.join(", "))
    } else {
        fmt(sum, 0)
    }
}

fn lat(rows: &[&Value]) -> String {
    if rows.is_empty() {
        return "–".into();
    }
    let p50 = values(rows, "p50_ms");
    let p99 = values(rows, "p99_ms");
    format!(
        "{} / {}",
        spread(&p50, lat_decimals(&p50)),
        spread(&p99, lat_decimals(&p99))
    )
}

fn render(lines: &[Value], notes: &[String]) -> Result<String, String> {
    let cells: Vec<&Value> = lines
        .iter()
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some("cell"))
        .collect();
    let failovers: Vec<&Value> = lines
        .iter()
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some("failover"))
        .collect();
    if cells.is_empty() && failovers.is_empty() {
        return Err("the results file holds no cell and no failover line".into());
    }
    let rounds: BTreeSet<u64> = cells
        .iter()
        .filter_map(|v| v.get("round").and_then(Value::as_u64))
        .collect();
    let mut out = String::new();
    for note in notes {
        match note.split_once('=') {
            Some((k, v)) => {
                let _ = writeln!(out, "- **{k}:** {v}");
            }
            None => {
                let _ = writeln!(out, "- {note}");
            }
        }
    }
    let _ = writeln!(
        out,
        "- **rounds:** {}; each figure is the median over the rounds{}.",
        rounds.len(),
        if rounds.len() > 1 {
            ", with (min–max); elections and errors are totals, with each round's in brackets"
        } else {
            ""
        }
    );
    out.push('\n');
    // The systems present, in SYSTEMS' order.
    let present: Vec<(&str, &str, &str)> = SYSTEMS
        .iter()
        .copied()
        .filter(|(key, _, _)| {
            lines
                .iter()
                .any(|v| v.get("system").and_then(Value::as_str) == Some(key))
        })
        .collect();
    // Rows in a fixed order: writes, then reads per ballot read consistency (ZooKeeper's reads
    // are the same cells in both), each by (pipelined, connections).
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut shapes: Vec<(String, Option<String>, u64, u64)> = cells
        .iter()
        .filter_map(|v| {
            let op = field(v, "op")?;
            let consistency = if op == "read" && field(v, "system")? != "zookeeper" {
                field(v, "consistency")
            } else {
                None
            };
            Some((
                op,
                consistency,
                v.get("connections")?.as_u64()?,
                v.get("pipeline")?.as_u64()?,
            ))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // A read shape with ballot rows needs no row of ZooKeeper's alone.
    let with_ballot: BTreeSet<(u64, u64)> = shapes
        .iter()
        .filter(|(_, c, _, _)| c.is_some())
        .map(|(_, _, n, p)| (*n, *p))
        .collect();
    shapes.retain(|(op, c, n, p)| op != "read" || c.is_some() || !with_ballot.contains(&(*n, *p)));
    shapes.sort_by_key(|(op, c, n, p)| {
        (
            op != "write",
            c.as_deref() != Some("linearizable"),
            *p > 1,
            *n,
        )
    });
    let short: Vec<&str> = present.iter().map(|(_, s, _)| *s).collect();
    let all = short.join(" / ");
    // Throughput is compared with ZooKeeper's when it was measured.
    let zk_present = present.first().is_some_and(|(k, _, _)| *k == "zookeeper");
    let compared: Vec<&str> = if zk_present {
        short[1..].to_vec()
    } else {
        Vec::new()
    };
    let mut perf = String::new();
    let mut res = String::new();
    if !shapes.is_empty() {
        let mut head = String::from("| cell |");
        let mut rule = String::from("|---|");
        for s in &short {
            let _ = write!(head, " {s} ops/s |");
            rule.push_str("---:|");
        }
        for s in &compared {
            let _ = write!(head, " {s}/ZK |");
            rule.push_str("---:|");
        }
        for s in &short {
            let _ = write!(head, " {s} p50 / p99 ms |");
            rule.push_str("---:|");
        }
        let _ = writeln!(head, " elections {all} | errors {all} |");
        let _ = writeln!(rule, "---|---|");
        perf.push_str(&head);
        perf.push_str(&rule);
        let mut head = String::from("| cell |");
        let mut rule = String::from("|---|");
        for s in &short {
            let _ = write!(head, " server CPU % {s} |");
            rule.push_str("---|");
        }
        let _ = write!(head, " client CPU % {all} |");
        rule.push_str("---|");
        for s in &short {
            let _ = write!(head, " RSS MiB L / F {s} |");
            rule.push_str("---|");
        }
        let _ = writeln!(head);
        let _ = writeln!(rule);
        res.push_str(&head);
        res.push_str(&rule);
    }
    for (op, consistency, conns, pipe) in &shapes {
        let of = |system: &str| -> Vec<&Value> {
            cells
                .iter()
                .copied()
                .filter(|v| {
                    v.get("system").and_then(Value::as_str) == Some(system)
                        && v.get("op").and_then(Value::as_str) == Some(op)
                        && v.get("connections").and_then(Value::as_u64) == Some(*conns)
                        && v.get("pipeline").and_then(Value::as_u64) == Some(*pipe)
                        && (system == "zookeeper"
                            || consistency.is_none()
                            || field(v, "consistency") == *consistency)
                })
                .collect()
        };
        let rows: Vec<Vec<&Value>> = present.iter().map(|(key, _, _)| of(key)).collect();
        let s = if *conns == 1 { "" } else { "s" };
        let mut name = if *pipe > 1 {
            format!("{op}, {conns} conn{s} × {pipe} pipelined")
        } else {
            format!("{op}, {conns} conn{s} × 1")
        };
        if let Some(c) = consistency {
            let _ = write!(name, " (ballot {c})");
        }
        let ops: Vec<Vec<f64>> = rows.iter().map(|r| values(r, "ops_per_s")).collect();
        let mut line = format!("| {name} |");
        for o in &ops {
            let _ = write!(line, " {} |", spread(o, 0));
        }
        if zk_present {
            for o in &ops[1..] {
                let ratio = match (median(&ops[0]), median(o)) {
                    (Some(z), Some(b)) if z > 0.0 => format!("{:.2}×", b / z),
                    _ => "–".into(),
                };
                let _ = write!(line, " {ratio} |");
            }
        }
        for r in &rows {
            let _ = write!(line, " {} |", lat(r));
        }
        let joined = |f: &dyn Fn(&[&Value]) -> String| -> String {
            rows.iter().map(|r| f(r)).collect::<Vec<_>>().join(" / ")
        };
        let absent: f64 = rows.iter().flat_map(|r| values(r, "absent")).sum();
        let mut errors = joined(&|r| total(r, "errors"));
        if absent > 0.0 {
            let _ = write!(
                errors,
                "; absent keys read {}",
                joined(&|r| total(r, "absent"))
            );
        }
        let _ = writeln!(line, " {} | {errors} |", joined(&|r| total(r, "elections")));
        perf.push_str(&line);
        let mut line = format!("| {name} |");
        for r in &rows {
            let _ = write!(line, " {} |", cpu(r));
        }
        let client =
            joined(&|r| median(&values(r, "client_cpu_pct")).map_or("–".into(), |x| fmt(x, 0)));
        let _ = write!(line, " {client} |");
        for r in &rows {
            let _ = write!(line, " {} |", rss(r));
        }
        let _ = writeln!(line);
        res.push_str(&line);
    }
    if !shapes.is_empty() {
        out.push_str(&perf);
        out.push_str(
            "\nWhat each cell cost (server CPU: all three servers, leader L + followers F; \
             RSS of the leader / median follower after the cell):\n\n",
        );
        out.push_str(&res);
    }
    if !failovers.is_empty() {
        out.push_str(
            "\nFailover: kill -9 of the leader → a client's write acknowledged (ms), then the \
             killed server restarted and the cluster whole again before the next run.\n\n",
        );
        out.push_str(
            "| system | runs | median ms | p90 ms | max ms | min ms | elections per failover (median, max) | not acknowledged |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---|---:|\n");
        for (system, _, name) in &present {
            let rows: Vec<&Value> = failovers
                .iter()
                .copied()
                .filter(|v| v.get("system").and_then(Value::as_str) == Some(*system))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let acked: Vec<&Value> = rows
                .iter()
                .copied()
                .filter(|v| v.get("acked").and_then(Value::as_bool) == Some(true))
                .collect();
            let ms = values(&acked, "failover_ms");
            let el = values(&rows, "elections");
            let f = |x: Option<f64>| x.map_or("–".into(), |x| fmt(x, 1));
            let _ = writeln!(
                out,
                "| {name} | {} | **{}** | {} | {} | {} | {}, {} | {} |",
                rows.len(),
                f(median(&ms)),
                f(rank_pct(&ms, 90.0)),
                f(rank_pct(&ms, 100.0)),
                f(ms.iter().copied().reduce(f64::min)),
                median(&el).map_or("–".into(), |x| fmt(x, 1)),
                el.iter()
                    .copied()
                    .reduce(f64::max)
                    .map_or("–".into(), |x| fmt(x, 0)),
                rows.len() - acked.len(),
            );
        }
        for (system, _, name) in &present {
            let ms: Vec<String> = failovers
                .iter()
                .filter(|v| v.get("system").and_then(Value::as_str) == Some(*system))
                .filter_map(|v| num(v, "failover_ms"))
                .map(|x| fmt(x, 1))
                .collect();
            if !ms.is_empty() {
                let _ = writeln!(out, "\n{name} runs (ms, in order): {}.", ms.join(", "));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let old = format!("a\n{BEGIN}\nold\n{END}\nb\n");
        assert_eq!(
            splice(&old, "new\n"),
            format!("a\n{BEGIN}\nnew\n{END}\nb\n")
        );
        let appended = splice("a\n", "new\n");
        assert!(appended.starts_with("a\n\n## "));
        assert!(appended.ends_with(&format!("{BEGIN}\nnew\n{END}\n")));
    }

    fn cell(system: &str, op: &str, consistency: Option<&str>, ops: f64) -> Value {
        serde_json::json!({
            "kind": "cell", "system": system, "op": op, "consistency": consistency,
            "connections": 8, "pipeline": 1, "round": 1, "ops_per_s": ops,
            "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "absent": 0, "elections": 0,
            "servers_cpu_pct": 100.0, "leader_cpu_pct": 60.0, "followers_cpu_pct": 40.0,
            "client_cpu_pct": 30.0, "leader_id": 1, "servers": [],
        })
    }

    #[test]
    fn three_systems_get_a_column_each_and_a_ratio_to_zookeeper() {
        let lines = vec![
            cell("zookeeper", "write", None, 1000.0),
            cell("ballot", "write", None, 3000.0),
            cell("ballot-zab", "write", None, 2500.0),
            cell("zookeeper", "read", Some("sequential"), 4000.0),
            cell("ballot", "read", Some("sequential"), 8000.0),
            cell("ballot-zab", "read", Some("sequential"), 6000.0),
            serde_json::json!({"kind": "failover", "system": "ballot-zab", "acked": true,
                "failover_ms": 42.0, "elections": 1}),
        ];
        let text = render(&lines, &[]).unwrap();
        assert!(text.contains("| cell | ZK ops/s | Raft ops/s | ZAB ops/s | Raft/ZK | ZAB/ZK |"));
        assert!(text.contains("| write, 8 conns × 1 | 1,000 | 3,000 | 2,500 | 3.00× | 2.50× |"));
        assert!(text.contains(
            "| read, 8 conns × 1 (ballot sequential) | 4,000 | 8,000 | 6,000 | 2.00× | 1.50× |"
        ));
        assert!(text.contains("| ballot ZAB | 1 | **42.0** |"));
        // Without ZooKeeper there is nothing to divide by: no ratio columns.
        let text = render(&lines[1..3], &[]).unwrap();
        assert!(text.contains("| cell | Raft ops/s | ZAB ops/s | Raft p50 / p99 ms |"));
    }

    #[test]
    fn spread_and_percentiles() {
        assert_eq!(spread(&[3.0, 1.0, 2.0], 0), "2 (1–3)");
        assert_eq!(spread(&[1234.4], 0), "1,234");
        assert_eq!(
            rank_pct(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90.0),
            Some(9.0)
        );
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
    }
}
