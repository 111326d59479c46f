//! SDP offers and answers as KMS writes them (enough for kurento-client and the exporter).

/// The SDP answer KMS would give to `offer`: the same m-lines (codecs kept), direction mirrored,
/// KMS's own ICE credentials and fingerprint.
pub fn sdp_answer(offer: &str, session_version: u64) -> String {
    let mut out = sdp_header(session_version);
    let mids: Vec<&str> = offer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .collect();
    if !mids.is_empty() {
        out.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    }
    out.push_str("a=msid-semantic: WMS EnvoyStream\r\n");
    for line in offer.lines().map(str::trim) {
        if line.starts_with("m=") {
            let mut parts = line.split_whitespace();
            let media = parts.next().unwrap_or("m=audio");
            let proto = parts.nth(1).unwrap_or("UDP/TLS/RTP/SAVPF");
            let pts: Vec<&str> = parts.collect();
            out.push_str(&format!("{media} 9 {proto} {}\r\n", pts.join(" ")));
            out.push_str("c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
            out.push_str(&ice_lines());
        } else if line.starts_with("a=rtpmap:")
            || line.starts_with("a=fmtp:")
            || line.starts_with("a=rtcp-fb:")
            || line.starts_with("a=mid:")
            || line == "a=rtcp-mux"
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if let Some(dir) = line.strip_prefix('a').and_then(|l| l.strip_prefix('=')) {
            let mirrored = match dir {
                "sendonly" => Some("recvonly"),
                "recvonly" => Some("sendonly"),
                "sendrecv" => Some("sendrecv"),
                "inactive" => Some("inactive"),
                _ => None,
            };
            if let Some(m) = mirrored {
                out.push_str(&format!("a={m}\r\n"));
            }
        }
    }
    out
}

/// The offer `generateOffer` returns: audio (opus) and video (VP8/H264), bundled.
pub fn sdp_offer(session_version: u64) -> String {
    let mut out = sdp_header(session_version);
    out.push_str("a=group:BUNDLE 0 1\r\na=msid-semantic: WMS EnvoyStream\r\n");
    out.push_str(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
    );
    out.push_str(&ice_lines());
    out.push_str("a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n");
    out.push_str(
        "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
    );
    out.push_str(&ice_lines());
    out.push_str("a=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 goog-remb\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n");
    out
}

fn sdp_header(session_version: u64) -> String {
    format!("v=0\r\no=- {session_version} 0 IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nt=0 0\r\n")
}

fn ice_lines() -> String {
    "a=ice-ufrag:Kq3Z\r\na=ice-pwd:vW8nS3mQ1pR6tY2uX5zA0bC4\r\na=ice-options:trickle\r\na=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:active\r\n".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_mirrors_the_offer() {
        let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\na=rtpmap:96 VP8/90000\r\n";
        let answer = sdp_answer(offer, 77);
        assert!(answer.starts_with("v=0\r\no=- 77 0 IN IP4"));
        assert!(answer.contains("a=group:BUNDLE 0 1"));
        assert!(answer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert!(answer.contains("a=recvonly"));
        assert!(answer.contains("a=rtpmap:96 VP8/90000"));
        assert!(sdp_offer(1).contains("m=video"));
    }
}
