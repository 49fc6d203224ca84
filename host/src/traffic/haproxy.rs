//! A client of HAProxy's Runtime API over its unix socket (`stats socket
//! PATH level admin` in haproxy.cfg): one command line per connection,
//! answered until HAProxy closes it. Only pitwall reaches the socket: it is
//! a file on this host, not a port on any network.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::Slot;

/// How long one command may take, connect to answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for the socket while the proxy (re)starts.
const STARTUP: Duration = Duration::from_secs(15);

/// Answers bigger than this are cut (a `show servers state` of two backends
/// is a few hundred bytes).
const MAX_ANSWER: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error(
        "cannot reach HAProxy's Runtime API at {path}: {source}; is the proxy running, with \
         `stats socket {inside} mode 600 level admin` in haproxy.cfg and that folder mounted \
         from this host?",
        path = .path.display(),
        inside = "/run/haproxy/admin.sock"
    )]
    Unreachable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HAProxy did not answer `{command}` within {}s", COMMAND_TIMEOUT.as_secs())]
    Timeout { command: String },
    #[error("HAProxy refused `{command}`: {answer}")]
    Refused { command: String, answer: String },
    #[error(
        "haproxy.cfg has no server `{backend}/{server}`: give backend `{backend}` two servers, \
         `server blue 127.0.0.1:1 disabled` and `server green 127.0.0.1:1 disabled` \
         (see README \"Blue-green releases\")"
    )]
    MissingServer { backend: String, server: String },
}

/// HAProxy's Runtime API at a unix socket.
#[derive(Debug, Clone)]
pub struct Haproxy {
    socket: PathBuf,
}

/// One server of a backend as `show servers state` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    pub addr: String,
    pub port: u16,
    /// HAProxy's administrative state bits: 0 is ready; maintenance and
    /// drain set bits.
    pub admin: u32,
}

impl Haproxy {
    pub fn at(socket: &Path) -> Haproxy {
        Haproxy {
            socket: socket.to_path_buf(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one line (commands separated by `;` run in order, as one
    /// request) and returns the answer. An answer HAProxy words as an error
    /// is `Refused`.
    pub async fn command(&self, command: &str) -> Result<String, TrafficError> {
        let start = Instant::now();
        let mut stream = loop {
            match UnixStream::connect(&self.socket).await {
                Ok(s) => break s,
                // The proxy may be starting (its socket not there yet).
                Err(e) if start.elapsed() < STARTUP && retryable(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(source) => {
                    return Err(TrafficError::Unreachable {
                        path: self.socket.clone(),
                        source,
                    });
                }
            }
        };
        let exchange = async {
            stream.write_all(format!("{command}\n").as_bytes()).await?;
            let mut answer = String::new();
            (&mut stream)
                .take(MAX_ANSWER)
                .read_to_string(&mut answer)
                .await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .map_err(|_| TrafficError::Timeout {
                command: command.to_string(),
            })?
            .map_err(|source| TrafficError::Unreachable {
                path: self.socket.clone(),
                source,
            })?;
        if let Some(problem) = refusal(&answer) {
            return Err(TrafficError::Refused {
                command: command.to_string(),
                answer: problem,
            });
        }
        Ok(answer)
    }

    /// The servers of `backend`.
    pub async fn servers(&self, backend: &str) -> Result<Vec<ServerState>, TrafficError> {
        let answer = self
            .command(&format!("show servers state {backend}"))
            .await?;
        Ok(parse_servers_state(&answer))
    }

    /// Fails unless `backend` has both slots' servers.
    pub async fn require_slots(&self, backend: &str) -> Result<Vec<ServerState>, TrafficError> {
        let servers = match self.servers(backend).await {
            Err(TrafficError::Refused { .. }) => Vec::new(),
            other => other?,
        };
        for slot in Slot::BOTH {
            if !servers.iter().any(|s| s.server == slot.as_str()) {
                return Err(TrafficError::MissingServer {
                    backend: backend.to_string(),
                    server: slot.as_str().to_string(),
                });
            }
        }
        Ok(servers)
    }

    /// In `backend`, sends new requests to `addr` in `to` only; the other
    /// slot `then`: drained (its requests in flight finish) or in
    /// maintenance. One line: HAProxy applies it before it reads another.
    pub async fn route(
        &self,
        backend: &str,
        to: Slot,
        addr: SocketAddr,
        then: Others,
    ) -> Result<(), TrafficError> {
        let other = to.other();
        let line = format!(
            "set server {backend}/{to} addr {} port {}; set server {backend}/{to} weight 100; \
             set server {backend}/{to} state ready; set server {backend}/{other} state {}",
            addr.ip(),
            addr.port(),
            then.state(),
        );
        self.command(&line).await.map(drop)
    }

    /// In `backend`, sends `share` percent of new requests to `addr` in
    /// `to` and the rest to the other slot (whose address is set): both
    /// ready, weighted. One line, applied at once.
    pub async fn split(
        &self,
        backend: &str,
        to: Slot,
        addr: SocketAddr,
        share: u8,
    ) -> Result<(), TrafficError> {
        let other = to.other();
        let line = format!(
            "set server {backend}/{to} addr {} port {}; set server {backend}/{to} weight {share}; \
             set server {backend}/{other} weight {}; set server {backend}/{to} state ready; \
             set server {backend}/{other} state ready",
            addr.ip(),
            addr.port(),
            100 - share.min(100),
        );
        self.command(&line).await.map(drop)
    }

    /// Takes both slots of `backend` out of service: it answers 503.
    pub async fn close(&self, backend: &str) -> Result<(), TrafficError> {
        let line = format!(
            "set server {backend}/blue state maint; set server {backend}/green state maint"
        );
        self.command(&line).await.map(drop)
    }
}

/// What becomes of the slot a route leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// No new requests; those in flight finish.
    Drain,
    /// Out of service.
    Maintenance,
}

impl Others {
    fn state(self) -> &'static str {
        match self {
            Others::Drain => "drain",
            Others::Maintenance => "maint",
        }
    }
}

fn retryable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

/// The error in an answer, if it is one. HAProxy answers a good `set
/// server` with nothing or a notice ("IP changed from …"), and errors in
/// plain words.
fn refusal(answer: &str) -> Option<String> {
    const ERRORS: [&str; 7] = [
        "No such",
        "Unknown command",
        "Require",
        "Permission denied",
        "Invalid",
        "requires",
        "not allowed",
    ];
    answer
        .lines()
        .map(str::trim)
        .find(|l| ERRORS.iter().any(|e| l.contains(e)))
        .map(str::to_string)
}

/// `show servers state` (format 1): a version line, a `#` header naming
/// the fields, then one line per server.
fn parse_servers_state(answer: &str) -> Vec<ServerState> {
    let mut header: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for line in answer.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            header = h.split_whitespace().collect();
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if header.is_empty() || fields.len() < header.len() {
            continue;
        }
        let get = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| fields.get(i).copied())
                .unwrap_or("")
        };
        out.push(ServerState {
            backend: get("be_name").to_string(),
            server: get("srv_name").to_string(),
            addr: get("srv_addr").to_string(),
            port: get("srv_port").parse().unwrap_or(0),
            admin: get("srv_admin_state").parse().unwrap_or(0),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n4 api 1 blue 127.0.0.1 0 5 1 1 4 1 0 0 8 0 0 0 - 1 - 0 0 - - 0\n4 api 2 green 172.17.0.9 2 4 30 1 0 1 0 0 8 0 0 0 - 8000 - 0 0 - - 0\n\n";

    #[test]
    fn servers_state_is_read_by_its_header() {
        let servers = parse_servers_state(STATE);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].server, "green");
        assert_eq!(servers[1].addr, "172.17.0.9");
        assert_eq!(servers[1].port, 8000);
        assert_eq!((servers[0].admin, servers[1].admin), (5, 4));
    }

    #[test]
    fn errors_are_told_from_notices() {
        assert_eq!(
            refusal("IP changed from '127.0.0.1' to '172.17.0.9'\n"),
            None
        );
        assert_eq!(refusal("\n"), None);
        assert_eq!(
            refusal("No such server.\n").as_deref(),
            Some("No such server.")
        );
        assert!(
            refusal("Unknown command. Please enter one of the following commands only :").is_some()
        );
    }
}
