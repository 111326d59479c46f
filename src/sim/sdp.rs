//! SDP as KMS reads and writes it: the peer's m-lines (media, direction, codecs) and the offers
//! and answers KMS returns, carrying the address and port of the endpoint's UDP socket. Pure.

use std::net::SocketAddr;

use super::media_types::MediaType;

/// One negotiated m-line, seen from the peer's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub media: MediaType,
    /// The peer sends this media to KMS (`sendrecv`/`sendonly` in the peer's description).
    pub peer_sends: bool,
    /// The peer accepts this media from KMS (`sendrecv`/`recvonly`).
    pub peer_receives: bool,
    /// Payload types with their clock rates (Hz), first = preferred.
    pub codecs: Vec<(u8, u32)>,
}

impl MediaLine {
    pub fn clock_rate(&self, payload_type: u8) -> Option<u32> {
        self.codecs
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, rate)| *rate)
    }
}

/// Why KMS refused a description (code 40201, SDP_PARSE_ERROR, with KMS's texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

/// The peer's audio and video m-lines (others, e.g. `application`, are not media here).
/// Mirrors KMS: an empty text and a text without `v=` are refused, anything else is read
/// leniently as GStreamer's parser does.
pub fn parse_media(sdp: &str, empty_message: &'static str) -> Result<Vec<MediaLine>, ParseError> {
    if sdp.is_empty() {
        return Err(ParseError(empty_message));
    }
    if !sdp.lines().any(|l| l.trim_start().starts_with("v=")) {
        return Err(ParseError("Invalid SDP"));
    }
    let mut session_direction = "sendrecv";
    let mut lines: Vec<(MediaLine, Option<&str>)> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let media = match parts.next() {
                Some("audio") => Some(MediaType::Audio),
                Some("video") => Some(MediaType::Video),
                _ => None,
            };
            let port: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let codecs = parts
                .skip(1)
                .filter_map(|pt| pt.parse::<u8>().ok())
                .map(|pt| (pt, static_clock_rate(pt, media)))
                .collect();
            if let Some(media) = media {
                let rejected = port == 0;
                let line = MediaLine {
                    media,
                    peer_sends: !rejected,
                    peer_receives: !rejected,
                    codecs,
                };
                lines.push((line, rejected.then_some("inactive")));
            } else {
                // Not a media line we model: later attributes must not touch the previous one.
                lines.push((
                    MediaLine {
                        media: MediaType::Data,
                        peer_sends: false,
                        peer_receives: false,
                        codecs: Vec::new(),
                    },
                    Some("inactive"),
                ));
            }
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        if matches!(attr, "sendrecv" | "sendonly" | "recvonly" | "inactive") {
            match lines.last_mut() {
                Some((_, direction @ None)) => *direction = Some(attr),
                Some(_) => {}
                None => session_direction = attr,
            }
        } else if let Some(map) = attr.strip_prefix("rtpmap:")
            && let Some((line, _)) = lines.last_mut()
        {
            let mut words = map.split_whitespace();
            let pt = words.next().and_then(|p| p.parse::<u8>().ok());
            let rate = words
                .next()
                .and_then(|enc| enc.split('/').nth(1))
                .and_then(|r| r.parse::<u32>().ok());
            if let (Some(pt), Some(rate)) = (pt, rate)
                && let Some(codec) = line.codecs.iter_mut().find(|(p, _)| *p == pt)
            {
                codec.1 = rate;
            }
        }
    }
    Ok(lines
        .into_iter()
        .filter(|(l, _)| l.media != MediaType::Data)
        .map(|(mut line, direction)| {
            let direction = direction.unwrap_or(session_direction);
            line.peer_sends &= matches!(direction, "sendrecv" | "sendonly");
            line.peer_receives &= matches!(direction, "sendrecv" | "recvonly");
            line
        })
        .collect())
}

/// Clock rates of the static payload types (RFC 3551); dynamic ones default by media until an
/// `rtpmap` says otherwise (opus and video both 48 kHz / 90 kHz in practice).
fn static_clock_rate(pt: u8, media: Option<MediaType>) -> u32 {
    match pt {
        0 | 3..=5 | 7..=9 | 12 | 13 | 15 | 18 => 8_000,
        _ if media == Some(MediaType::Audio) => 48_000,
        _ => 90_000,
    }
}

/// How an endpoint speaks on the wire: WebRTC (ICE, DTLS, bundle) or plain RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    WebRtc,
    Rtp,
}

/// The SDP answer KMS gives to `offer`: the same m-lines and codecs, directions mirrored, every
/// m-line on the endpoint's socket `local` (bundled, rtcp-mux), KMS's own ICE credentials and
/// fingerprint (DTLS role `active`), and its `candidates` (`candidate:` values, host first) for
/// clients that do not trickle.
pub fn answer(
    offer: &str,
    local: SocketAddr,
    flavour: Flavour,
    session_version: u64,
    candidates: &[String],
) -> String {
    let mut out = header(local, session_version);
    let mids: Vec<&str> = offer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .collect();
    if flavour == Flavour::WebRtc {
        if !mids.is_empty() {
            out.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
        }
        out.push_str("a=msid-semantic: WMS EnvoyStream\r\n");
    }
    let mut session_level = true;
    for line in offer.lines().map(str::trim) {
        if line.starts_with("m=") {
            session_level = false;
            let mut parts = line.split_whitespace();
            let media = parts.next().unwrap_or("m=audio");
            let port = parts.next().unwrap_or("9");
            let proto = parts.next().unwrap_or(match flavour {
                Flavour::WebRtc => "UDP/TLS/RTP/SAVPF",
                Flavour::Rtp => "RTP/AVPF",
            });
            let pts: Vec<&str> = parts.collect();
            // A rejected m-line stays rejected (port 0), as RFC 3264 requires.
            let port = if port == "0" { 0 } else { local.port() };
            out.push_str(&format!("{media} {port} {proto} {}\r\n", pts.join(" ")));
            out.push_str(&connection_line(local));
            if flavour == Flavour::WebRtc {
                out.push_str(&ice_lines("active"));
                out.push_str(&candidate_lines(candidates));
            }
        } else if !session_level
            && (line.starts_with("a=rtpmap:")
                || line.starts_with("a=fmtp:")
                || line.starts_with("a=rtcp-fb:")
                || line.starts_with("a=mid:")
                || line == "a=rtcp-mux")
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if let Some(dir) = line.strip_prefix("a=") {
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

/// The offer `generateOffer` returns: audio (opus, PCMU) and video (VP8, H264), sendrecv, on the
/// endpoint's socket; WebRTC bundles them with ICE, DTLS (role `actpass`) and `candidates`,
/// plain RTP offers RTP/AVPF without.
pub fn offer(
    local: SocketAddr,
    flavour: Flavour,
    session_version: u64,
    candidates: &[String],
) -> String {
    let mut out = header(local, session_version);
    let port = local.port();
    let (proto, webrtc) = match flavour {
        Flavour::WebRtc => ("UDP/TLS/RTP/SAVPF", true),
        Flavour::Rtp => ("RTP/AVPF", false),
    };
    if webrtc {
        out.push_str("a=group:BUNDLE 0 1\r\na=msid-semantic: WMS EnvoyStream\r\n");
    }
    for (i, (m, pts, maps)) in [
        ("audio", "111 0", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"),
        (
            "video",
            "96 102",
            "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 goog-remb\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        out.push_str(&format!("m={m} {port} {proto} {pts}\r\n"));
        out.push_str(&connection_line(local));
        if webrtc {
            out.push_str(&ice_lines("actpass"));
            out.push_str(&candidate_lines(candidates));
            out.push_str(&format!("a=mid:{i}\r\n"));
        }
        out.push_str("a=sendrecv\r\na=rtcp-mux\r\n");
        out.push_str(maps);
    }
    out
}

/// KMS's host candidate on the endpoint's socket, as an SDP `candidate:` value (no `a=`).
pub fn host_candidate(local: SocketAddr) -> String {
    format!(
        "candidate:1 1 UDP 2015363327 {} {} typ host generation 0",
        local.ip(),
        local.port()
    )
}

fn candidate_lines(candidates: &[String]) -> String {
    candidates.iter().map(|c| format!("a={c}\r\n")).collect()
}

fn header(local: SocketAddr, session_version: u64) -> String {
    format!(
        "v=0\r\no=- {session_version} 0 IN {} {}\r\ns=Kurento Media Server\r\nt=0 0\r\n",
        family(local),
        local.ip()
    )
}

fn connection_line(local: SocketAddr) -> String {
    format!("c=IN {} {}\r\n", family(local), local.ip())
}

fn family(local: SocketAddr) -> &'static str {
    if local.is_ipv4() { "IP4" } else { "IP6" }
}

/// KMS's ICE credentials and DTLS fingerprint, with the DTLS `setup` role.
fn ice_lines(setup: &str) -> String {
    format!(
        "a=ice-ufrag:Kq3Z\r\na=ice-pwd:vW8nS3mQ1pR6tY2uX5zA0bC4\r\na=ice-options:trickle\r\na=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:{setup}\r\n"
    )
}

/// A remote ICE candidate's transport address and type, from a `candidate:` line.
pub fn parse_candidate(line: &str) -> Option<(SocketAddr, String)> {
    let words: Vec<&str> = line
        .trim()
        .trim_start_matches("a=")
        .split_whitespace()
        .collect();
    let ip = words.get(4)?.parse().ok()?;
    let port = words.get(5)?.parse().ok()?;
    let typ_at = words.iter().position(|w| *w == "typ")?;
    Some((
        SocketAddr::new(ip, port),
        (*words.get(typ_at + 1)?).to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "127.0.0.1:41000";

    fn local() -> SocketAddr {
        LOCAL.parse().unwrap()
    }

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn answer_mirrors_the_offer_on_the_endpoint_socket() {
        let answer = answer(
            OFFER,
            local(),
            Flavour::WebRtc,
            77,
            &[host_candidate(local())],
        );
        assert!(answer.starts_with("v=0\r\no=- 77 0 IN IP4 127.0.0.1\r\n"));
        assert!(answer.contains("a=group:BUNDLE 0 1"));
        assert!(answer.contains("m=audio 41000 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 127.0.0.1\r\n"));
        assert!(answer.contains("a=candidate:1 1 UDP 2015363327 127.0.0.1 41000 typ host"));
        let audio = &answer[answer.find("m=audio").unwrap()..answer.find("m=video").unwrap()];
        assert!(
            audio.contains("a=recvonly"),
            "the peer sends audio, KMS receives it"
        );
        assert!(answer[answer.find("m=video").unwrap()..].contains("a=sendonly"));
        assert!(answer.contains("a=rtpmap:96 VP8/90000"));
    }

    #[test]
    fn rtp_flavour_has_no_ice_or_dtls() {
        let rtp_offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=sendrecv\r\n";
        let answer = answer(
            rtp_offer,
            local(),
            Flavour::Rtp,
            1,
            &[host_candidate(local())],
        );
        assert!(answer.contains("m=audio 41000 RTP/AVP 0\r\n"));
        let generated = offer(local(), Flavour::Rtp, 1, &[host_candidate(local())]);
        assert!(generated.contains("m=video 41000 RTP/AVPF 96 102"));
        for text in [answer, generated] {
            for absent in ["ice-ufrag", "fingerprint", "candidate", "BUNDLE", "SAVPF"] {
                assert!(!text.contains(absent), "{absent} in {text}");
            }
        }
    }

    #[test]
    fn media_lines_carry_the_peer_directions_and_clock_rates() {
        let lines = parse_media(OFFER, "Empty offer not valid").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].media, MediaType::Audio);
        assert!(lines[0].peer_sends && !lines[0].peer_receives);
        assert_eq!(lines[0].clock_rate(111), Some(48_000));
        assert_eq!(lines[0].clock_rate(0), Some(8_000));
        assert!(!lines[1].peer_sends && lines[1].peer_receives);
        assert_eq!(lines[1].clock_rate(96), Some(90_000));
        let defaulted = parse_media("v=0\r\nm=video 9 RTP/AVP 96\r\n", "").unwrap();
        assert!(
            defaulted[0].peer_sends && defaulted[0].peer_receives,
            "sendrecv by default"
        );
        let rejected = parse_media(
            "v=0\r\na=sendonly\r\nm=audio 0 RTP/AVP 0\r\nm=video 9 RTP/AVP 96\r\n",
            "",
        )
        .unwrap();
        assert!(!rejected[0].peer_sends, "port 0 rejects the m-line");
        assert!(
            rejected[1].peer_sends && !rejected[1].peer_receives,
            "session-level direction"
        );
        let data = parse_media("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sendonly\r\nm=audio 9 RTP/AVP 0\r\n", "").unwrap();
        assert_eq!(data.len(), 1);
        assert!(
            data[0].peer_receives,
            "the data line's attribute stays with it"
        );
    }

    #[test]
    fn garbage_is_refused_with_kms_texts() {
        assert_eq!(
            parse_media("", "Empty offer not valid"),
            Err(ParseError("Empty offer not valid"))
        );
        assert_eq!(parse_media("garbage", "x"), Err(ParseError("Invalid SDP")));
    }

    #[test]
    fn candidates_give_address_and_type() {
        let (addr, typ) = parse_candidate(
            "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ relay raddr 0.0.0.0 rport 0",
        )
        .unwrap();
        assert_eq!(addr, "127.0.0.1:54321".parse().unwrap());
        assert_eq!(typ, "relay");
        assert_eq!(
            parse_candidate("a=candidate:1 1 udp 1 ::1 9 typ host")
                .unwrap()
                .1,
            "host"
        );
        assert_eq!(parse_candidate("candidate:1 1 udp"), None);
        assert!(parse_candidate(&host_candidate(local())).is_some());
    }
}
