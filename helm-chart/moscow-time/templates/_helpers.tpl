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
The namespace of every object: namespaceOverride or the release's.
*/}}
{{- define "moscow-time.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
An object's annotations: commonAnnotations and its own (which win), as an
"annotations:" block, or nothing when there are none.
Usage: include "moscow-time.annotations" (dict "own" .Values.service.annotations "context" $)
*/}}
{{- define "moscow-time.annotations" -}}
{{- $all := merge (dict) (.own | default dict) .context.Values.commonAnnotations }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "moscow-time.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
An image reference: [registry/]repository, then @digest or :tag. A digest wins
over the tag; global.imageRegistry wins over the image's own registry.
Usage: include "moscow-time.imageRef" (dict "image" .Values.image "tag" "1.0.0" "global" .Values.global)
*/}}
{{- define "moscow-time.imageRef" -}}
{{- $registry := .image.registry | default "" }}
{{- with .global }}{{ with .imageRegistry }}{{ $registry = . }}{{ end }}{{ end }}
{{- $name := .image.repository }}
{{- if $registry }}{{ $name = printf "%s/%s" $registry $name }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $name .image.digest }}
{{- else }}
{{- printf "%s:%s" $name (toString .tag) }}
{{- end }}
{{- end }}

{{/*
The image of both containers.
*/}}
{{- define "moscow-time.image" -}}
{{- include "moscow-time.imageRef" (dict "image" .Values.image "tag" (include "moscow-time.imageTag" .) "global" .Values.global) }}
{{- end }}

{{/*
The pods' imagePullSecrets: global.imagePullSecrets and imagePullSecrets,
each name once, as a list.
*/}}
{{- define "moscow-time.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat (.Values.global.imagePullSecrets | default list) .Values.imagePullSecrets }}
{{- $name := . }}
{{- if kindIs "map" . }}{{ $name = get . "name" }}{{ end }}
{{- if and $name (not (has $name $names)) }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- range $names }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/*
The pods' affinity: .Values.affinity when set, else the podAntiAffinityPreset
(soft: prefer nodes without a pod of the release; hard: require them).
*/}}
{{- define "moscow-time.affinity" -}}
{{- if .Values.affinity }}
{{- toYaml .Values.affinity }}
{{- else if .Values.podAntiAffinityPreset }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "moscow-time.selectorLabels" . | fromYaml)) }}
podAntiAffinity:
{{- if eq .Values.podAntiAffinityPreset "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    {{- toYaml (list $term) | nindent 4 }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 1
      podAffinityTerm:
        {{- toYaml $term | nindent 8 }}
{{- end }}
{{- end }}
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
[cluster] peers as the chart renders it: config.cluster.peers, a list of your
own; the chart renders none (the pods find each other, see clusterDiscover).
*/}}
{{- define "moscow-time.clusterPeers" -}}
{{- .Values.config.cluster.peers -}}
{{- end }}

{{/*
[cluster] discover as the chart renders it: config.cluster.discover when set,
else (cluster.enabled, no config.cluster.peers) the SRV records of the headless
service's port named http, _http._tcp.<headless> (the pods' DNS search path adds
<namespace>.svc.<clusterDomain>): each responder finds the pods at every poll,
whatever replicaCount or `kubectl scale` made of them. Empty otherwise.
*/}}
{{- define "moscow-time.clusterDiscover" -}}
{{- if .Values.config.cluster.discover -}}
{{ .Values.config.cluster.discover }}
{{- else if and .Values.cluster.enabled (not .Values.config.cluster.peers) -}}
{{ printf "_http._tcp.%s" (include "moscow-time.headlessServiceName" .) }}
{{- end -}}
{{- end }}

{{/*
The configuration the responder gets: .Values.config (its sections; the
chart's own config.reload is not one) with [cluster] peers and discover from
moscow-time.clusterPeers and clusterDiscover, [metrics] enabled from
metrics.enabled.
*/}}
{{- define "moscow-time.effectiveConfig" -}}
{{- $c := dict -}}
{{- range $section, $keys := .Values.config -}}
{{- if kindIs "map" $keys -}}
{{- $_ := set $c $section (deepCopy $keys) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $c.cluster "peers" (include "moscow-time.clusterPeers" .) -}}
{{- $_ := set $c.cluster "discover" (include "moscow-time.clusterDiscover" .) -}}
{{- $_ := set $c "metrics" (dict "enabled" .Values.metrics.enabled) -}}
{{- toYaml $c -}}
{{- end }}

{{/*
config.ini from a configuration (a map of sections): one [section] per map,
one "key = value" per entry, in the order of the keys. Strings are written in
double quotes, which iniparser strips and inside which spaces, ";" and "#"
(the format's) are kept; the schema forbids double quotes and line breaks in
them. Numbers are written as integers, booleans as true or false.
Usage: include "moscow-time.renderIni" $config
*/}}
{{- define "moscow-time.renderIni" -}}
{{- range $section, $keys := . }}
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

{{- define "moscow-time.configIni" -}}
; moscow-time configuration, rendered by the Helm chart from .Values.config,
; cluster and metrics. The keys are those of fcgi-app/config.ini.
{{- include "moscow-time.renderIni" (include "moscow-time.effectiveConfig" . | fromYaml) }}
{{- end }}

{{/*
What the pods' checksum/config annotation hashes, so that a change of it
rolls the pods. [cluster] peers is never in it: each responder takes a new
list from the mounted ConfigMap without a restart. With config.reload
live, neither are the other keys a running responder takes on a reload
([clock] format, [log] level, [cluster] discover, poll_interval_ms and timeout_ms;
config.c's key table marks them live, and the chart tests hold this list to
`moscow-time --print-keys`): only a change of the others rolls.
*/}}
{{- define "moscow-time.configChecksum" -}}
{{- $c := include "moscow-time.effectiveConfig" . | fromYaml -}}
{{- $_ := unset $c.cluster "peers" -}}
{{- if eq .Values.config.reload "live" -}}
{{- $_ := unset $c.clock "format" -}}
{{- $_ := unset $c.log "level" -}}
{{- $_ := unset $c.cluster "discover" -}}
{{- $_ := unset $c.cluster "poll_interval_ms" -}}
{{- $_ := unset $c.cluster "timeout_ms" -}}
{{- end -}}
{{- include "moscow-time.renderIni" $c | sha256sum -}}
{{- end }}

{{/*
A probe's timings, from a value such as .Values.nginx.livenessProbe.
*/}}
{{- define "moscow-time.probeTimings" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: {{ .successThreshold }}
{{- end }}

{{/*
An HTTP probe from a value such as .Values.nginx.livenessProbe; every HTTP
probe goes to nginx's port (a container's probe may target any port of its pod).
Usage: include "moscow-time.probe" (dict "probe" .Values.nginx.livenessProbe "port" 8080)
*/}}
{{- define "moscow-time.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: {{ .port }}
  scheme: HTTP
{{ include "moscow-time.probeTimings" .probe }}
{{- end }}

{{/*
The responder's own probe: `moscow-time --probe CONFIG SECONDS` speaks FastCGI
to its socket (no nginx, no curl); it gives up a second before the kubelet.
Usage: include "moscow-time.execProbe" (dict "probe" .Values.responder.livenessProbe "config" "/etc/.../config.ini")
*/}}
{{- define "moscow-time.execProbe" -}}
exec:
  command: ["moscow-time", "--probe", {{ .config | quote }}, {{ max 1 (sub (int .probe.timeoutSeconds) 1) | toString | quote }}]
{{ include "moscow-time.probeTimings" .probe }}
{{- end }}

{{/*
A container's probe of one kind: its custom probe when set, else the chart's
when enabled, else nothing. Usage: include "moscow-time.containerProbe"
(dict "kind" "livenessProbe" "values" .Values.nginx "port" "http" "config" $cfg)
*/}}
{{- define "moscow-time.containerProbe" -}}
{{- $custom := get .values (printf "custom%s" (title .kind)) }}
{{- $probe := get .values .kind }}
{{- if $custom }}
{{- .kind }}:
  {{- toYaml $custom | nindent 2 }}
{{- else if $probe.enabled }}
{{- .kind }}:
{{- if hasKey $probe "path" }}
  {{- include "moscow-time.probe" (dict "probe" $probe "port" .port) | nindent 2 }}
{{- else }}
  {{- include "moscow-time.execProbe" (dict "probe" $probe "config" .config) | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The environment of both containers: extraEnv, and extraEnvVarsCM /
extraEnvVarsSecret as envFrom.
*/}}
{{- define "moscow-time.env" -}}
{{- with .Values.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if or .Values.extraEnvVarsCM .Values.extraEnvVarsSecret }}
envFrom:
  {{- with .Values.extraEnvVarsCM }}
  - configMapRef:
      name: {{ . }}
  {{- end }}
  {{- with .Values.extraEnvVarsSecret }}
  - secretRef:
      name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Upgrades must not rename the StatefulSet: its claims are named after it
(visits-<name>-N), so a new name starts every count at 0 on new claims and
orphans the old ones. existing: the release's StatefulSets as `lookup` returns
them (a List). `helm template` and `--dry-run` without a cluster get nothing
from lookup, so there the check passes.
Usage: include "moscow-time.checkRename" (dict "existing" (lookup ...) "context" $)
*/}}
{{- define "moscow-time.checkRename" -}}
{{- $ctx := .context }}
{{- $name := include "moscow-time.fullname" $ctx }}
{{- range (.existing | default dict).items | default list }}
{{- $labels := .metadata.labels | default dict }}
{{- $annotations := .metadata.annotations | default dict }}
{{- if and (eq (get $labels "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $annotations "meta.helm.sh/release-name") $ctx.Release.Name) (ne .metadata.name $name) }}
{{- fail (printf "this upgrade renames the StatefulSet %s to %s (nameOverride or fullnameOverride changed): its claims visits-%s-N would be orphaned and every count would restart at 0. Keep the old name (--set fullnameOverride=%s), or move the data yourself first (see the chart's README)" .metadata.name $name .metadata.name .metadata.name) }}
{{- end }}
{{- end }}
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
{{- if and .Values.persistence.enabled .Values.persistence.retentionPolicy (semverCompare "<1.27.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "persistence.retentionPolicy needs Kubernetes 1.27 or later; this cluster is %s, which ignores it (the StatefulSetAutoDeletePVC feature is alpha and off there): claims would be kept whatever it says. Leave persistence.retentionPolicy empty (claims are kept) or upgrade the cluster" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- $pdb := .Values.pdb }}
{{- if and $pdb.create (ne (toString $pdb.minAvailable) "") (ne (toString $pdb.maxUnavailable) "") }}
{{- fail "pdb: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if and $pdb.create (not (kindIs "string" $pdb.minAvailable)) (gt (int .Values.replicaCount) 0) (ge (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "pdb.minAvailable %d with replicaCount %d lets no pod be evicted: no node could be drained. Use a smaller minAvailable or pdb.maxUnavailable" (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
