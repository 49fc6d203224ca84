//! The scanner on access lines written by real servers (tests/fixtures,
//! made by tests/fixtures/capture.sh; the Traefik file is written from its
//! documentation, see tests/fixtures/README.md).
//!
//! Every fixture holds the same 15 requests, in this order: /ok (200),
//! /missing (404), /fail (500), /bad-gateway (502), /unavailable (503), each
//! sent with an X-Request-ID, without one, and with an empty one.

use std::path::PathBuf;

use log_5xx::scan;

/// The statuses of the 15 requests, in the order they were made.
const STATUSES: [u16; 15] = [
    200, 200, 200, 404, 404, 404, 500, 500, 500, 502, 502, 502, 503, 503, 503,
];

/// file, access lines, 5xx, access lines without a request id.
const EXPECTED: &[(&str, u64, u64, u64)] = &[
    // No id in the format at all.
    ("nginx-combined.log", 15, 9, 15),
    ("gunicorn-default.log", 15, 9, 15),
    ("apache-combined.log", 15, 9, 15),
    // An id the server makes for every request: never missing.
    ("nginx-request-id.log", 15, 9, 0), // request_id=$request_id
    ("apache-unique-id.log", 15, 9, 0), // request_id=%{UNIQUE_ID}e
    // The client's X-Request-ID: 5 sent none (`-`, `"-"`, absent key) and 5
    // an empty one (`request_id=`, `""`, `[""]`).
    ("nginx-x-request-id.log", 15, 9, 10), // request_id=$http_x_request_id
    ("nginx-x-request-id-quoted.log", 15, 9, 10), // request_id="$http_x_request_id"
    ("nginx-combined-trailing-id.log", 15, 9, 10), // combined "$http_x_request_id"
    ("nginx-logfmt.log", 15, 9, 10),
    ("nginx-json.log", 15, 9, 10),             // escape=json
    ("gunicorn-x-request-id.log", 15, 9, 10),  // request_id=%({x-request-id}i)s
    ("apache-x-request-id.log", 15, 9, 10),    // request_id=%{X-Request-ID}i
    ("caddy-json.log", 15, 9, 10),             // request.headers["X-Request-Id"]
    ("traefik-json-from-docs.log", 15, 9, 10), // request_X-Request-Id
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_is_counted() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "a fixture without expected counts, or gone"
    );
}

#[test]
fn counts_per_fixture() {
    let mut wrong = Vec::new();
    for &(name, requests, errors_5xx, missing) in EXPECTED {
        let text = read(name);
        let t = scan::tally(scan::lines(&text), 20);
        let got = (t.requests, t.errors_5xx, t.missing_request_id);
        if got != (requests, errors_5xx, missing) {
            wrong.push(format!(
                "{name}: (requests, 5xx, missing id) = {got:?}, expected {:?}; lines without an id: {:#?}",
                (requests, errors_5xx, missing),
                t.missing_id_samples
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn statuses_are_read_line_by_line() {
    for &(name, ..) in EXPECTED {
        let text = read(name);
        let statuses: Vec<Option<u16>> = scan::lines(&text)
            .map(|l| scan::parse_line(l).map(|a| a.status))
            .collect();
        let expected: Vec<Option<u16>> = STATUSES.iter().copied().map(Some).collect();
        assert_eq!(statuses, expected, "{name}");
    }
}

#[test]
fn client_ids_are_found_only_where_sent() {
    // Of each three requests the first carried an id, the other two none.
    for &(name, _, _, missing) in EXPECTED.iter().filter(|e| e.3 == 10) {
        let text = read(name);
        let has_id: Vec<bool> = scan::lines(&text)
            .map(|l| scan::parse_line(l).is_some_and(|a| a.has_request_id))
            .collect();
        let expected: Vec<bool> = (0..15).map(|i| i % 3 == 0).collect();
        assert_eq!(has_id, expected, "{name} ({missing} missing)");
    }
}
