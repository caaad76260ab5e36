//! A test receiver for the email hook: an HTTP server that verifies each
//! delivery's Standard Webhooks signature with the `standardwebhooks`
//! library (not `auth`'s code), keeps the messages, and drops duplicates by
//! `webhook-id`, as a real receiver would. It can be stopped and started
//! again on the same port, to play a relay that goes away.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use standardwebhooks::Webhook;

/// The secret `auth` signs with in the tests (the specification's example).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Inbox {
    /// Accepted messages, first delivery of each id only, in arrival order.
    messages: Vec<(String, Value)>,
    /// Every accepted delivery, duplicates included.
    deliveries: usize,
    /// Deliveries whose signature did not verify (answered 401).
    rejected: usize,
    /// While set, deliveries are answered with this status (and not kept).
    failing_with: Option<u16>,
}

/// The receiver; see the module.
pub struct MailReceiver {
    port: u16,
    inbox: Arc<Mutex<Inbox>>,
    running: Option<(Arc<tiny_http::Server>, JoinHandle<()>)>,
}

impl MailReceiver {
    /// Start on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let mut receiver = Self { port: 0, inbox: Arc::default(), running: None };
        receiver.listen();
        receiver
    }

    fn listen(&mut self) {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", self.port)).expect("the receiver listens"));
        self.port = server.server_addr().to_ip().expect("an IP address").port();
        let (inbox, serving) = (self.inbox.clone(), server.clone());
        let thread = std::thread::spawn(move || {
            let webhook = Webhook::new(SECRET).expect("a valid secret");
            while let Ok(mut request) = serving.recv() {
                let mut body = Vec::new();
                let status = if request.as_reader().read_to_end(&mut body).is_err() {
                    400
                } else {
                    receive(&webhook, &inbox, request.headers(), &body)
                };
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        self.running = Some((server, thread));
    }

    /// The hook's URL (`email_hook_url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/email", self.port)
    }

    /// Its origin (`email_hook_origin`, for `allowed_outbound_hosts`).
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stop listening: connections are refused until [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some((server, thread)) = self.running.take() {
            server.unblock();
            let _ = thread.join();
        }
    }

    /// Listen again, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.listen();
    }

    /// Answer every delivery with `status` (`None`: accept again).
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().failing_with = status;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The messages received so far, each once, in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        self.lock().messages.iter().map(|(_, message)| message.clone()).collect()
    }

    /// Accepted deliveries, duplicates included.
    pub fn deliveries(&self) -> usize {
        self.lock().deliveries
    }

    /// Deliveries refused for their signature.
    pub fn rejected(&self) -> usize {
        self.lock().rejected
    }

    /// Wait up to `timeout` for `count` messages, calling `poke` (a request
    /// that makes the app deliver) every half second; the messages.
    pub fn wait_for(&self, count: usize, timeout: Duration, mut poke: impl FnMut()) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(500));
            poke();
        }
    }

    /// The messages of `kind` (their `type`) to `to`.
    pub fn to(&self, to: &str, kind: &str) -> Vec<Value> {
        self.messages().into_iter().filter(|m| m["to"] == to && m["type"] == kind).collect()
    }
}

impl Drop for MailReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn receive(webhook: &Webhook, inbox: &Mutex<Inbox>, headers: &[tiny_http::Header], body: &[u8]) -> u16 {
    let mut map = http::HeaderMap::new();
    for header in headers {
        let name = http::HeaderName::from_bytes(header.field.as_str().as_str().as_bytes());
        let value = http::HeaderValue::from_str(header.value.as_str());
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
    let mut inbox = inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(status) = inbox.failing_with {
        return status;
    }
    if webhook.verify(body, &map).is_err() {
        inbox.rejected += 1;
        return 401;
    }
    let Ok(message) = serde_json::from_slice::<Value>(body) else { return 400 };
    let id = map.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    inbox.deliveries += 1;
    if !inbox.messages.iter().any(|(seen, _)| *seen == id) {
        inbox.messages.push((id, message));
    }
    204
}

/// The token of a message's link (`…#token=<token>`).
pub fn link_token(message: &Value) -> String {
    let link = message["link"].as_str().expect("a link");
    let token = link.split_once("#token=").expect("a token in the fragment").1.to_owned();
    assert_eq!(message["token"], token.as_str(), "the token alone is the link's");
    token
}
