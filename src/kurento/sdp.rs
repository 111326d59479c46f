//! Session descriptions (RFC 8866) as an operator reads them: per m-line the media, port,
//! protocol, direction, codecs and ICE candidates, with the ICE credentials, DTLS fingerprint and
//! setup role. Pure and lenient: KMS and browsers write SDP differently (CRLF or LF, attributes
//! at session or media level), and a line that does not parse is skipped instead of failing the
//! whole description.
//!
//! [`redact`] replaces the secrets a description carries (the ICE password, SDES keys) before
//! the text is kept or shown anywhere.

use serde::Serialize;

/// What replaces a secret in a redacted description.
pub const REDACTED: &str = "<redacted>";

/// A description that is not SDP at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session description: no `v=` line")]
pub struct NotSdp;

/// One parsed session description.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionDescription {
    /// `o=` address (the sender's, as it sees itself).
    pub origin_address: Option<String>,
    /// `s=`.
    pub session_name: Option<String>,
    /// `a=group:BUNDLE` mids.
    pub bundle: Vec<String>,
    /// Session-level ICE, DTLS and direction, which m-lines inherit unless they override them.
    pub ice_ufrag: Option<String>,
    /// [`REDACTED`] when the description has a password (it is a credential); `None` when not.
    pub ice_pwd: Option<String>,
    pub fingerprint: Option<Fingerprint>,
    pub setup: Option<String>,
    pub media: Vec<MediaSection>,
}

/// One m-line with its attributes (session-level values inherited).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaSection {
    /// `audio`, `video`, `application`, ...
    pub media: String,
    pub port: Option<u16>,
    /// `UDP/TLS/RTP/SAVPF`, `RTP/AVPF`, ...
    pub protocol: String,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive` (`sendrecv` when unsaid, RFC 3264).
    pub direction: String,
    /// Port 0: the m-line was refused.
    pub rejected: bool,
    pub mid: Option<String>,
    /// `c=` address (media-level, else session-level).
    pub connection_address: Option<String>,
    pub rtcp_mux: bool,
    pub codecs: Vec<Codec>,
    pub candidates: Vec<Candidate>,
    pub ice_ufrag: Option<String>,
    /// [`REDACTED`] when present.
    pub ice_pwd: Option<String>,
    pub fingerprint: Option<Fingerprint>,
    pub setup: Option<String>,
}

/// An RTP payload type of an m-line, named by `a=rtpmap` or by the static table (RFC 3551).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Codec {
    pub payload_type: u8,
    /// `None` for a dynamic type without `rtpmap`.
    pub name: Option<String>,
    pub clock_rate: Option<u32>,
    /// Audio channels when `rtpmap` says (`opus/48000/2`).
    pub channels: Option<u16>,
}

/// An ICE candidate (RFC 8839 `candidate-attribute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub foundation: String,
    pub component: u16,
    /// `udp` or `tcp`, lower-cased (KMS writes `UDP`).
    pub transport: String,
    pub priority: u32,
    pub address: String,
    pub port: u16,
    /// `host`, `srflx`, `prflx` or `relay`.
    #[serde(rename = "type")]
    pub candidate_type: String,
    pub related_address: Option<String>,
    pub related_port: Option<u16>,
}

/// `a=fingerprint:<hash> <value>` (DTLS certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    pub hash: String,
    pub value: String,
}

/// Parses `text`. Only a text without any `v=` line is refused; anything else gives what could
/// be read.
pub fn parse(text: &str) -> Result<SessionDescription, NotSdp> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.iter().any(|l| l.starts_with("v=")) {
        return Err(NotSdp);
    }
    let mut session = SessionDescription::default();
    let mut session_direction: Option<String> = None;
    let mut session_connection: Option<String> = None;
    // Per m-line: the section, its own direction (if said) and its `m=` payload types.
    let mut sections: Vec<(MediaSection, Option<String>, Vec<u8>)> = Vec::new();
    for line in lines {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match (kind, sections.last_mut()) {
            ("m", _) => {
                if let Some(section) = media_line(value) {
                    sections.push(section);
                }
            }
            ("o", None) => session.origin_address = value.split_whitespace().nth(5).map(owned),
            ("s", None) => session.session_name = Some(value.to_owned()),
            ("c", None) => session_connection = connection_address(value),
            ("c", Some((section, _, _))) => section.connection_address = connection_address(value),
            ("a", None) => session_attribute(&mut session, &mut session_direction, value),
            ("a", Some((section, direction, pts))) => {
                media_attribute(section, direction, pts, value);
            }
            _ => {}
        }
    }
    session.media = sections
        .into_iter()
        .map(|(mut section, direction, pts)| {
            section.direction = direction
                .or_else(|| session_direction.clone())
                .unwrap_or_else(|| "sendrecv".to_owned());
            section.connection_address = section
                .connection_address
                .or_else(|| session_connection.clone());
            section.ice_ufrag = section.ice_ufrag.or_else(|| session.ice_ufrag.clone());
            section.ice_pwd = section.ice_pwd.or_else(|| session.ice_pwd.clone());
            section.fingerprint = section.fingerprint.or_else(|| session.fingerprint.clone());
            section.setup = section.setup.or_else(|| session.setup.clone());
            // In the m-line's order (the sender's preference); a payload type without `rtpmap`
            // is named by the static table when it can be.
            let mapped = std::mem::take(&mut section.codecs);
            section.codecs = pts
                .iter()
                .map(|pt| {
                    mapped
                        .iter()
                        .find(|c| c.payload_type == *pt)
                        .cloned()
                        .unwrap_or_else(|| static_codec(*pt))
                })
                .collect();
            section
        })
        .collect();
    Ok(session)
}

fn owned(s: &str) -> String {
    s.to_owned()
}

/// `m=<media> <port>[/<n>] <proto> <fmt> ...`.
fn media_line(value: &str) -> Option<(MediaSection, Option<String>, Vec<u8>)> {
    let mut words = value.split_whitespace();
    let media = words.next()?.to_owned();
    let port = words
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse::<u16>().ok());
    let protocol = words.next().unwrap_or_default().to_owned();
    let pts = if protocol.contains("RTP") {
        words.filter_map(|w| w.parse::<u8>().ok()).collect()
    } else {
        Vec::new()
    };
    let section = MediaSection {
        media,
        port,
        protocol,
        direction: String::new(),
        rejected: port == Some(0),
        mid: None,
        connection_address: None,
        rtcp_mux: false,
        codecs: Vec::new(),
        candidates: Vec::new(),
        ice_ufrag: None,
        ice_pwd: None,
        fingerprint: None,
        setup: None,
    };
    Some((section, None, pts))
}

/// `c=IN IP4 <address>[/ttl]`.
fn connection_address(value: &str) -> Option<String> {
    let address = value.split_whitespace().nth(2)?;
    Some(address.split('/').next().unwrap_or(address).to_owned())
}

fn is_direction(attribute: &str) -> bool {
    matches!(attribute, "sendrecv" | "sendonly" | "recvonly" | "inactive")
}

fn session_attribute(session: &mut SessionDescription, direction: &mut Option<String>, a: &str) {
    if is_direction(a) {
        *direction = Some(a.to_owned());
    } else if let Some(group) = a.strip_prefix("group:BUNDLE") {
        session.bundle = group.split_whitespace().map(owned).collect();
    } else if let Some(ufrag) = a.strip_prefix("ice-ufrag:") {
        session.ice_ufrag = Some(ufrag.trim().to_owned());
    } else if a.starts_with("ice-pwd:") {
        session.ice_pwd = Some(REDACTED.to_owned());
    } else if let Some(fp) = a.strip_prefix("fingerprint:") {
        session.fingerprint = fingerprint(fp).or(session.fingerprint.take());
    } else if let Some(setup) = a.strip_prefix("setup:") {
        session.setup = Some(setup.trim().to_owned());
    }
}

fn media_attribute(
    section: &mut MediaSection,
    direction: &mut Option<String>,
    pts: &[u8],
    a: &str,
) {
    if is_direction(a) {
        *direction = Some(a.to_owned());
    } else if a == "rtcp-mux" {
        section.rtcp_mux = true;
    } else if let Some(mid) = a.strip_prefix("mid:") {
        section.mid = Some(mid.trim().to_owned());
    } else if let Some(map) = a.strip_prefix("rtpmap:") {
        if let Some(codec) = rtpmap(map)
            && pts.contains(&codec.payload_type)
            && !section
                .codecs
                .iter()
                .any(|c| c.payload_type == codec.payload_type)
        {
            section.codecs.push(codec);
        }
    } else if let Some(candidate) = a.strip_prefix("candidate:") {
        if let Some(candidate) = parse_candidate(candidate) {
            section.candidates.push(candidate);
        }
    } else if let Some(ufrag) = a.strip_prefix("ice-ufrag:") {
        section.ice_ufrag = Some(ufrag.trim().to_owned());
    } else if a.starts_with("ice-pwd:") {
        section.ice_pwd = Some(REDACTED.to_owned());
    } else if let Some(fp) = a.strip_prefix("fingerprint:") {
        section.fingerprint = fingerprint(fp).or(section.fingerprint.take());
    } else if let Some(setup) = a.strip_prefix("setup:") {
        section.setup = Some(setup.trim().to_owned());
    }
}

/// `<pt> <name>/<clock rate>[/<channels>]`.
fn rtpmap(map: &str) -> Option<Codec> {
    let (pt, encoding) = map.trim().split_once(' ')?;
    let payload_type = pt.parse().ok()?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    Some(Codec {
        payload_type,
        name: Some(name),
        clock_rate: parts.next().and_then(|r| r.parse().ok()),
        channels: parts.next().and_then(|c| c.parse().ok()),
    })
}

/// The static payload types a KMS or browser description may list without `rtpmap`.
fn static_codec(payload_type: u8) -> Codec {
    let (name, clock_rate, channels) = match payload_type {
        0 => (Some("PCMU"), Some(8_000), Some(1)),
        3 => (Some("GSM"), Some(8_000), Some(1)),
        4 => (Some("G723"), Some(8_000), Some(1)),
        8 => (Some("PCMA"), Some(8_000), Some(1)),
        9 => (Some("G722"), Some(8_000), Some(1)),
        13 => (Some("CN"), Some(8_000), Some(1)),
        18 => (Some("G729"), Some(8_000), Some(1)),
        26 => (Some("JPEG"), Some(90_000), None),
        31 => (Some("H261"), Some(90_000), None),
        32 => (Some("MPV"), Some(90_000), None),
        34 => (Some("H263"), Some(90_000), None),
        _ => (None, None, None),
    };
    Codec {
        payload_type,
        name: name.map(owned),
        clock_rate,
        channels,
    }
}

/// A `candidate:` value (with or without the `candidate:` / `a=candidate:` prefix):
/// `<foundation> <component> <transport> <priority> <address> <port> typ <type> [raddr <a>
/// rport <p>] ...`.
pub fn parse_candidate(text: &str) -> Option<Candidate> {
    let text = text.trim();
    let text = text.strip_prefix("a=").unwrap_or(text);
    let text = text.strip_prefix("candidate:").unwrap_or(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    let [
        foundation,
        component,
        transport,
        priority,
        address,
        port,
        typ,
        kind,
        rest @ ..,
    ] = words.as_slice()
    else {
        return None;
    };
    if *typ != "typ" {
        return None;
    }
    let after = |key: &str| {
        rest.chunks(2)
            .find(|pair| pair.first() == Some(&key))
            .and_then(|pair| pair.get(1).copied())
    };
    Some(Candidate {
        foundation: (*foundation).to_owned(),
        component: component.parse().ok()?,
        transport: transport.to_ascii_lowercase(),
        priority: priority.parse().ok()?,
        address: (*address).to_owned(),
        port: port.parse().ok()?,
        candidate_type: (*kind).to_owned(),
        related_address: after("raddr").map(owned),
        related_port: after("rport").and_then(|p| p.parse().ok()),
    })
}

/// `<hash> <value>`.
fn fingerprint(value: &str) -> Option<Fingerprint> {
    let (hash, value) = value.trim().split_once(' ')?;
    Some(Fingerprint {
        hash: hash.to_ascii_lowercase(),
        value: value.trim().to_owned(),
    })
}

/// `text` with its secrets replaced by [`REDACTED`]: the ICE password (`a=ice-pwd:`), which lets
/// whoever knows it answer connectivity checks, and SDES keys (`a=crypto:... inline:<key>`),
/// which decrypt the media of an RtpEndpoint. Line endings are kept as they were.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let trimmed = body.trim_start();
        if trimmed.starts_with("a=ice-pwd:") {
            out.push_str("a=ice-pwd:");
            out.push_str(REDACTED);
        } else if trimmed.starts_with("a=crypto:") {
            out.push_str(&redact_crypto(trimmed));
        } else {
            out.push_str(body);
        }
        out.push_str(ending);
    }
    out
}

/// `a=crypto:<tag> <suite> inline:<key>[|...] ...` with every key replaced.
fn redact_crypto(line: &str) -> String {
    line.split(' ')
        .map(|word| match word.strip_prefix("inline:") {
            Some(_) => format!("inline:{REDACTED}"),
            None => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as Chrome sends it (trimmed to one audio and one video codec set), with host,
    /// srflx and relay candidates on documentation addresses.
    const BROWSER_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS stream\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:842163049 1 udp 2122260223 192.0.2.10 54400 typ host generation 0 network-id 1\r\n\
a=candidate:1510613869 1 udp 1686052607 198.51.100.7 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0\r\n\
a=candidate:3463826402 1 udp 41885439 203.0.113.40 3478 typ relay raddr 198.51.100.7 rport 54400 generation 0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n";

    /// An answer as KMS writes it: session-level ICE and DTLS, `UDP` upper-case, one host
    /// candidate per m-line, Firefox-style LF line ends.
    const KMS_ANSWER: &str = "v=0\n\
o=- 3902648190 3902648190 IN IP4 192.0.2.1\n\
s=Kurento Media Server\n\
c=IN IP4 192.0.2.1\n\
t=0 0\n\
a=ice-ufrag:Kq3Z\n\
a=ice-pwd:vW8nS3mQ1pR6tY2uX5zA0bC4\n\
a=fingerprint:SHA-256 6B:8B:F0:65\n\
a=setup:active\n\
a=group:BUNDLE 0 1\n\
m=audio 41000 UDP/TLS/RTP/SAVPF 111 0\n\
a=candidate:1 1 UDP 2015363327 192.0.2.1 41000 typ host\n\
a=mid:0\n\
a=recvonly\n\
a=rtcp-mux\n\
a=rtpmap:111 opus/48000/2\n\
m=video 0 UDP/TLS/RTP/SAVPF 96\n\
a=mid:1\n\
a=inactive\n\
a=rtpmap:96 VP8/90000\n";

    #[test]
    fn a_browser_offer_in_full() {
        let d = parse(BROWSER_OFFER).unwrap();
        assert_eq!(d.origin_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(d.bundle, ["0", "1"]);
        assert_eq!(d.media.len(), 2);
        let audio = &d.media[0];
        assert_eq!(
            (
                audio.media.as_str(),
                audio.port,
                audio.protocol.as_str(),
                audio.direction.as_str()
            ),
            ("audio", Some(9), "UDP/TLS/RTP/SAVPF", "sendrecv")
        );
        assert_eq!(audio.mid.as_deref(), Some("0"));
        assert!(audio.rtcp_mux && !audio.rejected);
        assert_eq!(audio.connection_address.as_deref(), Some("0.0.0.0"));
        let names: Vec<_> = audio
            .codecs
            .iter()
            .map(|c| (c.payload_type, c.name.as_deref().unwrap(), c.clock_rate))
            .collect();
        assert_eq!(names[0], (111, "opus", Some(48_000)));
        assert_eq!(audio.codecs[0].channels, Some(2));
        assert_eq!(names[3], (0, "PCMU", Some(8_000)));
        assert_eq!(names.len(), 8);
        let types: Vec<_> = audio
            .candidates
            .iter()
            .map(|c| c.candidate_type.as_str())
            .collect();
        assert_eq!(types, ["host", "srflx", "relay"]);
        let relay = &audio.candidates[2];
        assert_eq!(
            relay,
            &Candidate {
                foundation: "3463826402".into(),
                component: 1,
                transport: "udp".into(),
                priority: 41_885_439,
                address: "203.0.113.40".into(),
                port: 3478,
                candidate_type: "relay".into(),
                related_address: Some("198.51.100.7".into()),
                related_port: Some(54400),
            }
        );
        assert_eq!(audio.ice_ufrag.as_deref(), Some("EsAw"));
        assert_eq!(audio.ice_pwd.as_deref(), Some(REDACTED));
        assert_eq!(audio.setup.as_deref(), Some("actpass"));
        let fp = audio.fingerprint.as_ref().unwrap();
        assert_eq!(fp.hash, "sha-256");
        assert!(fp.value.starts_with("D2:FA:0E"));
        let video = &d.media[1];
        assert_eq!(video.direction, "sendonly");
        let video_codecs: Vec<_> = video
            .codecs
            .iter()
            .map(|c| c.name.clone().unwrap())
            .collect();
        assert_eq!(video_codecs, ["VP8", "rtx", "H264"]);
        assert_eq!(video.codecs[0].channels, None);
        assert!(video.candidates.is_empty());
        let shown = serde_json::to_string(&d).unwrap();
        assert!(!shown.contains("bP+XJMM09aR8AiX1jdukzR6Y"), "{shown}");
    }

    #[test]
    fn a_kms_answer_inherits_session_level_values() {
        let d = parse(KMS_ANSWER).unwrap();
        assert_eq!(d.session_name.as_deref(), Some("Kurento Media Server"));
        assert_eq!(d.ice_pwd.as_deref(), Some(REDACTED));
        let audio = &d.media[0];
        assert_eq!(audio.direction, "recvonly");
        assert_eq!(audio.connection_address.as_deref(), Some("192.0.2.1"));
        assert_eq!(audio.ice_ufrag.as_deref(), Some("Kq3Z"));
        assert_eq!(audio.ice_pwd.as_deref(), Some(REDACTED));
        assert_eq!(audio.setup.as_deref(), Some("active"));
        assert_eq!(audio.fingerprint.as_ref().unwrap().hash, "sha-256");
        assert_eq!(audio.candidates[0].transport, "udp");
        assert_eq!(audio.candidates[0].related_address, None);
        // PCMU has no rtpmap here: named from the static table.
        assert_eq!(audio.codecs[1].name.as_deref(), Some("PCMU"));
        let video = &d.media[1];
        assert!(video.rejected);
        assert_eq!(video.direction, "inactive");
        assert_eq!(parse(&KMS_ANSWER.replace('\n', "\r\n")).unwrap(), d);
    }

    #[test]
    fn plain_rtp_and_session_level_direction() {
        let text = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP4 198.51.100.2/127\r\nt=0 0\r\na=sendonly\r\nm=audio 5004 RTP/AVP 0 8 97\r\na=rtpmap:97 speex/16000\r\nm=video 5006 RTP/AVPF 96\r\na=recvonly\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        let d = parse(text).unwrap();
        assert_eq!(d.origin_address.as_deref(), Some("2001:db8::1"));
        let audio = &d.media[0];
        assert_eq!(audio.direction, "sendonly", "from the session level");
        assert_eq!(audio.connection_address.as_deref(), Some("198.51.100.2"));
        let codecs: Vec<_> = audio.codecs.iter().map(|c| c.payload_type).collect();
        assert_eq!(codecs, [0, 8, 97], "in the m-line's order");
        assert_eq!(audio.codecs[1].name.as_deref(), Some("PCMA"));
        assert_eq!(audio.codecs[2].clock_rate, Some(16_000));
        assert_eq!(audio.ice_ufrag, None);
        assert_eq!(d.media[1].direction, "recvonly");
        assert_eq!(d.media[1].codecs[0].name, None, "dynamic without rtpmap");
        let data = &d.media[2];
        assert_eq!(data.protocol, "UDP/DTLS/SCTP");
        assert!(data.codecs.is_empty());
    }

    #[test]
    fn garbage_is_refused_or_skipped_never_a_panic() {
        assert_eq!(parse(""), Err(NotSdp));
        assert_eq!(parse("hello\nworld"), Err(NotSdp));
        assert_eq!(parse("\u{0}\u{ff}ÿ=="), Err(NotSdp));
        let d = parse("v=0\nm=\nm=audio\nm=video x RTP/AVP 300 96 abc\na=rtpmap:\na=rtpmap:96\na=rtpmap:96 /\na=candidate:1 2 3\na=candidate:a b c d e f g h\na=fingerprint:\na=setup:\n=\nx\n").unwrap();
        assert_eq!(d.media.len(), 2);
        let video = &d.media[1];
        assert_eq!(video.port, None);
        assert_eq!(
            video.codecs,
            [Codec {
                payload_type: 96,
                name: None,
                clock_rate: None,
                channels: None
            }]
        );
        assert!(video.candidates.is_empty());
        assert_eq!(video.fingerprint, None);
        assert_eq!(parse("v=0").unwrap().media, []);
    }

    #[test]
    fn candidate_table() {
        let cases = [
            (
                "candidate:1 1 UDP 2015363327 192.0.2.1 41000 typ host",
                Some(("host", "192.0.2.1", 41000, None)),
            ),
            (
                "a=candidate:2 1 tcp 1518280447 192.0.2.3 9 typ host tcptype active generation 0",
                Some(("host", "192.0.2.3", 9, None)),
            ),
            (
                "2 1 UDP 1679819007 198.51.100.5 40001 typ srflx raddr 192.0.2.1 rport 40000",
                Some(("srflx", "198.51.100.5", 40001, Some(40000))),
            ),
            (
                "candidate:3 1 udp 1 2001:db8::5 3478 typ relay raddr 2001:db8::4 rport 1",
                Some(("relay", "2001:db8::5", 3478, Some(1))),
            ),
            ("candidate:1 1 udp 1 192.0.2.1 70000 typ host", None),
            ("candidate:1 1 udp 1 192.0.2.1 9 host typ", None),
            ("candidate:1 1 udp", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_candidate(text).map(|c| {
                (
                    c.candidate_type.clone(),
                    c.address.clone(),
                    c.port,
                    c.related_port,
                )
            });
            let want = want.map(|(t, a, p, r)| (t.to_owned(), a.to_owned(), p, r));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn redaction_removes_secrets_and_keeps_line_ends() {
        let redacted = redact(BROWSER_OFFER);
        assert!(!redacted.contains("bP+XJMM09aR8AiX1jdukzR6Y"));
        assert!(redacted.contains("a=ice-pwd:<redacted>\r\na=ice-options:trickle\r\n"));
        assert_eq!(
            redacted.len() + 2 * ("bP+XJMM09aR8AiX1jdukzR6Y".len() - REDACTED.len()),
            BROWSER_OFFER.len()
        );
        assert_eq!(parse(&redacted).unwrap(), parse(BROWSER_OFFER).unwrap());
        let lf = redact(KMS_ANSWER);
        assert!(lf.contains("a=ice-pwd:<redacted>\na=fingerprint"));
        assert!(!lf.contains('\r'));
        let sdes = "v=0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n";
        let redacted = redact(sdes);
        assert!(!redacted.contains("WVNfX19"), "{redacted}");
        assert!(!redacted.contains("NzB4d1B"), "{redacted}");
        assert!(redacted.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>\r\n"));
        assert_eq!(redact(""), "");
        assert_eq!(redact("no newline"), "no newline");
    }
}
