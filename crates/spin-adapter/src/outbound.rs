//! Outbound HTTP with time limits, for calls that leave the application.
//!
//! spin-sdk's `send` passes no `request-options`, so a request waits as long
//! as the host lets it. [`post`] speaks `wasi:http/outgoing-handler@0.2.0`
//! directly to bound the connection and the wait for the answer, so that a
//! receiver that hangs costs the request a few seconds, not minutes.

use std::time::Duration;

use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

/// What `wasi:io`'s blocking write accepts per call.
const CHUNK: usize = 4096;

/// POST `body` to `url` with `headers`, waiting at most `timeout` to connect
/// and as long again for the answer's status; the status, or why there is none.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Result<u16, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        other => return Err(format!("{url:?}: unsupported scheme {other:?}")),
    };
    let entries: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&entries).map_err(|e| format!("invalid header: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map(|a| a.as_str());
    let accepted = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(authority).is_ok()
        && request.set_path_with_query(Some(path)).is_ok();
    if !accepted {
        return Err(format!("{url:?} cannot be requested"));
    }
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // A host that cannot bound a phase says so; the request still goes.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let outgoing = request.body().map_err(|()| "the request body was taken".to_owned())?;
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|()| "the request body cannot be written".to_owned())?;
        for chunk in body.chunks(CHUNK) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        Some(Err(())) | None => Err("no response".to_owned()),
    }
}
