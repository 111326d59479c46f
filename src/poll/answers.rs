//! What each read of a cycle answered, decoded into an element's reading. The answers are
//! decoded while the transaction reply is read ([`AnswerDecoder`]), then put together per element
//! ([`reading_of`]). Pure.

use std::sync::Arc;

use foldhash::HashMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::analysis::model::{
    Connectivity, Direction, ElementReading, IceState, Media, RtpStream, UriState,
};
use crate::kurento::connections::{self, SinkConnection};
use crate::kurento::stats::{self, CandidateType, SelectedPair, StatsEntry};
use crate::kurento::{OpDecoder, OpOutcome, lenient};
use crate::poll::answer_memory::{AnswerMemory, Digest};
use crate::poll::plan::{Read, Target};

/// The answers remembered from one cycle to the next: those decoded once per change, not once
/// per cycle ([`Answer::digest`]).
pub type Memory = AnswerMemory<Answer>;

/// One read's answer, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Stats(Vec<StatsEntry>),
    Flag(Option<bool>),
    Connectivity(Option<Connectivity>),
    Ice(IceState),
    Uri(Option<UriState>),
    /// A list kept from one cycle to the next ([`Memory`]), with the digest of the answer's
    /// text when it was read from one.
    CandidatePairs {
        digest: Option<Digest>,
        pairs: Arc<[SelectedPair]>,
    },
    Sinks {
        digest: Option<Digest>,
        sinks: Arc<[SinkConnection]>,
    },
}

impl Answer {
    /// What a list answer with an entry of the wrong shape reads as (as `lenient::objects`).
    fn empty(read: Read) -> Answer {
        match read {
            Read::Stats(_) => Answer::Stats(Vec::new()),
            Read::FlowingIn(_) | Read::FlowingOut(_) | Read::Transcoding(_) => Answer::Flag(None),
            Read::MediaState | Read::ConnectionState => Answer::Connectivity(None),
            Read::IceStates => Answer::Ice(IceState::of_components(&[] as &[&str])),
            Read::CandidatePairs => Answer::CandidatePairs {
                digest: None,
                pairs: Arc::from([]),
            },
            Read::UriState => Answer::Uri(None),
            Read::SinkConnections => Answer::Sinks {
                digest: None,
                sinks: Arc::from([]),
            },
        }
    }

    /// The digest of the text a remembered answer was decoded from.
    fn digest(&self) -> Option<Digest> {
        match self {
            Answer::CandidatePairs { digest, .. } | Answer::Sinks { digest, .. } => *digest,
            _ => None,
        }
    }
}

/// Decodes the answers of one transaction's ops, each by what its op reads.
pub struct AnswerDecoder<'a> {
    /// The read of each op, and the element it reads.
    pub ops: Vec<(Read, &'a Arc<str>)>,
    pub ids: &'a SharedIds<'a>,
    /// What each element answered last cycle to the remembered reads.
    pub previous: &'a Memory,
}

impl AnswerDecoder<'_> {
    /// The answer of a remembered read: last cycle's when the text is the same (the text is
    /// only scanned and hashed), else `decode` of the text.
    fn remembered<'de, D: Deserializer<'de>>(
        &self,
        read: Read,
        element: &Arc<str>,
        value: D,
        decode: impl FnOnce(&str, Digest) -> Result<Answer, serde_json::Error>,
    ) -> Result<Answer, D::Error> {
        let text = <&RawValue>::deserialize(value)?.get();
        let digest = Digest::of(text);
        match self.previous.recall(element, read, digest) {
            Some(answer) => Ok(answer),
            None => decode(text, digest).map_err(D::Error::custom),
        }
    }
}

impl OpDecoder for AnswerDecoder<'_> {
    type Value = Answer;

    fn decode<'de, D: Deserializer<'de>>(
        &self,
        index: usize,
        value: D,
    ) -> Result<Answer, D::Error> {
        let Some(&(read, element)) = self.ops.get(index) else {
            return Err(D::Error::custom("an answer to an op that was not sent"));
        };
        Ok(match read {
            Read::Stats(_) => Answer::Stats(stats::stats_from(value)?),
            Read::FlowingIn(_) | Read::FlowingOut(_) | Read::Transcoding(_) => {
                Answer::Flag(lenient::flag_from(value)?)
            }
            Read::MediaState | Read::ConnectionState => Answer::Connectivity(
                lenient::text_from(value)?.and_then(|t| Connectivity::from_kms(&t)),
            ),
            Read::IceStates => {
                Answer::Ice(IceState::of_components(&stats::ice_states_from(value)?))
            }
            Read::CandidatePairs => self.remembered(read, element, value, |text, digest| {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                Ok(Answer::CandidatePairs {
                    digest: Some(digest),
                    pairs: stats::candidate_pairs_from(&mut deserializer)?.into(),
                })
            })?,
            Read::UriState => {
                Answer::Uri(lenient::text_from(value)?.and_then(|t| UriState::from_kms(&t)))
            }
            Read::SinkConnections => self.remembered(read, element, value, |text, digest| {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                let sinks =
                    connections::sink_connections_from(element, &mut deserializer, |sink| {
                        self.ids.get(sink)
                    })?;
                Ok(Answer::Sinks {
                    digest: Some(digest),
                    sinks: sinks.into(),
                })
            })?,
        })
    }

    fn decode_text(&self, index: usize, value: &RawValue) -> Answer {
        let Some(&(read, _)) = self.ops.get(index) else {
            // Not reached: the transaction decoder asks only for the ops it was given, and this
            // decoder is built from those same ops. An answer nobody reads is the safe stand-in.
            return Answer::Flag(None);
        };
        if let Read::Stats(_) = read {
            // Stats have a reference decoder of their own for what one pass cannot take.
            return Answer::Stats(stats::decode_stats_raw(value));
        }
        // The other decoders take any JSON value; only a list entry of the wrong shape fails, and
        // the list then reads as empty.
        let mut deserializer = serde_json::Deserializer::from_str(value.get());
        self.decode(index, &mut deserializer)
            .unwrap_or_else(|_| Answer::empty(read))
    }
}

/// The most indirect candidate type over the selected pairs (README "Metrics reference": relay if
/// either side of a pair is relay, else srflx/prflx, else host).
pub fn selected_candidate(pairs: &[stats::SelectedPair]) -> Option<CandidateType> {
    pairs
        .iter()
        .flat_map(|p| [p.local, p.remote])
        .flatten()
        .max()
}

/// Adds one `getStats` answer to a reading. `media` is what was asked for: RTP entries carry no
/// media kind of their own (docs/kms-protocol.md §9).
fn add_stats(reading: &mut ElementReading, media: Option<Media>, entries: Vec<StatsEntry>) {
    for entry in entries {
        match entry {
            StatsEntry::Inbound(i) => reading.streams.push(RtpStream {
                media,
                direction: Some(Direction::Inbound),
                stats_id: i.common.id,
                bytes: i.bytes_received,
                packets: i.packets_received,
                packets_lost: i.common.packets_lost,
                nacks: i.common.nack_count,
                plis: i.common.pli_count,
                firs: i.common.fir_count,
                fraction_lost: i.common.fraction_lost,
                jitter_seconds: i.jitter,
                round_trip_seconds: None,
                remb_bps: i.common.remb,
                target_bitrate_bps: None,
            }),
            StatsEntry::Outbound(o) => reading.streams.push(RtpStream {
                media,
                direction: Some(Direction::Outbound),
                stats_id: o.common.id,
                bytes: o.bytes_sent,
                packets: o.packets_sent,
                packets_lost: o.common.packets_lost,
                nacks: o.common.nack_count,
                plis: o.common.pli_count,
                firs: o.common.fir_count,
                fraction_lost: o.common.fraction_lost,
                jitter_seconds: None,
                round_trip_seconds: o.round_trip_time,
                remb_bps: o.common.remb,
                target_bitrate_bps: o.target_bitrate,
            }),
            StatsEntry::Latency { e2e, input } => {
                let seconds = |list: Vec<stats::Latency>| {
                    list.into_iter()
                        .filter_map(|l| Some((Media::from_kms(&l.media)?, l.avg_ns / 1e9)))
                        .filter(|(m, _)| media.is_none_or(|asked| asked == *m))
                        .collect::<Vec<_>>()
                };
                reading.e2e_latency.extend(seconds(e2e));
                reading.input_latency.extend(seconds(input));
            }
            StatsEntry::Other => {}
        }
    }
}

/// Builds an element's reading from the outcome of each of its planned reads. Returns the
/// reading and whether all its stats reads succeeded (only then may the counters treat a
/// missing stream as gone).
pub fn reading_of(
    target: &Target,
    results: impl IntoIterator<Item = (Read, OpOutcome<Answer>)>,
    memory: &mut Memory,
) -> (ElementReading, bool) {
    let mut reading = ElementReading {
        id: Arc::clone(&target.id),
        element_type: target.element_type.clone(),
        scope: target.scope.clone(),
        ..ElementReading::default()
    };
    let mut stats_complete = true;
    for (read, outcome) in results {
        let Some(Ok(answer)) = outcome else {
            if matches!(read, Read::Stats(_)) {
                stats_complete = false;
            }
            continue;
        };
        if let Some(digest) = answer.digest() {
            memory.remember(Arc::clone(&target.id), read, digest, answer.clone());
        }
        match (read, answer) {
            (Read::Stats(media), Answer::Stats(entries)) => add_stats(&mut reading, media, entries),
            (Read::FlowingIn(m), Answer::Flag(flag)) => reading.flowing_in[m as usize] = flag,
            (Read::FlowingOut(m), Answer::Flag(flag)) => reading.flowing_out[m as usize] = flag,
            (Read::Transcoding(m), Answer::Flag(flag)) => reading.transcoding[m as usize] = flag,
            (Read::MediaState, Answer::Connectivity(state)) => reading.media_state = state,
            (Read::ConnectionState, Answer::Connectivity(state)) => {
                reading.connection_state = state
            }
            (Read::IceStates, Answer::Ice(state)) => reading.ice_state = Some(state),
            (Read::CandidatePairs, Answer::CandidatePairs { pairs, .. }) => {
                reading.selected_candidate = selected_candidate(&pairs);
                reading.selected_pairs = pairs;
            }
            (Read::UriState, Answer::Uri(state)) => reading.uri_state = state,
            (Read::SinkConnections, Answer::Sinks { sinks, .. }) => reading.sinks = Some(sinks),
            // The decoder answers each read with its own kind: nothing else can come.
            _ => {}
        }
    }
    // Kept until the next cycle (topology): no slack from growing.
    reading.streams.shrink_to_fit();
    (reading, stats_complete)
}

/// The shared copies of the ids of a cycle's targets, so that the sink connections pointing at
/// an element hold its id instead of copies of it.
pub struct SharedIds<'a>(HashMap<&'a str, &'a Arc<str>>);

impl<'a> SharedIds<'a> {
    pub fn of(targets: &'a [Target]) -> Self {
        SharedIds(targets.iter().map(|t| (&*t.id, &t.id)).collect())
    }

    /// The shared copy of `id`, or a new one for an id outside the targets.
    pub fn get(&self, id: &str) -> Arc<str> {
        self.0
            .get(id)
            .map_or_else(|| Arc::from(id), |shared| Arc::clone(shared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Scope;

    /// A WebRTC endpoint `p/e` to read.
    fn endpoint() -> Target {
        Target {
            id: Arc::from("p/e"),
            element_type: "WebRtcEndpoint".to_owned(),
            scope: Scope::default(),
        }
    }

    /// A decoder of `reads` of `target`, with no shared ids.
    fn decoder_of<'a>(
        target: &'a Target,
        reads: impl IntoIterator<Item = Read>,
        ids: &'a SharedIds<'a>,
        previous: &'a Memory,
    ) -> AnswerDecoder<'a> {
        AnswerDecoder {
            ops: reads.into_iter().map(|read| (read, &target.id)).collect(),
            ids,
            previous,
        }
    }

    #[test]
    fn the_most_indirect_candidate_wins() {
        use CandidateType::*;
        let pair = |l, r| SelectedPair {
            local: Some(l),
            remote: Some(r),
            local_address: None,
            remote_address: None,
        };
        assert_eq!(selected_candidate(&[pair(Host, Host)]), Some(Host));
        assert_eq!(selected_candidate(&[pair(Host, Srflx)]), Some(Srflx));
        assert_eq!(
            selected_candidate(&[pair(Host, Host), pair(Relay, Host)]),
            Some(Relay)
        );
        assert_eq!(selected_candidate(&[]), None);
    }

    #[test]
    fn decodes_an_endpoint_with_units_and_media_from_the_request() {
        let audio = r#"{"i":{"type":"inboundrtp","id":"i","bytesReceived":100,"packetsReceived":10,
                "packetsLost":-1,"jitter":0.002,"fractionLost":64,"ssrc":"1"},
              "E":{"type":"endpoint","id":"E","E2ELatency":[{"type":"AUDIO","avg":20000000.0},{"type":"VIDEO","avg":1.0}],
                "inputLatency":[]}}"#;
        let video = r#"{"o":{"type":"outboundrtp","id":"o","bytesSent":900,"packetsSent":30,
                "roundTripTime":0.05,"targetBitrate":800000,"remb":1000000,"ssrc":"2"}}"#;
        let target = endpoint();
        let answers = [
            (Read::Stats(Some(Media::Audio)), audio),
            (Read::Stats(Some(Media::Video)), video),
            (Read::FlowingIn(Media::Video), "true"),
            (Read::MediaState, r#""CONNECTED""#),
            (Read::IceStates, r#"[{"state": "READY"}]"#),
            (
                Read::SinkConnections,
                r#"[{"source":"p/e","sink":"p/f","type":"AUDIO"}]"#,
            ),
        ];
        let no_ids = SharedIds::of(&[]);
        let nothing_before = Memory::default();
        let reads = answers.iter().map(|(read, _)| *read);
        let decoder = decoder_of(&target, reads, &no_ids, &nothing_before);
        // Decoded in the one pass over a reply and from the answer's own text alike.
        let decoded: Vec<(Read, OpOutcome<Answer>)> = answers
            .iter()
            .enumerate()
            .map(|(index, (read, text))| {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                let one_pass = decoder.decode(index, &mut deserializer).unwrap();
                let raw = RawValue::from_string((*text).to_owned()).unwrap();
                assert_eq!(one_pass, decoder.decode_text(index, &raw), "{text}");
                (*read, Some(Ok(one_pass)))
            })
            .collect();
        let mut memory = Memory::default();
        let (reading, complete) = reading_of(&target, decoded, &mut memory);
        assert!(complete);
        assert_eq!(reading.streams.len(), 2);
        let inbound = reading
            .streams
            .iter()
            .find(|s| s.direction == Some(Direction::Inbound))
            .unwrap();
        assert_eq!(inbound.media, Some(Media::Audio));
        assert_eq!(inbound.packets_lost, -1);
        let outbound = reading
            .streams
            .iter()
            .find(|s| s.direction == Some(Direction::Outbound))
            .unwrap();
        assert_eq!(outbound.media, Some(Media::Video));
        assert_eq!(outbound.remb_bps, 1_000_000);
        // Only the latency of the media asked for, in seconds.
        assert_eq!(reading.e2e_latency, vec![(Media::Audio, 0.02)]);
        assert_eq!(reading.flowing_in, [None, Some(true)]);
        assert_eq!(reading.media_state, Some(Connectivity::Connected));
        assert_eq!(reading.ice_state, Some(IceState::Ready));

        assert_eq!(reading.sinks.as_ref().map(|s| s.len()), Some(1));

        let failed = Some(Err(crate::kurento::protocol::RpcError::kms(40001, "boom")));
        let (_, complete) = reading_of(
            &target,
            [(Read::Stats(Some(Media::Audio)), failed)],
            &mut memory,
        );
        assert!(!complete, "a failed stats read leaves the counters alone");
    }

    #[test]
    fn a_list_entry_of_the_wrong_shape_fails_one_pass_and_reads_as_empty() {
        let target = endpoint();
        let no_ids = SharedIds::of(&[]);
        let nothing_before = Memory::default();
        let decoder = decoder_of(&target, [Read::SinkConnections], &no_ids, &nothing_before);
        // A member twice in one entry: serde refuses the entry.
        let text = r#"[{"source":"p/e","sink":"p/f","sink":"p/g"}]"#;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        assert!(decoder.decode(0, &mut deserializer).is_err());
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        let Answer::Sinks { sinks, .. } = decoder.decode_text(0, &raw) else {
            panic!("not sinks")
        };
        assert!(sinks.is_empty());
    }

    #[test]
    fn remembered_reads_answered_as_before_are_not_decoded_again() {
        let target = endpoint();
        let no_ids = SharedIds::of(&[]);
        // One cycle: both remembered reads of the endpoint, answered `sinks` and `pairs`.
        let cycle = |previous: &Memory, sinks: &str, pairs: &str| {
            let answers = [
                (Read::SinkConnections, sinks),
                (Read::CandidatePairs, pairs),
            ];
            let decoder = decoder_of(&target, answers.map(|(read, _)| read), &no_ids, previous);
            let outcomes = answers.iter().enumerate().map(|(index, (read, text))| {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                (
                    *read,
                    Some(Ok(decoder.decode(index, &mut deserializer).unwrap())),
                )
            });
            let mut memory = Memory::default();
            let (reading, _) = reading_of(&target, outcomes.collect::<Vec<_>>(), &mut memory);
            (reading, memory)
        };
        let sinks = r#"[{"source":"p/e","sink":"p/f","type":"AUDIO"}]"#;
        let pairs = r#"[{"localCandidate":"candidate:1 1 UDP 1 127.0.0.1 5000 typ host",
            "remoteCandidate":"candidate:2 1 UDP 1 203.0.113.7 6000 typ srflx"}]"#;
        let (first, memory) = cycle(&Memory::default(), sinks, pairs);
        let (again, memory) = cycle(&memory, sinks, pairs);
        let (first_sinks, again_sinks) = (first.sinks.unwrap(), again.sinks.unwrap());
        assert!(
            Arc::ptr_eq(&first_sinks, &again_sinks),
            "the same connections, shared"
        );
        assert!(Arc::ptr_eq(&first.selected_pairs, &again.selected_pairs));
        assert_eq!(again.selected_candidate, Some(CandidateType::Srflx));

        let changed_sinks = r#"[{"source":"p/e","sink":"p/g","type":"AUDIO"}]"#;
        let changed_pairs = pairs.replace("srflx", "relay");
        let (changed, _) = cycle(&memory, changed_sinks, &changed_pairs);
        let changed_sinks = changed.sinks.unwrap();
        assert_eq!(changed_sinks.len(), 1);
        assert_eq!(&*changed_sinks[0].sink, "p/g");
        assert_eq!(changed.selected_candidate, Some(CandidateType::Relay));
        assert_eq!(
            changed.selected_pairs[0].remote_address.as_deref(),
            Some("203.0.113.7:6000")
        );
    }
}
