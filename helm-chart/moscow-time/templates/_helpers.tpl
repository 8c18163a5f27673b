{{/*
The chart's name, or nameOverride.
*/}}
{{- define "moscow-time.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: "<release>-<chart>", or the release name when it
already contains the chart name, or fullnameOverride. Cut to 52 characters, not
63: the StatefulSet's pods get a label controller-revision-hash=<name>-<hash of
10 characters> that must fit in a 63-character label value.
*/}}
{{- define "moscow-time.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The headless service that gives each pod its DNS name (StatefulSet serviceName).
*/}}
{{- define "moscow-time.headlessServiceName" -}}
{{- printf "%s-headless" (include "moscow-time.fullname" .) }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "moscow-time.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels of every object.
*/}}
{{- define "moscow-time.labels" -}}
helm.sh/chart: {{ include "moscow-time.chart" . }}
{{ include "moscow-time.selectorLabels" . }}
app.kubernetes.io/version: {{ include "moscow-time.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: moscow-time
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The selector labels: fixed for the life of a release (a StatefulSet's selector
cannot change), so nothing here depends on a version.
*/}}
{{- define "moscow-time.selectorLabels" -}}
app.kubernetes.io/name: {{ include "moscow-time.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "moscow-time.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "moscow-time.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "moscow-time.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
The image of both containers.
*/}}
{{- define "moscow-time.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "moscow-time.imageTag" .) }}
{{- end }}

{{/*
The port nginx listens on: fixed by listen.conf baked into the image.
*/}}
{{- define "moscow-time.containerPort" -}}
8080
{{- end }}

{{/*
The folder nginx runs in (its prefix and working directory); the image's
nginx.conf finds the socket at sock/fcgi.sock and writes to nginx/ under it.
*/}}
{{- define "moscow-time.runDir" -}}
/run/moscow-time
{{- end }}

{{/*
The folder of the config.ini the responder reads.
*/}}
{{- define "moscow-time.configDir" -}}
/etc/moscow-time/config
{{- end }}

{{/*
The mount of the visits volume; config.counter.path must be under it.
*/}}
{{- define "moscow-time.dataDir" -}}
/data
{{- end }}

{{/*
config.ini from .Values.config: one [section] per map, one "key = value" per
entry, in the order of the keys. Strings are written in double quotes, which
iniparser strips and inside which spaces, ";" and "#" (the format's) are kept;
the schema forbids double quotes and line breaks in them. Numbers are written
as integers.
*/}}
{{- define "moscow-time.configIni" -}}
; moscow-time configuration, rendered by the Helm chart from .Values.config.
; The keys are those of fcgi-app/config.ini.
{{- range $section, $keys := .Values.config }}
[{{ $section }}]
{{- range $key, $value := $keys }}
{{- if kindIs "string" $value }}
{{ $key }} = "{{ $value }}"
{{- else if kindIs "bool" $value }}
{{ $key }} = {{ $value }}
{{- else }}
{{ $key }} = {{ int64 $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
An HTTP probe from a value such as .Values.nginx.livenessProbe; every probe goes
to nginx's port (a container's probe may target any port of its pod).
Usage: include "moscow-time.probe" (dict "probe" .Values.nginx.livenessProbe "port" 8080)
*/}}
{{- define "moscow-time.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: {{ .port }}
  scheme: HTTP
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: {{ .probe.successThreshold }}
{{- end }}

{{/*
Checks across values that the schema cannot express; a failure stops the install.
*/}}
{{- define "moscow-time.validateValues" -}}
{{- $own := list "helm.sh/chart" "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/part-of" }}
{{- range $k, $_ := merge (dict) .Values.commonLabels .Values.podLabels }}
{{- if has $k $own }}
{{- fail (printf "commonLabels and podLabels cannot set %s: the chart sets it (selectors depend on it)" $k) }}
{{- end }}
{{- end }}
{{- $counter := .Values.config.counter.path }}
{{- if ne (dir $counter) (include "moscow-time.dataDir" .) }}
{{- fail (printf "config.counter.path %q must be directly in %s/, where the visits volume is mounted (the responder creates no folders)" $counter (include "moscow-time.dataDir" .)) }}
{{- end }}
{{- if lt (int .Values.responder.preStopDelaySeconds) (int .Values.nginx.preStopDelaySeconds) }}
{{- fail "responder.preStopDelaySeconds must be at least nginx.preStopDelaySeconds: the responder must outlive nginx" }}
{{- end }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add (int .Values.responder.preStopDelaySeconds) 2 | int) }}
{{- fail "terminationGracePeriodSeconds must be at least responder.preStopDelaySeconds + 2: the responder needs time to flush its counter after the delay" }}
{{- end }}
{{- end }}
