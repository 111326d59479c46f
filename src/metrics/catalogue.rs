//! Every metric the exporter serves: name, type, unit, labels, help and KMS source. The collector
//! renders from these definitions and the README's metrics reference is checked against them, so
//! the documentation cannot drift from the code.

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Info,
}

impl Kind {
    /// The type as the README's metric table spells it.
    #[cfg(test)]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Info => "info",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The name without the unit and without the `_total` / `_info` type suffix.
    pub family: &'static str,
    /// The base unit, also the name's suffix (OpenMetrics `# UNIT`).
    pub unit: Option<&'static str>,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// Where the value comes from: a KMS call/field, or `exporter` for self-observation.
    pub source: &'static str,
    /// At `pipeline` / `element` detail the family also carries `pipeline` (and `element`,
    /// `element_type`) labels.
    pub detail: bool,
}

impl MetricDef {
    /// The name samples carry in the classic text format (and the name users query).
    #[cfg(test)]
    pub fn exposed_name(&self) -> String {
        let mut name = self.family.to_owned();
        if let Some(unit) = self.unit {
            name.push('_');
            name.push_str(unit);
        }
        match self.kind {
            Kind::Counter => name.push_str("_total"),
            Kind::Info => name.push_str("_info"),
            Kind::Gauge | Kind::Histogram => {}
        }
        name
    }

    /// HELP text: what it is, where it comes from, and that it is cached from the last poll.
    pub fn help_text(&self) -> String {
        if self.source == "exporter" {
            self.help.to_owned()
        } else {
            format!(
                "{} Source: KMS {}. Cached from the last poll.",
                self.help, self.source
            )
        }
    }
}

pub const BUILD_INFO: MetricDef = MetricDef {
    family: "kurento_exporter_build",
    unit: None,
    kind: Kind::Info,
    labels: &["version", "revision"],
    help: "Build of the running kurento_exporter; always 1.",
    source: "exporter",
    detail: false,
};
pub const CONFIG_RELOAD_SUCCESSFUL: MetricDef = MetricDef {
    family: "kurento_exporter_config_last_reload_successful",
    unit: None,
    kind: Kind::Gauge,
    labels: &[],
    help: "1 if the last configuration reload (SIGHUP, POST /-/reload; the start counts as one) succeeded, else 0 (the previous configuration stays in force).",
    source: "exporter",
    detail: false,
};
pub const CONFIG_RELOAD_SUCCESS_TIME: MetricDef = MetricDef {
    family: "kurento_exporter_config_last_reload_success_timestamp",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &[],
    help: "Unix time of the last successful configuration load (the start or a reload).",
    source: "exporter",
    detail: false,
};
pub const TARGETS: MetricDef = MetricDef {
    family: "kurento_exporter_targets",
    unit: None,
    kind: Kind::Gauge,
    labels: &["source"],
    help: "KMS targets watched, by where they came from (config, file, dns, probe).",
    source: "exporter",
    detail: false,
};
pub const UP: MetricDef = MetricDef {
    family: "kurento_up",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "1 if the last poll cycle of this KMS succeeded, else 0.",
    source: "exporter",
    detail: false,
};
pub const HEALTH_PROBE_SUCCESS: MetricDef = MetricDef {
    family: "kurento_health_probe_success",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "1 if the last deep health check (create a pipeline and a WebRtcEndpoint, generateOffer, release) succeeded within its timeout, else 0. Only for targets with health_probe enabled.",
    source: "exporter",
    detail: false,
};
pub const HEALTH_PROBE_DURATION: MetricDef = MetricDef {
    family: "kurento_health_probe_duration",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Wall time of the last deep health check, from opening its socket to its verdict (the timeout when it timed out). Only for targets with health_probe enabled.",
    source: "exporter",
    detail: false,
};
pub const POLL_DURATION: MetricDef = MetricDef {
    family: "kurento_exporter_poll_duration",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Wall time of the last finished poll cycle.",
    source: "exporter",
    detail: false,
};
pub const LAST_POLL_SUCCESS: MetricDef = MetricDef {
    family: "kurento_exporter_last_poll_success_timestamp",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Unix time when the last successful poll cycle finished.",
    source: "exporter",
    detail: false,
};
pub const POLL_ERRORS: MetricDef = MetricDef {
    family: "kurento_exporter_poll_errors",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "reason"],
    help: "Failed poll cycles and failed reads, by reason (connect, timeout, disconnected, overloaded, kms_error, decode, internal).",
    source: "exporter",
    detail: false,
};
pub const READ_ERRORS: MetricDef = MetricDef {
    family: "kurento_exporter_read_errors",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "read"],
    help: "Failed reads by KMS operation (getUsedCpu, getStats, transaction, ...), so one failing read is told apart from a silent KMS.",
    source: "exporter",
    detail: false,
};
pub const KMS_REQUESTS: MetricDef = MetricDef {
    family: "kurento_exporter_kms_requests",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms"],
    help: "JSON-RPC requests sent to this KMS, pings included (the exporter's observer effect).",
    source: "exporter",
    detail: false,
};
pub const SERVER_INFO: MetricDef = MetricDef {
    family: "kurento_server",
    unit: None,
    kind: Kind::Info,
    labels: &["kms", "version"],
    help: "KMS version; always 1.",
    source: "ServerManager.getInfo version",
    detail: false,
};
pub const SERVER_RESTARTS: MetricDef = MetricDef {
    family: "kurento_server_restarts",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms"],
    help: "KMS restarts seen by the exporter (changes of serverId).",
    source: "connect serverId",
    detail: false,
};
pub const SERVER_CPU_COUNT: MetricDef = MetricDef {
    family: "kurento_server_cpus",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "CPUs available to the KMS process.",
    source: "ServerManager.getCpuCount",
    detail: false,
};
pub const SERVER_CPU_USAGE: MetricDef = MetricDef {
    family: "kurento_server_cpu_usage",
    unit: Some("ratio"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "CPU used by the KMS process as a ratio of all its CPUs: getUsedCpu / (100 * getCpuCount).",
    source: "ServerManager.getUsedCpu",
    detail: false,
};
pub const SERVER_MEMORY: MetricDef = MetricDef {
    family: "kurento_server_memory_resident",
    unit: Some("bytes"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Resident memory of the KMS process (getUsedMemory KiB * 1024).",
    source: "ServerManager.getUsedMemory",
    detail: false,
};
pub const SERVER_SESSIONS: MetricDef = MetricDef {
    family: "kurento_server_sessions",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Distinct client sessions holding objects, not counting the exporter's own.",
    source: "ServerManager.getSessions",
    detail: false,
};
pub const PIPELINES: MetricDef = MetricDef {
    family: "kurento_pipelines",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Media pipelines alive.",
    source: "getPipelines and ObjectCreated/ObjectDestroyed",
    detail: false,
};
pub const ELEMENTS: MetricDef = MetricDef {
    family: "kurento_elements",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "element_type"],
    help: "Objects inside pipelines by class (endpoints, filters, hubs, hub ports).",
    source: "getChildren and ObjectCreated/ObjectDestroyed",
    detail: false,
};
pub const OBJECTS_CREATED: MetricDef = MetricDef {
    family: "kurento_objects_created",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "element_type"],
    help: "Objects created (pipelines included) since the exporter started watching.",
    source: "ServerManager ObjectCreated events",
    detail: false,
};
pub const OBJECTS_DESTROYED: MetricDef = MetricDef {
    family: "kurento_objects_destroyed",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "element_type"],
    help: "Objects destroyed (pipelines included) since the exporter started watching.",
    source: "ServerManager ObjectDestroyed events",
    detail: false,
};
pub const PIPELINE_ELEMENTS: MetricDef = MetricDef {
    family: "kurento_pipeline_elements",
    unit: None,
    kind: Kind::Histogram,
    labels: &["kms"],
    help: "Distribution of live pipelines by number of objects inside (participants per meeting); describes the current population, query without rate().",
    source: "getChildren and ObjectCreated/ObjectDestroyed",
    detail: false,
};
pub const PIPELINE_AGE: MetricDef = MetricDef {
    family: "kurento_pipeline_age",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms"],
    help: "Distribution of live pipelines by age; describes the current population, query without rate().",
    source: "MediaPipeline.getCreationTime",
    detail: false,
};

macro_rules! rtp_counter {
    ($name:ident, $family:literal, $unit:expr, $help:literal, $source:literal) => {
        pub const $name: MetricDef = MetricDef {
            family: $family,
            unit: $unit,
            kind: Kind::Counter,
            labels: &["kms", "media", "direction"],
            help: $help,
            source: $source,
            detail: true,
        };
    };
}

rtp_counter!(
    RTP_BYTES,
    "kurento_rtp",
    Some("bytes"),
    "RTP payload bytes received (inbound) and sent (outbound) by KMS, monotonic across endpoints that come and go.",
    "getStats bytesReceived/bytesSent"
);
rtp_counter!(
    RTP_PACKETS,
    "kurento_rtp_packets",
    None,
    "RTP packets received (inbound) and sent (outbound) by KMS.",
    "getStats packetsReceived/packetsSent"
);
rtp_counter!(
    RTP_PACKETS_LOST,
    "kurento_rtp_packets_lost",
    None,
    "RTP packets lost: inbound as counted by KMS, outbound as reported by the peer (growth of the cumulative packetsLost; dips are not counted).",
    "getStats packetsLost"
);
rtp_counter!(
    RTP_NACKS,
    "kurento_rtp_nacks",
    None,
    "NACKs: inbound sent by KMS, outbound received from the peer (KMS reports the RTP session count on every SSRC of that session).",
    "getStats nackCount"
);
rtp_counter!(
    RTP_PLIS,
    "kurento_rtp_plis",
    None,
    "Picture loss indications: inbound sent by KMS, outbound received from the peer.",
    "getStats pliCount"
);
rtp_counter!(
    RTP_FIRS,
    "kurento_rtp_firs",
    None,
    "Full intra requests: inbound sent by KMS, outbound received from the peer.",
    "getStats firCount"
);

pub const RTP_JITTER: MetricDef = MetricDef {
    family: "kurento_rtp_jitter",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "Interarrival jitter of live inbound RTP streams.",
    source: "getStats jitter (inboundrtp)",
    detail: false,
};
pub const RTP_RTT: MetricDef = MetricDef {
    family: "kurento_rtp_round_trip_time",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "Round-trip time of live outbound RTP streams (streams without a receiver report yet are left out).",
    source: "getStats roundTripTime (outboundrtp)",
    detail: false,
};
pub const RTP_FRACTION_LOST: MetricDef = MetricDef {
    family: "kurento_rtp_fraction_lost",
    unit: Some("ratio"),
    kind: Kind::Histogram,
    labels: &["kms", "media", "direction"],
    help: "Fraction of packets lost in the last RTCP interval of live streams (fractionLost / 256).",
    source: "getStats fractionLost",
    detail: false,
};
pub const RTP_REMB: MetricDef = MetricDef {
    family: "kurento_rtp_remb",
    unit: Some("bytes_per_second"),
    kind: Kind::Histogram,
    labels: &["kms", "media", "direction"],
    help: "REMB bandwidth estimates of live video streams: inbound announced by KMS, outbound received from the peer (remb bps / 8; zero estimates left out).",
    source: "getStats remb",
    detail: false,
};
pub const RTP_TARGET_RATE: MetricDef = MetricDef {
    family: "kurento_rtp_target_send_rate",
    unit: Some("bytes_per_second"),
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "Estimated send bitrate of live outbound streams (targetBitrate bps / 8).",
    source: "getStats targetBitrate (outboundrtp)",
    detail: false,
};
pub const E2E_LATENCY: MetricDef = MetricDef {
    family: "kurento_e2e_latency",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "End-to-end latency through KMS per endpoint, only where the application enabled latency stats on the pipeline (ns converted).",
    source: "getStats E2ELatency (6.x audioE2ELatency/videoE2ELatency)",
    detail: false,
};
pub const INPUT_LATENCY: MetricDef = MetricDef {
    family: "kurento_element_input_latency",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "Input latency per element, only where the application enabled latency stats on the pipeline (ns converted).",
    source: "getStats inputLatency (6.x inputAudioLatency/inputVideoLatency)",
    detail: false,
};
pub const RTP_QUALITY_MOS: MetricDef = MetricDef {
    family: "kurento_rtp_quality_mos",
    unit: None,
    kind: Kind::Histogram,
    labels: &["kms", "media"],
    help: "Estimated MOS (1 to 4.5) of live RTP streams with a loss figure, from the simplified ITU-T G.107 E-model over RTT, jitter and fraction lost (inbound and outbound; README Call quality).",
    source: "getStats fractionLost, jitter, roundTripTime",
    detail: false,
};
pub const MEDIA_FLOWING: MetricDef = MetricDef {
    family: "kurento_media_flowing_elements",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "media", "direction"],
    help: "Media elements with media flowing, named from the pipeline's side as KMS does: in = media arriving from the pipeline at the element's sink (a subscriber's WebRTC endpoint, a recorder); out = media the element pushes into the pipeline (a publisher's WebRTC endpoint, a player).",
    source: "MediaElement.isMediaFlowingIn/isMediaFlowingOut",
    detail: true,
};
pub const TRANSCODING: MetricDef = MetricDef {
    family: "kurento_transcoding_elements",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "media"],
    help: "Media elements transcoding (decoding and re-encoding: CPU heavy).",
    source: "MediaElement.isMediaTranscoding",
    detail: true,
};
pub const TRANSCODING_TRANSITIONS: MetricDef = MetricDef {
    family: "kurento_transcoding_transitions",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "media"],
    help: "Elements seen starting to transcode between polls (elements already transcoding when the exporter connects are not counted).",
    source: "MediaElement.isMediaTranscoding",
    detail: false,
};
pub const RTP_MEDIA_STATE: MetricDef = MetricDef {
    family: "kurento_rtp_endpoints_media_state",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "state"],
    help: "RTP/WebRTC endpoints by media state (connected while RTCP flows).",
    source: "BaseRtpEndpoint.getMediaState",
    detail: true,
};
pub const RTP_CONNECTION_STATE: MetricDef = MetricDef {
    family: "kurento_rtp_endpoints_connection_state",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "state"],
    help: "RTP/WebRTC endpoints by connection state.",
    source: "BaseRtpEndpoint.getConnectionState",
    detail: true,
};
pub const ICE_STATE: MetricDef = MetricDef {
    family: "kurento_webrtc_endpoints_ice_state",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "state"],
    help: "WebRTC endpoints by ICE state: failed if any component failed, else the least advanced component; new before ICE starts.",
    source: "WebRtcEndpoint.getIceConnectionState",
    detail: true,
};
pub const SELECTED_CANDIDATES: MetricDef = MetricDef {
    family: "kurento_webrtc_selected_candidates",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "candidate_type"],
    help: "WebRTC endpoints with a selected ICE pair, each counted once by the most indirect side: relay if either candidate is relay (the TURN share), else srflx/prflx, else host.",
    source: "WebRtcEndpoint.getICECandidatePairs",
    detail: true,
};
pub const WEBRTC_SENDING: MetricDef = MetricDef {
    family: "kurento_webrtc_endpoints_sending",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "media"],
    help: "WebRTC endpoints whose peer sends media to KMS (publishers: KMS reports their media flowing out, into the pipeline).",
    source: "WebRtcEndpoint.isMediaFlowingOut",
    detail: true,
};
pub const WEBRTC_RECEIVING: MetricDef = MetricDef {
    family: "kurento_webrtc_endpoints_receiving",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "media"],
    help: "WebRTC endpoints whose peer receives media from KMS (subscribers: KMS reports their media flowing in, from the pipeline).",
    source: "WebRtcEndpoint.isMediaFlowingIn",
    detail: true,
};
pub const URI_ENDPOINTS: MetricDef = MetricDef {
    family: "kurento_uri_endpoints",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "element_type", "state"],
    help: "Players and recorders by state (start, pause, stop).",
    source: "UriEndpoint.getState",
    detail: false,
};
pub const SERIES_DROPPED: MetricDef = MetricDef {
    family: "kurento_exporter_series_dropped",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms"],
    help: "Pipelines or elements whose detail series were folded into the remainder series (empty labels) because of metrics.max_series, counted once per poll cycle.",
    source: "exporter",
    detail: false,
};
pub const ZOMBIE_PIPELINES: MetricDef = MetricDef {
    family: "kurento_zombie_pipelines",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "reason"],
    help: "Zombie (leaked) pipelines: a condition (empty, ice_failed, disconnected, no_media, max_age) held for zombie.idle_after; each pipeline counted once under its first reason, so sum() is the number of zombie pipelines.",
    source: "getChildren, getIceConnectionState, getMediaState, isMediaFlowingIn/Out, getCreationTime over successive polls",
    detail: false,
};
pub const ZOMBIE_ELEMENTS: MetricDef = MetricDef {
    family: "kurento_zombie_elements",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "element_type", "reason"],
    help: "Zombie media elements: the same conditions applied to the element alone (ice_failed, disconnected, no_media) plus unconnected (no source and no sink connections), held for zombie.idle_after.",
    source: "getIceConnectionState, getMediaState, isMediaFlowingIn/Out, getSourceConnections, getSinkConnections over successive polls",
    detail: false,
};

/// The exporter's own process (`metrics::process`), named as every client library names it.
pub const PROCESS_CPU: MetricDef = MetricDef {
    family: "process_cpu",
    unit: Some("seconds"),
    kind: Kind::Counter,
    labels: &[],
    help: "User and system CPU time spent by the exporter process.",
    source: "exporter",
    detail: false,
};
pub const PROCESS_RESIDENT_MEMORY: MetricDef = MetricDef {
    family: "process_resident_memory",
    unit: Some("bytes"),
    kind: Kind::Gauge,
    labels: &[],
    help: "Resident memory of the exporter process.",
    source: "exporter",
    detail: false,
};
pub const PROCESS_VIRTUAL_MEMORY: MetricDef = MetricDef {
    family: "process_virtual_memory",
    unit: Some("bytes"),
    kind: Kind::Gauge,
    labels: &[],
    help: "Virtual memory size of the exporter process.",
    source: "exporter",
    detail: false,
};
pub const PROCESS_OPEN_FDS: MetricDef = MetricDef {
    family: "process_open_fds",
    unit: None,
    kind: Kind::Gauge,
    labels: &[],
    help: "Open file descriptors of the exporter process (KMS sockets and HTTP connections included).",
    source: "exporter",
    detail: false,
};
pub const PROCESS_MAX_FDS: MetricDef = MetricDef {
    family: "process_max_fds",
    unit: None,
    kind: Kind::Gauge,
    labels: &[],
    help: "The soft limit on open file descriptors of the exporter process (absent when unlimited).",
    source: "exporter",
    detail: false,
};
pub const PROCESS_START_TIME: MetricDef = MetricDef {
    family: "process_start_time",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &[],
    help: "Unix time the exporter process started.",
    source: "exporter",
    detail: false,
};
pub const PROCESS_THREADS: MetricDef = MetricDef {
    family: "process_threads",
    unit: None,
    kind: Kind::Gauge,
    labels: &[],
    help: "Threads of the exporter process.",
    source: "exporter",
    detail: false,
};
pub const RENDER_DURATION: MetricDef = MetricDef {
    family: "kurento_exporter_render_duration",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["format"],
    help: "Time taken to render the exposition, by format (openmetrics, text); scrapes served from the render cache take no render.",
    source: "exporter",
    detail: false,
};

/// Every family, in exposition order (the README check walks it).
#[cfg(test)]
pub const ALL: &[MetricDef] = &[
    BUILD_INFO,
    CONFIG_RELOAD_SUCCESSFUL,
    CONFIG_RELOAD_SUCCESS_TIME,
    TARGETS,
    UP,
    HEALTH_PROBE_SUCCESS,
    HEALTH_PROBE_DURATION,
    POLL_DURATION,
    LAST_POLL_SUCCESS,
    POLL_ERRORS,
    READ_ERRORS,
    KMS_REQUESTS,
    SERVER_INFO,
    SERVER_RESTARTS,
    SERVER_CPU_COUNT,
    SERVER_CPU_USAGE,
    SERVER_MEMORY,
    SERVER_SESSIONS,
    PIPELINES,
    ELEMENTS,
    OBJECTS_CREATED,
    OBJECTS_DESTROYED,
    PIPELINE_ELEMENTS,
    PIPELINE_AGE,
    RTP_BYTES,
    RTP_PACKETS,
    RTP_PACKETS_LOST,
    RTP_NACKS,
    RTP_PLIS,
    RTP_FIRS,
    RTP_JITTER,
    RTP_RTT,
    RTP_FRACTION_LOST,
    RTP_REMB,
    RTP_TARGET_RATE,
    E2E_LATENCY,
    INPUT_LATENCY,
    RTP_QUALITY_MOS,
    MEDIA_FLOWING,
    TRANSCODING,
    TRANSCODING_TRANSITIONS,
    RTP_MEDIA_STATE,
    RTP_CONNECTION_STATE,
    ICE_STATE,
    SELECTED_CANDIDATES,
    WEBRTC_SENDING,
    WEBRTC_RECEIVING,
    URI_ENDPOINTS,
    SERIES_DROPPED,
    ZOMBIE_PIPELINES,
    ZOMBIE_ELEMENTS,
    PROCESS_CPU,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_VIRTUAL_MEMORY,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
    PROCESS_START_TIME,
    PROCESS_THREADS,
    RENDER_DURATION,
];

/// Bucket bounds of the render duration histogram (seconds).
pub const RENDER_DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Bucket bounds of the jitter histogram (seconds).
pub const JITTER_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5];
/// Bucket bounds of the round-trip time histogram (seconds).
pub const RTT_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0];
/// Bucket bounds of the fraction lost histogram (ratio; 0 = lossless).
pub const FRACTION_LOST_BUCKETS: &[f64] = &[0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
/// Bucket bounds of the bandwidth histograms (bytes/s: 32 kbps to 8 Mbps).
pub const RATE_BUCKETS: &[f64] = &[
    4_000.0,
    8_000.0,
    16_000.0,
    32_000.0,
    64_000.0,
    125_000.0,
    250_000.0,
    500_000.0,
    1_000_000.0,
];
/// Bucket bounds of the latency histograms (seconds).
pub const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];

/// Bucket bounds of the MOS histogram: half points up to 4, then 4.3 (the best a real path
/// reaches, 4.41, lands above it) and 4.5, the scale's top.
pub const MOS_BUCKETS: &[f64] = &[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.3, 4.5];

/// Bucket bounds of `kurento_pipeline_elements`.
pub const PIPELINE_ELEMENTS_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0,
];
/// Bucket bounds of `kurento_pipeline_age_seconds`: a minute to a week.
pub const PIPELINE_AGE_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0, 604800.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for def in ALL {
            let name = def.exposed_name();
            // The process families keep the names every client library gives them.
            assert!(
                name.starts_with("kurento_") || name.starts_with("process_"),
                "{name}"
            );
            assert!(seen.insert(name.clone()), "duplicate {name}");
            assert!(
                !def.labels.contains(&"type"),
                "{name} has a label named type"
            );
            assert!(!def.labels.contains(&"instance"), "{name} uses instance");
            // The exporter's process-wide families describe no KMS; every other one does.
            let process_wide = [
                BUILD_INFO.family,
                CONFIG_RELOAD_SUCCESSFUL.family,
                CONFIG_RELOAD_SUCCESS_TIME.family,
                TARGETS.family,
                RENDER_DURATION.family,
            ];
            if !process_wide.contains(&def.family) && !name.starts_with("process_") {
                assert_eq!(def.labels.first(), Some(&"kms"), "{name} lacks kms");
            }
            if let Some(unit) = def.unit {
                assert!(
                    ["seconds", "bytes", "ratio", "bytes_per_second"].contains(&unit),
                    "{name}"
                );
            }
            // prometheus-client 0.26's OpenMetrics encoder writes HELP unescaped (see
            // metrics::family's tests): a HELP text must need no escaping in either format.
            assert!(
                !def.help_text().contains(['"', '\\', '\n']),
                "{name}: a quote, backslash or newline in HELP"
            );
        }
        assert_eq!(
            SERVER_CPU_USAGE.exposed_name(),
            "kurento_server_cpu_usage_ratio"
        );
        assert_eq!(
            OBJECTS_CREATED.exposed_name(),
            "kurento_objects_created_total"
        );
        assert_eq!(SERVER_INFO.exposed_name(), "kurento_server_info");
    }

    /// The README's metrics reference lists every family with its type and labels, and nothing
    /// that does not exist.
    #[test]
    fn readme_documents_every_metric() {
        let readme = include_str!("../../README.md");
        for def in ALL {
            let kind = match def.kind {
                Kind::Info => "gauge (info)",
                other => other.as_str(),
            };
            let labels: Vec<String> = def.labels.iter().map(|l| format!("`{l}`")).collect();
            let detail = if def.detail { " + detail" } else { "" };
            let row = format!(
                "| `{}` | {kind} | {}{detail} |",
                def.exposed_name(),
                labels.join(", ")
            );
            assert!(readme.contains(&row), "README lacks the row starting {row}");
        }
        let section = readme
            .split("## Metrics reference")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("a Metrics reference section");
        let documented = section
            .lines()
            .filter(|l| l.starts_with("| `kurento_") || l.starts_with("| `process_"))
            .count();
        assert_eq!(
            documented,
            ALL.len(),
            "README documents metrics the code does not serve"
        );
    }
}
