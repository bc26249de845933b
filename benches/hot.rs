//! Criterion benches of the hot inner parts: literal rendering, scanning and guarding a dump,
//! row digests.
//!
//! ```text
//! cargo bench --bench hot
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use zsso::dialect::Dialect;
use zsso::digest::TableDigest;
use zsso::guard;
use zsso::sqlscan::{LexerConfig, StatementReader};
use zsso::value::Value;

/// A row shaped like a Zato session: ids, timestamps, a long user agent with CR-LF, JSON.
fn session_row(i: i64) -> Vec<Value> {
    vec![
        Value::Integer(i),
        Value::Text(format!("zust{i:026}").into_bytes()),
        Value::Text(b"2024-03-15 16:17:57.342857".to_vec()),
        Value::Text(b"2024-03-15 17:17:57.342857".to_vec()),
        Value::Text(b"10.152.0.1".to_vec()),
        Value::Text(b"Mozilla/5.0 (X11; Linux x86_64)\r\n\tAppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 'quoted'".to_vec()),
        Value::Text(b"basic_auth".to_vec()),
        Value::Text(b"zato.sso.admin".to_vec()),
        Value::Null,
        Value::Text(br#""{\"ip\":\"10.152.0.1\",\"ua\":\"\u00e9\"}""#.to_vec()),
        Value::Integer(i % 1000),
    ]
}

fn literals(c: &mut Criterion) {
    let rows: Vec<Vec<Value>> = (0..1000).map(session_row).collect();
    let mut g = c.benchmark_group("sqlite literals");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("1000 session rows", |b| {
        let mut out = String::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for r in &rows {
                for v in r {
                    zsso::sqlite::SQLITE.write_literal(v, &mut out);
                    out.push(',');
                }
            }
            black_box(out.len())
        })
    });
    g.bench_function("1000 reals", |b| {
        let mut out = String::new();
        b.iter(|| {
            out.clear();
            for i in 0..1000 {
                zsso::sqlite::dialect::write_real(black_box(i as f64 / 7.0), &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn scanning(c: &mut Criterion) {
    let mut dump = String::new();
    let d = &zsso::sqlite::SQLITE;
    for batch in 0..20 {
        dump.push_str("INSERT INTO \"zato_sso_session\" (\"a\",\"b\") VALUES\n");
        for i in 0..500 {
            if i > 0 {
                dump.push_str(",\n");
            }
            dump.push('(');
            for (k, v) in session_row(batch * 500 + i).iter().enumerate() {
                if k > 0 {
                    dump.push(',');
                }
                d.write_literal(v, &mut dump);
            }
            dump.push(')');
        }
        dump.push_str(";\n");
    }
    let mut g = c.benchmark_group("dump scanning");
    g.throughput(Throughput::Bytes(dump.len() as u64));
    g.bench_function("scan and guard 10000 rows", |b| {
        b.iter(|| {
            let p = Path::new("bench.sql");
            let mut r = StatementReader::new(dump.as_bytes(), p, LexerConfig::SQLITE);
            let mut rows = 0;
            while let Some(s) = r.next_statement().unwrap() {
                if let guard::Kind::Insert { rows: n, .. } =
                    guard::classify(&s, p, zsso::sqlscan::Syntax::Sqlite).unwrap()
                {
                    rows += n;
                }
            }
            assert_eq!(rows, 10_000);
        })
    });
    g.finish();
}

fn digests(c: &mut Criterion) {
    let rows: Vec<Vec<Value>> = (0..1000).map(session_row).collect();
    let mut g = c.benchmark_group("row digests");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("1000 session rows", |b| {
        b.iter(|| {
            let mut d = TableDigest::new();
            for r in &rows {
                d.add(r);
            }
            black_box(d.digest())
        })
    });
    g.finish();
}

criterion_group!(benches, literals, scanning, digests);
criterion_main!(benches);
