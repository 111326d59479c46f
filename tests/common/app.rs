//! A Kurento application and its browsers, for end-to-end tests: a minimal JSON-RPC client that
//! creates and negotiates objects like kurento-client does, and UDP peers that send real RTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

const REPLY_DEADLINE: Duration = Duration::from_secs(10);

/// One application session on its own WebSocket (requests answered in order).
pub struct KmsApp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Notifications received while waiting for replies.
    pub events: Vec<Value>,
}

impl KmsApp {
    pub async fn connect(url: &str) -> KmsApp {
        let (ws, _) = connect_async(url).await.expect("connect to the simulator");
        KmsApp {
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// The reply's `result`, or its `error` as `Err`.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        self.ws
            .send(Message::text(request.to_string()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(REPLY_DEADLINE, self.ws.next())
                .await
                .expect("a reply before the deadline");
            let Some(Ok(Message::Text(text))) = frame else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value.get("method").is_some() {
                self.events.push(value);
            } else if value["id"] == id {
                return match value.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(value["result"].clone()),
                };
            }
        }
    }

    pub async fn create(&mut self, kind: &str, constructor: Value) -> String {
        let result = self
            .call(
                "create",
                json!({"type": kind, "constructorParams": constructor}),
            )
            .await
            .unwrap_or_else(|e| panic!("create {kind}: {e}"));
        result["value"].as_str().unwrap().to_owned()
    }

    pub async fn invoke(&mut self, object: &str, operation: &str, params: Value) -> Value {
        let result = self
            .call(
                "invoke",
                json!({"object": object, "operation": operation, "operationParams": params}),
            )
            .await
            .unwrap_or_else(|e| panic!("{operation} on {object}: {e}"));
        result["value"].clone()
    }

    pub async fn release(&mut self, object: &str) {
        self.call("release", json!({"object": object}))
            .await
            .unwrap();
    }

    /// Negotiates `endpoint` with a browser offer in which the browser `direction`s
    /// (`sendonly` publishes, `recvonly` subscribes, `sendrecv` both), announces the peer's
    /// candidate, gathers, and returns the endpoint's UDP address from its host candidate.
    pub async fn negotiate(
        &mut self,
        endpoint: &str,
        direction: &str,
        peer: SocketAddr,
    ) -> SocketAddr {
        let offer = browser_offer(direction);
        let answer = self
            .invoke(endpoint, "processOffer", json!({"offer": offer}))
            .await;
        let answer = answer.as_str().unwrap().to_owned();
        let candidate = format!(
            "candidate:1 1 udp 2122260223 {} {} typ host generation 0",
            peer.ip(),
            peer.port()
        );
        let ice = json!({"__module__":"kurento","__type__":"IceCandidate","candidate":candidate,"sdpMid":"0","sdpMLineIndex":0});
        self.invoke(endpoint, "addIceCandidate", json!({"candidate": ice}))
            .await;
        self.invoke(endpoint, "gatherCandidates", json!({})).await;
        host_candidate(&answer).expect("a host candidate in the answer")
    }
}

/// A Chrome-style offer with opus (111) and VP8 (96), both in `direction`.
pub fn browser_offer(direction: &str) -> String {
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        &format!("a={direction}"),
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        &format!("a={direction}"),
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "",
    ]
    .join("\r\n")
}

/// The address of the first `typ host` candidate line of an SDP; only loopback is accepted, so
/// a test can never send anywhere else.
pub fn host_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|line| {
        let words: Vec<&str> = line
            .trim()
            .trim_start_matches("a=")
            .split_whitespace()
            .collect();
        if words.first()?.starts_with("candidate:") && words.get(7) == Some(&"host") {
            let addr = SocketAddr::new(words.get(4)?.parse().ok()?, words.get(5)?.parse().ok()?);
            assert!(addr.ip().is_loopback(), "refusing to send to {addr}");
            Some(addr)
        } else {
            None
        }
    })
}

/// What a scripted browser sends every 20 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Audio (opus, PT 111) and video (VP8, PT 96) RTP.
    Publisher,
    /// RTCP receiver reports only (a viewer that sends no media but is there).
    Subscriber,
}

/// A browser's UDP side: bound on loopback, sending to one endpoint until silenced.
pub struct UdpPeer {
    pub addr: SocketAddr,
    socket: Arc<UdpSocket>,
    sending: Arc<AtomicBool>,
    /// Datagrams the endpoint sent back.
    pub received: Arc<AtomicU64>,
    /// RTP packets sent per media `[audio, video]`.
    pub sent: Arc<[AtomicU64; 2]>,
    task: Option<JoinHandle<()>>,
}

impl UdpPeer {
    pub async fn bind() -> UdpPeer {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        UdpPeer {
            addr: socket.local_addr().unwrap(),
            socket,
            sending: Arc::new(AtomicBool::new(true)),
            received: Arc::new(AtomicU64::new(0)),
            sent: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            task: None,
        }
    }

    /// Starts sending to `endpoint` (loopback only) as `browser`, and counting what comes back.
    pub fn start(&mut self, endpoint: SocketAddr, browser: Browser) {
        assert!(
            endpoint.ip().is_loopback(),
            "refusing to send to {endpoint}"
        );
        let (socket, sending, received, sent) = (
            self.socket.clone(),
            self.sending.clone(),
            self.received.clone(),
            self.sent.clone(),
        );
        self.task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut buf = [0u8; 2048];
            let mut seq: u16 = 1000;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if !sending.load(Ordering::SeqCst) {
                            continue;
                        }
                        seq = seq.wrapping_add(1);
                        match browser {
                            Browser::Publisher => {
                                for (i, (pt, ssrc)) in [(111u8, 0x1111_0001u32), (96, 0x2222_0002)].into_iter().enumerate() {
                                    socket.send_to(&rtp(pt, seq, ssrc), endpoint).await.unwrap();
                                    sent[i].fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Browser::Subscriber => {
                                let report = [0x81, 201, 0, 1, 0xde, 0xad, 0xbe, 0xef];
                                socket.send_to(&report, endpoint).await.unwrap();
                            }
                        }
                    }
                    got = socket.recv_from(&mut buf) => {
                        if got.is_ok() {
                            received.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }
        }));
    }

    /// The browser goes away without a word: nothing is sent any more.
    pub fn silence(&self) {
        self.sending.store(false, Ordering::SeqCst);
    }
}

impl Drop for UdpPeer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn rtp(payload_type: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, payload_type];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.resize(12 + 100, 0);
    p
}
