#!/usr/bin/env python3
"""Writes the Grafana dashboards of kurento_exporter (dashboards/*.json).

The JSON files are the product; this script keeps them consistent (same variables, same
selectors, a unit and a description on every panel). Edit here, run `python3 dashboards/generate.py`,
commit both. tests/ops_static.rs lints the JSON whichever way it was edited.
"""
import json
import os

SEL = 'job=~"$job", kms=~"$kms"'
DS = {"type": "prometheus", "uid": "${datasource}"}


def s(extra=""):
    """The selector every query uses: job and kms variables, plus extra matchers."""
    return "{" + SEL + (", " + extra if extra else "") + "}"


def panel(title, desc, unit, targets, kind="timeseries", w=12, h=8, stack=False, extra=None):
    p = {
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65 + i)}
            for i, (e, l) in enumerate(targets)
        ],
        "_w": w,
        "_h": h,
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "stacking": {"mode": "normal" if stack else "none"},
        }
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi"}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    if kind == "table":
        for t in p["targets"]:
            t["instant"] = True
            t["format"] = "table"
    if extra:
        p.update(extra)
    if any("{{kms}}" in l for _, l in targets):
        # From a KMS's series to the exporter's inspection page of that KMS (README
        # "Inspection page"): its pipelines, zombies and worst streams, one click further the
        # pipeline's graph.
        p["fieldConfig"]["defaults"]["links"] = [{
            "title": "Open ${__field.labels.kms} in the inspection page",
            "url": "${exporter}/ui/#/kms/${__field.labels.kms}",
            "targetBlank": True,
        }]
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def layout(items):
    """Places panels left to right, wrapping at 24 columns; assigns ids."""
    x = y = rowh = 0
    out = []
    for i, p in enumerate(items, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24 or p["type"] == "row":
            x, y = 0, y + rowh
            rowh = 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        rowh = max(rowh, h)
        out.append(p)
    return out


def templating(multi_kms=True):
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS,
         "query": {"query": "label_values(kurento_up, job)", "refId": "job"},
         "definition": "label_values(kurento_up, job)", "refresh": 2, "multi": True,
         "includeAll": True, "allValue": ".+", "current": {}, "sort": 1},
        {"name": "kms", "label": "KMS", "type": "query", "datasource": DS,
         "query": {"query": 'label_values(kurento_up{job=~"$job"}, kms)', "refId": "kms"},
         "definition": 'label_values(kurento_up{job=~"$job"}, kms)', "refresh": 2,
         "multi": multi_kms, "includeAll": multi_kms, "allValue": ".+", "current": {}, "sort": 1},
        {"name": "exporter", "label": "Exporter URL", "type": "textbox",
         "description": "Base URL of a kurento_exporter, for the links to its inspection page",
         "query": "http://localhost:9888", "current": {"text": "http://localhost:9888",
                                                        "value": "http://localhost:9888"},
         "hide": 0},
    ]}


def dashboard(uid, title, desc, panels, multi_kms=True):
    return {
        "uid": uid,
        "title": title,
        "description": desc,
        "tags": ["kurento", "kurento_exporter"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-3h", "to": "now"},
        "annotations": {"list": [{
            "name": "KMS restarts", "datasource": DS, "enable": True, "iconColor": "red",
            "expr": "changes(kurento_server_restarts_total" + s() + "[$__rate_interval]) > 0",
            "titleFormat": "KMS {{kms}} restarted"}]},
        "links": [{"title": "Kurento dashboards", "type": "dashboards", "tags": ["kurento"],
                   "asDropdown": True},
                  {"title": "Inspection page", "type": "link", "url": "${exporter}/ui/",
                   "targetBlank": True, "icon": "external link"}],
        "templating": templating(multi_kms),
        "panels": layout(panels),
    }


def q(metric, by="kms", fn="sum", extra=""):
    return f"{fn} by ({by}) ({metric}{s(extra)})"


def rate(metric, by="kms", extra="", fn="rate"):
    return f"sum by ({by}) ({fn}({metric}{s(extra)}[$__rate_interval]))"


def quantile(qv, metric, by="kms"):
    return f"histogram_quantile({qv}, sum by ({by}, le) ({metric}_bucket{s()}))"


fleet = dashboard("kurento-fleet", "Kurento / Fleet overview",
                  "Every KMS watched by kurento_exporter: health, load, objects, zombies, transcoding.", [
    row("Health"),
    panel("KMS up", "KMS whose last poll succeeded (kurento_up) out of those watched.", "short",
          [(f"sum(kurento_up{s()})", "up"), (f"count(kurento_up{s()})", "watched")], kind="stat", w=6, h=4),
    panel("Zombie pipelines", "Pipelines the exporter considers abandoned (kurento_zombie_pipelines), all KMS.", "short",
          [(f"sum(kurento_zombie_pipelines{s()})", "zombies")], kind="stat", w=6, h=4),
    panel("Transcoding elements", "Media elements transcoding now (kurento_transcoding_elements), all KMS.", "short",
          [(f"sum(kurento_transcoding_elements{s()})", "transcoding")], kind="stat", w=6, h=4),
    panel("Restarts", "KMS restarts (changes of serverId) seen over the last rate interval, all KMS.", "short",
          [(f"sum(increase(kurento_server_restarts_total{s()}[$__rate_interval]))", "restarts")], kind="stat", w=6, h=4),
    panel("Up by KMS", "1 when the last poll cycle of this KMS succeeded, 0 when KMS is down or unreachable.", "short",
          [(f"kurento_up{s()}", "{{kms}}")]),
    panel("Restarts by KMS", "KMS restarts (serverId changes) per interval.", "short",
          [(rate("kurento_server_restarts_total", fn="increase"), "{{kms}}")]),
    row("Load"),
    panel("CPU", "KMS process CPU as a share of all its CPUs (getUsedCpu / 100 / getCpuCount).", "percentunit",
          [(f"kurento_server_cpu_usage_ratio{s()}", "{{kms}}")], extra={"fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}, "overrides": []}}),
    panel("Memory", "Resident memory of the KMS process.", "bytes",
          [(f"kurento_server_memory_resident_bytes{s()}", "{{kms}}")]),
    panel("Pipelines", "Media pipelines alive per KMS.", "short", [(q("kurento_pipelines"), "{{kms}}")]),
    panel("Endpoints", "WebRTC, RTP, player and recorder endpoints alive per KMS.", "short",
          [(q("kurento_elements", extra='element_type=~".*Endpoint"'), "{{kms}}")]),
    panel("Client sessions", "Distinct client sessions holding objects (the exporter's own not counted).", "short",
          [(f"kurento_server_sessions{s()}", "{{kms}}")]),
    panel("RTP bitrate", "Bits per second received and sent by each KMS over RTP, from the byte counters.", "bps",
          [(rate("kurento_rtp_bytes_total", by="kms, direction") + " * 8", "{{kms}} {{direction}}")]),
    row("Capacity"),
    panel("Load by KMS", "The load model of the capacity rules (kms:kurento_load:ratio, README \"Capacity and autoscaling\"): the most saturated of CPU, transcoding streams per CPU and WebRTC endpoints per CPU against their configured capacities. 1 = full.", "percentunit",
          [(f"max by (kms) (kms:kurento_load:ratio{s()})", "{{kms}}"),
           (f"avg(kms:kurento_load:ratio{s()})", "fleet average")],
          extra={"fieldConfig": {"defaults": {"unit": "percentunit", "min": 0}, "overrides": []}}),
    panel("Endpoint headroom by KMS", "WebRTC endpoints that still fit on each KMS before its load reaches 1 (kms:kurento_headroom:endpoints): where a load balancer should send new calls.", "short",
          [(f"max by (kms) (kms:kurento_headroom:endpoints{s()})", "{{kms}}")]),
    panel("Load drivers", "Each driver of the load per KMS (kms_driver:kurento_load:ratio): cpu, transcoding, endpoints; the highest is the load.", "percentunit",
          [(f"max by (kms, driver) (kms_driver:kurento_load:ratio{s()})", "{{kms}} {{driver}}")]),
    panel("Idle KMS", "KMS up with no live pipeline besides zombies (kms:kurento_idle:bool = 1): safe to scale in.", "short",
          [(f"sum(kms:kurento_idle:bool{s()})", "idle"), (f"count(kms:kurento_idle:bool{s()})", "rated")], kind="stat"),
    row("Zombies and transcoding"),
    panel("Zombie pipelines by KMS", "Abandoned pipelines per KMS (each pipeline counted once, under its first reason).", "short",
          [(q("kurento_zombie_pipelines"), "{{kms}}")], stack=True),
    panel("Transcoding elements by KMS", "Media elements transcoding per KMS (audio and video).", "short",
          [(q("kurento_transcoding_elements"), "{{kms}}")], stack=True),
    row("Exporter"),
    panel("Poll errors", "Failed polls and reads per second, by reason.", "ops",
          [(rate("kurento_exporter_poll_errors_total", by="kms, reason"), "{{kms}} {{reason}}")]),
    panel("Versions", "KMS version reported by getInfo.", "short",
          [(f"kurento_server_info{s()}", "{{kms}} {{version}}")], kind="table"),
])

kms = dashboard("kurento-kms", "Kurento / KMS detail",
                "One KMS in detail: server, objects, media flow, exporter cost.", [
    row("Server"),
    panel("Up", "1 when the last poll cycle succeeded.", "short", [(f"kurento_up{s()}", "{{kms}}")], kind="stat", w=4, h=4),
    panel("CPUs", "CPUs available to the KMS process.", "short", [(f"kurento_server_cpus{s()}", "{{kms}}")], kind="stat", w=4, h=4),
    panel("Sessions", "Distinct client sessions holding objects.", "short", [(f"kurento_server_sessions{s()}", "{{kms}}")], kind="stat", w=4, h=4),
    panel("Pipelines", "Media pipelines alive.", "short", [(q("kurento_pipelines"), "{{kms}}")], kind="stat", w=4, h=4),
    panel("Zombie pipelines", "Pipelines considered abandoned.", "short", [(q("kurento_zombie_pipelines"), "{{kms}}")], kind="stat", w=4, h=4),
    panel("Last successful poll", "Seconds since the last successful poll cycle.", "s",
          [(f"time() - kurento_exporter_last_poll_success_timestamp_seconds{s()}", "{{kms}}")], kind="stat", w=4, h=4),
    panel("CPU", "KMS process CPU as a share of all its CPUs.", "percentunit", [(f"kurento_server_cpu_usage_ratio{s()}", "{{kms}}")]),
    panel("Memory", "Resident memory of KMS (getUsedMemory).", "bytes", [(f"kurento_server_memory_resident_bytes{s()}", "{{kms}}")]),
    row("Objects"),
    panel("Elements by type", "Objects inside pipelines by class.", "short",
          [(q("kurento_elements", by="kms, element_type"), "{{element_type}}")], stack=True),
    panel("Objects created and destroyed", "Objects created and destroyed per second, by class.", "ops",
          [(rate("kurento_objects_created_total", by="kms, element_type"), "created {{element_type}}"),
           (rate("kurento_objects_destroyed_total", by="kms, element_type"), "destroyed {{element_type}}")]),
    panel("Elements per pipeline", "Median and 90th percentile of objects per live pipeline (participants per meeting).", "short",
          [(quantile(0.5, "kurento_pipeline_elements"), "p50"), (quantile(0.9, "kurento_pipeline_elements"), "p90")]),
    panel("Pipeline age", "Median and 90th percentile age of live pipelines.", "s",
          [(quantile(0.5, "kurento_pipeline_age_seconds"), "p50"), (quantile(0.9, "kurento_pipeline_age_seconds"), "p90")]),
    row("Media flow"),
    panel("Elements with media flowing", "Media elements with media flowing, by media, named from the pipeline's side as KMS does: in = media arriving from the pipeline (subscribers' endpoints, recorders), out = media pushed into the pipeline (publishers' endpoints, players).", "short",
          [(q("kurento_media_flowing_elements", by="kms, media, direction"), "{{media}} {{direction}}")]),
    panel("Publishers and subscribers", "Publishers: WebRTC endpoints whose browser sends media to KMS (kurento_webrtc_endpoints_sending; KMS reports them flowing out). Subscribers: endpoints whose browser receives media from KMS (kurento_webrtc_endpoints_receiving; flowing in). A participant who does both counts in both.", "short",
          [(q("kurento_webrtc_endpoints_sending", by="kms, media"), "publishers {{media}}"),
           (q("kurento_webrtc_endpoints_receiving", by="kms, media"), "subscribers {{media}}")]),
    panel("Players and recorders", "PlayerEndpoints and RecorderEndpoints by state.", "short",
          [(q("kurento_uri_endpoints", by="kms, element_type, state"), "{{element_type}} {{state}}")]),
    panel("RTP bitrate", "Bits per second received (inbound) and sent (outbound), by media.", "bps",
          [(rate("kurento_rtp_bytes_total", by="kms, media, direction") + " * 8", "{{media}} {{direction}}")]),
    row("Exporter"),
    panel("Poll duration", "Wall time of the last poll cycle (includes the CPU sample window).", "s",
          [(f"kurento_exporter_poll_duration_seconds{s()}", "{{kms}}")]),
    panel("Requests to KMS", "JSON-RPC requests per second the exporter sends to this KMS (its observer effect).", "reqps",
          [(rate("kurento_exporter_kms_requests_total"), "{{kms}}")]),
    panel("Poll errors", "Failed polls and reads per second, by reason.", "ops",
          [(rate("kurento_exporter_poll_errors_total", by="kms, reason"), "{{reason}}")]),
    panel("Series folded", "Pipelines or elements folded into the remainder series by metrics.max_series, per second.", "ops",
          [(rate("kurento_exporter_series_dropped_total"), "{{kms}}")]),
], multi_kms=False)


# The MOS scale is 1 to 4.5: a fixed axis keeps a drop readable.
mos_panel = panel("Estimated MOS", "10th percentile and median of the estimated MOS of live streams (1 bad to 4.5; about 4.4 on a perfect network), by media.", "none",
                  [(quantile(0.1, "kurento_rtp_quality_mos", by="kms, media"), "p10 {{kms}} {{media}}"),
                   (quantile(0.5, "kurento_rtp_quality_mos", by="kms, media"), "p50 {{kms}} {{media}}")])
mos_panel["fieldConfig"]["defaults"].update({"min": 1, "max": 4.5})

media = dashboard("kurento-media", "Kurento / Media quality",
                  "RTP quality seen by KMS: bitrate, loss, jitter, RTT, latency, estimated MOS, TURN share, ICE states.", [
    row("Traffic"),
    panel("Bitrate", "Bits per second from the monotonic RTP byte counters, by media and direction.", "bps",
          [(rate("kurento_rtp_bytes_total", by="kms, media, direction") + " * 8", "{{kms}} {{media}} {{direction}}")]),
    panel("Packet rate", "RTP packets per second, by media and direction.", "pps",
          [(rate("kurento_rtp_packets_total", by="kms, media, direction"), "{{kms}} {{media}} {{direction}}")]),
    row("Loss"),
    panel("Packet loss", "Packets lost per packet received (inbound) or sent (outbound, as reported by the peer).", "percentunit",
          [(rate("kurento_rtp_packets_lost_total", by="kms, media, direction") + " / " +
            rate("kurento_rtp_packets_total", by="kms, media, direction"), "{{kms}} {{media}} {{direction}}")]),
    panel("Fraction lost (p95)", "95th percentile over live streams of the loss in the last RTCP interval.", "percentunit",
          [(quantile(0.95, "kurento_rtp_fraction_lost_ratio", by="kms, media, direction"), "{{kms}} {{media}} {{direction}}")]),
    panel("NACK, PLI, FIR", "Retransmission and key-frame requests per second (inbound: sent by KMS; outbound: received).", "ops",
          [(rate("kurento_rtp_nacks_total", by="kms, direction"), "NACK {{kms}} {{direction}}"),
           (rate("kurento_rtp_plis_total", by="kms, direction"), "PLI {{kms}} {{direction}}"),
           (rate("kurento_rtp_firs_total", by="kms, direction"), "FIR {{kms}} {{direction}}")]),
    row("Delay"),
    panel("Jitter", "Median and 95th percentile jitter of live inbound streams.", "s",
          [(quantile(0.5, "kurento_rtp_jitter_seconds", by="kms, media"), "p50 {{kms}} {{media}}"),
           (quantile(0.95, "kurento_rtp_jitter_seconds", by="kms, media"), "p95 {{kms}} {{media}}")]),
    panel("Round-trip time", "Median and 95th percentile RTT of live outbound streams (from receiver reports).", "s",
          [(quantile(0.5, "kurento_rtp_round_trip_time_seconds", by="kms, media"), "p50 {{kms}} {{media}}"),
           (quantile(0.95, "kurento_rtp_round_trip_time_seconds", by="kms, media"), "p95 {{kms}} {{media}}")]),
    panel("Latency", "95th percentile end-to-end and element input latency, only where the application enabled latency stats.", "s",
          [(quantile(0.95, "kurento_e2e_latency_seconds", by="kms, media"), "end-to-end {{kms}} {{media}}"),
           (quantile(0.95, "kurento_element_input_latency_seconds", by="kms, media"), "input {{kms}} {{media}}")]),
    panel("Bandwidth estimates", "Median REMB estimate and target send rate of live video streams.", "Bps",
          [(quantile(0.5, "kurento_rtp_remb_bytes_per_second", by="kms, direction"), "REMB {{kms}} {{direction}}"),
           (quantile(0.5, "kurento_rtp_target_send_rate_bytes_per_second", by="kms, media"), "target {{kms}} {{media}}")]),
    row("Call quality"),
    panel("Streams with MOS below 3.5", "Share of scored RTP streams (both directions, audio and video) whose estimated MOS is below 3.5: users notice. The E-model over loss, jitter and RTT (README, Call quality).", "percentunit",
          [(q("kurento_rtp_quality_mos_bucket", extra='le="3.5"') + " / " +
            q("kurento_rtp_quality_mos_count"), "{{kms}}")]),
    mos_panel,
    row("Connectivity"),
    panel("TURN share", "Share of WebRTC endpoints with a selected pair whose media goes through a relay (TURN).", "percentunit",
          [(q("kurento_webrtc_selected_candidates", extra='candidate_type="relay"') + " / " +
            q("kurento_webrtc_selected_candidates"), "{{kms}}")]),
    panel("Selected candidate types", "WebRTC endpoints by the most indirect side of their selected ICE pair.", "short",
          [(q("kurento_webrtc_selected_candidates", by="kms, candidate_type"), "{{kms}} {{candidate_type}}")], stack=True),
    panel("ICE states", "WebRTC endpoints by ICE connection state.", "short",
          [(q("kurento_webrtc_endpoints_ice_state", by="kms, state"), "{{kms}} {{state}}")], stack=True),
    panel("Media and connection states", "RTP and WebRTC endpoints by media state and connection state.", "short",
          [(q("kurento_rtp_endpoints_media_state", by="kms, state"), "media {{kms}} {{state}}"),
           (q("kurento_rtp_endpoints_connection_state", by="kms, state"), "connection {{kms}} {{state}}")]),
])

zombies = dashboard("kurento-zombies", "Kurento / Zombies and transcoding",
                    "Abandoned pipelines and elements (never released by their application) and transcoding.", [
    row("Zombies"),
    panel("Zombie pipelines by reason", "Pipelines abandoned for at least zombie.idle_after, by first matching reason (empty, ice_failed, disconnected, no_media, max_age).", "short",
          [(q("kurento_zombie_pipelines", by="kms, reason"), "{{kms}} {{reason}}")], stack=True),
    panel("Zombie share of pipelines", "Zombie pipelines as a share of all live pipelines.", "percentunit",
          [(q("kurento_zombie_pipelines") + " / " + q("kurento_pipelines"), "{{kms}}")]),
    panel("Zombie elements by reason", "Elements that are zombies on their own (including unconnected), by reason.", "short",
          [(q("kurento_zombie_elements", by="kms, reason"), "{{kms}} {{reason}}")], stack=True),
    panel("Zombie elements by type", "Zombie elements by class.", "short",
          [(q("kurento_zombie_elements", by="kms, element_type"), "{{kms}} {{element_type}}")], stack=True),
    panel("Pipelines created and destroyed", "Pipelines created and destroyed per second: created without destroyed means pipelines accumulate.", "ops",
          [(rate("kurento_objects_created_total", extra='element_type="MediaPipeline"'), "created {{kms}}"),
           (rate("kurento_objects_destroyed_total", extra='element_type="MediaPipeline"'), "destroyed {{kms}}")]),
    panel("Pipeline age (p90)", "90th percentile age of live pipelines: old pipelines are often forgotten ones.", "s",
          [(quantile(0.9, "kurento_pipeline_age_seconds"), "{{kms}}")]),
    row("Transcoding"),
    panel("Transcoding elements", "Media elements transcoding now, by media.", "short",
          [(q("kurento_transcoding_elements", by="kms, media"), "{{kms}} {{media}}")], stack=True),
    panel("Transcoding starts", "Elements starting to transcode per second, by media.", "ops",
          [(rate("kurento_transcoding_transitions_total", by="kms, media"), "{{kms}} {{media}}")]),
    panel("CPU", "KMS CPU share, to compare with transcoding.", "percentunit",
          [(f"kurento_server_cpu_usage_ratio{s()}", "{{kms}}")]),
])

here = os.path.dirname(os.path.abspath(__file__))
for name, d in [("kurento-fleet", fleet), ("kurento-kms", kms), ("kurento-media", media),
                ("kurento-zombies", zombies)]:
    with open(os.path.join(here, name + ".json"), "w") as f:
        json.dump(d, f, indent=2, sort_keys=False)
        f.write("\n")
