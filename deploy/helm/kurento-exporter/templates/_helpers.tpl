{{/*
Helpers of the kurento-exporter chart. The other templates are valid YAML before rendering too
(tests/ops_static.rs parses every YAML file under deploy/, and so can any YAML tool): their
template actions sit in quoted strings or in YAML comment lines ("# {{- ... }}"), which leave a
bare "#" comment line in the rendered manifests.
*/}}

{{- define "kurento-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kurento-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kurento-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kurento-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kurento-exporter.labels" -}}
{{ include "kurento-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The `release` label kube-prometheus-stack selects by, when set. */}}
{{- define "kurento-exporter.operatorLabels" -}}
{{ include "kurento-exporter.labels" . }}
{{- with .Values.release }}
release: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The resources: .Values.resources when set, else the preset of the detail level. */}}
{{- define "kurento-exporter.resources" -}}
{{- if .Values.resources }}
{{- toYaml .Values.resources }}
{{- else }}
{{- toYaml (required (printf "resourcePresets has no %q" .Values.detail) (get .Values.resourcePresets .Values.detail)) }}
{{- end }}
{{- end }}

{{/* kurento_exporter.toml (README "Configuration"). */}}
{{- define "kurento-exporter.config" -}}
{{- if not (has .Values.detail (list "aggregated" "pipeline" "element")) }}
{{- fail (printf "detail must be aggregated, pipeline or element, got %q" .Values.detail) }}
{{- end -}}
# Rendered by the kurento-exporter Helm chart from its values.
[log]
level = {{ .Values.logLevel | quote }}
format = {{ .Values.logFormat | quote }}

[poll]
interval = {{ .Values.pollInterval | quote }}

[metrics]
detail = {{ .Values.detail | quote }}
max_series = {{ .Values.maxSeries | int }}
{{- range .Values.targets }}

[[targets]]
name = {{ required "every target needs a name" .name | quote }}
url = {{ required "every target needs a url" .url | quote }}
{{- end }}
{{- with .Values.extraConfig }}

{{ . }}
{{- end }}
{{- end }}
