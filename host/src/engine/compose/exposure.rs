//! Whether a blue-green stack's traffic switch is reachable by anyone but
//! pitwall: the preview listener published on loopback only, the Runtime
//! API's socket folder mounted into the proxy alone. Read from the compose
//! file as the tool resolves it, before anything is touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the proxy's preview listener is reachable by more than this host,
/// if it is: its host port must be published on a loopback address only
/// (`published`: service → ports as `config` prints them).
pub fn preview_exposure(
    published: &BTreeMap<String, Vec<String>>,
    proxy: &str,
    preview_port: u16,
) -> Option<String> {
    let ports = published.get(proxy).map(Vec::as_slice).unwrap_or_default();
    let wanted = preview_port.to_string();
    let mut found = false;
    for text in ports {
        let fields: Vec<&str> = text.split(':').collect();
        let (ip, port) = match fields.as_slice() {
            [port, _] => (String::new(), *port),
            [ip @ .., port, _] => (ip.join(":"), *port),
            _ => continue,
        };
        if port != wanted {
            continue;
        }
        found = true;
        let ip = ip.trim_matches(['[', ']']);
        if !(ip == "127.0.0.1" || ip == "::1" || ip.starts_with("127.")) {
            return Some(format!(
                "the proxy `{proxy}` publishes the preview port as `{text}`, reachable from other \
                 hosts: a release would be seen before it is judged; publish it as \
                 \"127.0.0.1:{preview_port}:PORT\""
            ));
        }
    }
    (!found).then(|| {
        format!(
            "the proxy `{proxy}` does not publish the preview port {preview_port}: publish its \
             preview listener as \"127.0.0.1:{preview_port}:PORT\", and point the verify checks \
             at it"
        )
    })
}

/// Why the proxy's Runtime API socket is within reach of another service,
/// or out of the proxy's, if it is: of the stack's services only the proxy
/// may mount a host folder holding `socket` (`resolved`: the file as
/// `config` prints it, short or long volume syntax).
pub fn socket_exposure(resolved: &str, proxy: &str, socket: &Path) -> Option<String> {
    let services = match super::resolved_services(resolved) {
        Ok(services) => services,
        Err(e) => {
            return Some(format!(
                "cannot tell who mounts the proxy's admin socket: the resolved compose file does \
                 not read ({e})"
            ));
        }
    };
    let source = |v: &serde_norway::Value| -> Option<PathBuf> {
        match v.as_str() {
            Some(short) => short.split(':').next().map(PathBuf::from),
            None => v.get("source")?.as_str().map(PathBuf::from),
        }
    };
    let mut others = Vec::new();
    let mut proxy_mounts = false;
    for (name, service) in &services {
        let mounts = service
            .volumes
            .iter()
            .filter_map(source)
            .any(|src| src.is_absolute() && socket.starts_with(&src));
        if !mounts {
            continue;
        }
        if name == proxy {
            proxy_mounts = true;
        } else {
            others.push(format!("`{name}`"));
        }
    }
    if !others.is_empty() {
        return Some(format!(
            "{} mount{} the folder of the proxy's admin socket ({}): whatever runs there could \
             steer users' traffic; mount it into `{proxy}` alone",
            others.join(", "),
            if others.len() == 1 { "s" } else { "" },
            socket.display()
        ));
    }
    (!proxy_mounts).then(|| {
        format!(
            "the proxy `{proxy}` does not mount the folder of traffic.admin_socket ({}): \
             bind-mount it (e.g. `./run:/run/haproxy`) so that pitwall reaches the Runtime API",
            socket.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{preview_exposure, socket_exposure};

    fn published(ports: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "proxy".to_string(),
            ports.iter().map(|p| p.to_string()).collect(),
        )])
    }

    #[test]
    fn only_the_proxy_mounts_the_admin_socket() {
        use std::path::Path;
        let socket = Path::new("/srv/shop/run/admin.sock");
        let long = "services:\n  proxy:\n    volumes:\n      - type: bind\n        source: /srv/shop/run\n        target: /run/haproxy\n  api:\n    volumes: []\n";
        assert_eq!(socket_exposure(long, "proxy", socket), None);
        let short = "services:\n  proxy:\n    volumes:\n      - /srv/shop/run:/run/haproxy:rw\n  api:\n    volumes:\n      - /srv/shop:/data:rw\n";
        let why = socket_exposure(short, "proxy", socket).unwrap();
        assert!(why.starts_with("`api` mounts the folder"), "{why}");
        let none = "services:\n  proxy:\n    image: haproxy\n";
        let why = socket_exposure(none, "proxy", socket).unwrap();
        assert!(why.contains("does not mount"), "{why}");
    }

    #[test]
    fn the_preview_port_must_be_published_on_loopback_only() {
        let ok = published(&["8080:8080/tcp", "127.0.0.1:9090:8081/tcp"]);
        assert_eq!(preview_exposure(&ok, "proxy", 9090), None);
        let v2 = published(&["127.0.0.1:9090:8081"]);
        assert_eq!(preview_exposure(&v2, "proxy", 9090), None);
        for open in [&["9090:8081/tcp"][..], &["0.0.0.0:9090:8081"][..]] {
            let why = preview_exposure(&published(open), "proxy", 9090).unwrap();
            assert!(why.contains("reachable from other hosts"), "{why}");
        }
        let why = preview_exposure(&published(&["8080:8080"]), "proxy", 9090).unwrap();
        assert!(
            why.contains("does not publish the preview port 9090"),
            "{why}"
        );
    }
}
