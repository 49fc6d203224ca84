//! `http.send`'s request, taken from the check's memory only once its sizes
//! are known to be within their caps.
//!
//! The canonical ABI would copy the whole request into the host before the
//! host sees it (a 120 MB body a check's memory cap allows became another
//! 120 MB of the host's). Lifted as `WasmList`/`WasmStr` — views of the
//! check's memory — its lengths are read first: an over-long method, URL,
//! header or body is refused with an `invalid` error and never copied, and
//! never parsed (a URL of megabytes took ~50 ms to refuse).

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Lift, Linker, WasmList, WasmStr};

use super::super::bindings::http;
use super::HostState;

/// Bytes of a method: the longest standard one is 7.
pub const MAX_METHOD_BYTES: usize = 32;
/// Bytes of a URL: what common servers accept (nginx's default is 8 KiB).
pub const MAX_URL_BYTES: usize = 8 << 10;
/// Headers of one request, and bytes of one header's name and value.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_NAME_BYTES: usize = 256;
pub const MAX_HEADER_VALUE_BYTES: usize = 8 << 10;

/// `http.request` as the contract (both versions) lays it out.
#[derive(ComponentType, Lift)]
#[component(record)]
struct RawRequest {
    method: WasmStr,
    url: WasmStr,
    headers: WasmList<RawHeader>,
    body: Option<WasmList<u8>>,
    #[component(name = "timeout-ms")]
    timeout_ms: Option<u32>,
    #[component(name = "follow-redirects")]
    follow_redirects: bool,
}

#[derive(ComponentType, Lift)]
#[component(record)]
struct RawHeader {
    name: WasmStr,
    value: WasmStr,
}

/// One `http.send`: the request lifted with its sizes checked first, then
/// sent, or refused without a copy.
async fn send(
    store: &mut StoreContextMut<'_, HostState>,
    raw: RawRequest,
) -> wasmtime::Result<Result<http::Response, http::Error>> {
    Ok(match lift(store, raw)? {
        Ok(req) => http::Host::send(store.data_mut(), req).await,
        Err(refused) => Err(store.data_mut().refuse(refused)),
    })
}

/// Answers `http.send` of both contracts through `lift`, replacing the
/// generated definitions (which copy the whole request first).
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance("pitwall:check/http@0.2.0")?
        .func_wrap_async(
            "send",
            |mut store: StoreContextMut<'_, HostState>, (raw,): (RawRequest,)| {
                Box::new(async move { Ok((send(&mut store, raw).await?,)) })
            },
        )?;
    linker
        .instance("pitwall:check/http@0.1.0")?
        .func_wrap_async(
            "send",
            |mut store: StoreContextMut<'_, HostState>, (raw,): (RawRequest,)| {
                Box::new(async move {
                    let result = send(&mut store, raw).await?;
                    Ok((super::super::v1::http_result(result),))
                })
            },
        )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The request, copied out of the check's memory, or why it is refused
/// (nothing over a cap is copied). A trap (invalid UTF-8, a list out of
/// bounds) is the outer error, as wasmtime's own lifting would make it.
fn lift(
    store: &mut StoreContextMut<'_, HostState>,
    raw: RawRequest,
) -> wasmtime::Result<Result<http::Request, String>> {
    let max_body = store.data().limits.max_http_body_bytes;
    let method = match text(&raw.method, store, "method", MAX_METHOD_BYTES)? {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let url = match text(&raw.url, store, "URL", MAX_URL_BYTES)? {
        Ok(u) => u,
        Err(e) => return Ok(Err(format!("http {method}: {e}"))),
    };
    let refused = |e: String| Ok(Err(format!("http {method} {url}: {e}")));
    if let Some(body) = raw.body.as_ref().filter(|b| b.len() > max_body) {
        return refused(format!(
            "a {} byte request body is over the {max_body} byte cap",
            body.len()
        ));
    }
    if raw.headers.len() > MAX_HEADERS {
        return refused(format!(
            "{} headers, over the cap of {MAX_HEADERS}",
            raw.headers.len()
        ));
    }
    let mut headers = Vec::with_capacity(raw.headers.len());
    for i in 0..raw.headers.len() {
        let Some(h) = raw.headers.get(&mut *store, i) else {
            break;
        };
        let h = h?;
        let name = match text(&h.name, store, "header name", MAX_HEADER_NAME_BYTES)? {
            Ok(n) => n,
            Err(e) => return refused(e),
        };
        let value = match text(
            &h.value,
            store,
            &format!("`{name}` header"),
            MAX_HEADER_VALUE_BYTES,
        )? {
            Ok(v) => v,
            Err(e) => return refused(e),
        };
        headers.push(http::Header { name, value });
    }
    let body = raw.body.map(|b| b.as_le_slice(&*store).to_vec());
    Ok(Ok(http::Request {
        method,
        url,
        headers,
        body,
        timeout_ms: raw.timeout_ms,
        follow_redirects: raw.follow_redirects,
    }))
}

/// The string, copied, unless it is longer than `max` bytes.
fn text(
    s: &WasmStr,
    store: &StoreContextMut<'_, HostState>,
    what: &str,
    max: usize,
) -> wasmtime::Result<Result<String, String>> {
    // A view of the check's memory: nothing is copied yet.
    let view = s.to_str(store)?;
    Ok(if view.len() > max {
        Err(format!(
            "the request's {what} is {} bytes, over the {max} byte cap",
            view.len()
        ))
    } else {
        Ok(view.into_owned())
    })
}
