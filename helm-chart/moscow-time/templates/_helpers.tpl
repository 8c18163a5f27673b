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
app.kubernetes.io/version: {{ include "moscow-time.versionLabel" . | quote }}
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
The app.kubernetes.io/version label: the image tag made a valid label value
(at most 63 characters of A-Z a-z 0-9 - _ . , beginning and ending with a
letter or digit). A tag such as "1.0.0+build.5", "dev_" or 70 characters
would otherwise render a label the API server refuses. Any other character
becomes "_"; what is left at either end that is not a letter or digit goes.
*/}}
{{- define "moscow-time.versionLabel" -}}
{{- $v := regexReplaceAll "[^A-Za-z0-9._-]" (include "moscow-time.imageTag" . | toString) "_" | trunc 63 }}
{{- regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" $v "" }}
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
{{- if and .Values.volumePermissions.enabled .Values.persistence.enabled (include "moscow-time.openshift" .) }}
{{- fail "volumePermissions.enabled with the security contexts adapted to OpenShift (global.compatibility.openshift.adaptSecurityContext): its init container runs as root, which OpenShift's restricted-v2 SCC refuses, and the uid to give /data to is the one OpenShift assigns. OpenShift applies the namespace's fsGroup to the claims: leave volumePermissions off there" }}
{{- end }}
{{- include "moscow-time.validatePdb" . }}
{{- include "moscow-time.validateNames" . }}
{{- end }}

{{/*
The PodDisruptionBudget must let at least one of the rendered replicas go, or
no node holding one could ever be drained. Kubernetes rounds a percentage up
(GetScaledValueFromIntOrPercent with roundUp), for minAvailable and
maxUnavailable alike: minAvailable 50% of 1 pod is 1 pod, so none may go.
*/}}
{{- define "moscow-time.validatePdb" -}}
{{- $pdb := .Values.pdb }}
{{- $n := int .Values.replicaCount }}
{{- if and $pdb.create (gt $n 0) }}
{{- $scaled := dict }}
{{- range $key := list "minAvailable" "maxUnavailable" }}
{{- $v := toString (get $pdb $key) }}
{{- if hasSuffix "%" $v }}
{{- $_ := set $scaled $key (div (add (mul (int (trimSuffix "%" $v)) $n) 99) 100 | int) }}
{{- else if ne $v "" }}
{{- $_ := set $scaled $key (int $v) }}
{{- end }}
{{- end }}
{{- $allowed := 1 }}
{{- $what := "" }}
{{- if hasKey $scaled "minAvailable" }}
{{- $allowed = sub $n $scaled.minAvailable | int }}
{{- $what = printf "pdb.minAvailable %v with replicaCount %d" $pdb.minAvailable $n }}
{{- if hasSuffix "%" (toString $pdb.minAvailable) }}
{{- $what = printf "%s (%d of %d pods, rounded up as Kubernetes does)" $what $scaled.minAvailable $n }}
{{- end }}
{{- else if hasKey $scaled "maxUnavailable" }}
{{- $allowed = $scaled.maxUnavailable }}
{{- $what = printf "pdb.maxUnavailable %v with replicaCount %d" $pdb.maxUnavailable $n }}
{{- end }}
{{- if lt $allowed 1 }}
{{- fail (printf "%s lets no pod be evicted: no node could be drained. Use a smaller minAvailable, pdb.maxUnavailable, more replicas, or pdb.create=false" $what) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Names the API server would refuse fail the render, before anything is
applied. Every object is named after the full name, and the Services need a
DNS-1035 label: lower-case letters, digits and "-", beginning with a letter
and ending with a letter or digit. A release "1mt" or "my.mt", or
nameOverride "Moscow", would pass helm's own checks and fail in the cluster
halfway through an install. The chart name part (nameOverride) must be a
DNS-1123 label as well: it is the app.kubernetes.io/name of every selector.
*/}}
{{- define "moscow-time.validateNames" -}}
{{- $label := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" }}
{{- $name := include "moscow-time.name" . }}
{{- if not (regexMatch $label $name) }}
{{- fail (printf "nameOverride %q is not a DNS-1123 label (lower-case letters, digits and \"-\", beginning and ending with a letter or digit): the objects' names and selectors are made from it, and Kubernetes would refuse them. Use lower case, e.g. %q" .Values.nameOverride (regexReplaceAll "[^a-z0-9-]" (lower .Values.nameOverride) "-" | trimAll "-")) }}
{{- end }}
{{- $full := include "moscow-time.fullname" . }}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $full) }}
{{- $from := printf "the release name %q and the chart name %q" .Release.Name $name }}
{{- if .Values.fullnameOverride }}{{ $from = printf "fullnameOverride %q" .Values.fullnameOverride }}{{ end }}
{{- fail (printf "the objects' name %q (from %s) is not a DNS-1035 label: lower-case letters, digits and \"-\", beginning with a letter and ending with a letter or digit. Kubernetes would refuse the Services named after it. Choose a release name that begins with a letter and has no dots, or set fullnameOverride to such a name" $full $from) }}
{{- end }}
{{- end }}

{{/*
A Kubernetes quantity ("1Gi", "1500M", "0.5Gi", "1073741824") as a number of
bytes, printed without exponent, so that two spellings of one size compare
equal (the API server keeps a quantity in its canonical form: "1024Mi"
comes back as "1Gi").
*/}}
{{- define "moscow-time.quantityBytes" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $units := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- $unit := trimPrefix $num $q }}
{{- if or (not $num) (not (hasKey $units $unit)) }}
{{- $q }}
{{- else }}
{{- printf "%.0f" (mulf (float64 $num) (get $units $unit)) }}
{{- end }}
{{- end }}

{{/*
Upgrades must not change what Kubernetes forbids changing on an existing
StatefulSet (everything but replicas, ordinals, template, updateStrategy,
revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and
minReadySeconds). Helm applies the objects in order and goes on after an
error, so without this check the ConfigMap, Services, PDB and NetworkPolicy
would be updated and only the StatefulSet refused: a release half upgraded.
A `fail` here stops the render, before any object is applied.

live: the release's StatefulSet as `lookup` returns it (an empty map on a
first install, under `helm template` and a client-side --dry-run). The
chart's values are compared with it field by field: podManagementPolicy,
serviceName, selector, and the claim template "visits" (persistence.enabled,
size, storageClass, accessModes, annotations).
Usage: include "moscow-time.checkImmutable" (dict "live" (lookup ...) "context" $)
*/}}
{{- define "moscow-time.checkImmutable" -}}
{{- $ctx := .context }}
{{- $live := .live | default dict }}
{{- if $live.spec }}
{{- $name := $live.metadata.name }}
{{- $ns := $live.metadata.namespace | default (include "moscow-time.namespace" $ctx) }}
{{- if $live.metadata.deletionTimestamp }}
{{- fail (printf "the StatefulSet %s is being deleted (since %v): wait until it is gone (kubectl wait --for=delete statefulset/%s --namespace %s --timeout=120s), then run this upgrade again; it re-creates the StatefulSet, which adopts the pods and claims" $name $live.metadata.deletionTimestamp $name $ns) }}
{{- end }}
{{- $changes := list }}
{{- $v := $ctx.Values }}
{{- $policy := $live.spec.podManagementPolicy | default "OrderedReady" }}
{{- if ne $policy $v.podManagementPolicy }}
{{- $changes = append $changes (printf "spec.podManagementPolicy (podManagementPolicy): %s in the cluster, %s in this upgrade" $policy $v.podManagementPolicy) }}
{{- end }}
{{- $service := include "moscow-time.headlessServiceName" $ctx }}
{{- if ne (toString $live.spec.serviceName) $service }}
{{- $changes = append $changes (printf "spec.serviceName (from nameOverride / fullnameOverride): %s in the cluster, %s in this upgrade" $live.spec.serviceName $service) }}
{{- end }}
{{- $selector := dict "matchLabels" (include "moscow-time.selectorLabels" $ctx | fromYaml) }}
{{- if ne (toJson $live.spec.selector) (toJson $selector) }}
{{- $changes = append $changes (printf "spec.selector (from nameOverride): %s in the cluster, %s in this upgrade" (toJson $live.spec.selector) (toJson $selector)) }}
{{- end }}
{{- $claim := dict }}
{{- range $live.spec.volumeClaimTemplates | default list }}
{{- if eq .metadata.name "visits" }}{{ $claim = . }}{{ end }}
{{- end }}
{{- $p := $v.persistence }}
{{- if ne (not (empty $claim)) $p.enabled }}
{{- $changes = append $changes (printf "spec.volumeClaimTemplates (persistence.enabled): %s in the cluster, %s in this upgrade" (ternary "a claim visits-<pod> per pod" "none (emptyDir)" (not (empty $claim))) (ternary "a claim visits-<pod> per pod" "none (emptyDir)" $p.enabled)) }}
{{- else if $p.enabled }}
{{- $path := "spec.volumeClaimTemplates[visits]" }}
{{- $size := dig "spec" "resources" "requests" "storage" "" $claim | toString }}
{{- if ne (include "moscow-time.quantityBytes" $size) (include "moscow-time.quantityBytes" $p.size) }}
{{- $changes = append $changes (printf "%s.spec.resources.requests.storage (persistence.size): %s in the cluster, %s in this upgrade" $path $size $p.size) }}
{{- end }}
{{- $liveClass := "unset (the default StorageClass)" }}
{{- if hasKey ($claim.spec | default dict) "storageClassName" }}
{{- $liveClass = ternary "\"\" (no class)" (toString $claim.spec.storageClassName) (eq (toString $claim.spec.storageClassName) "") }}
{{- end }}
{{- $newClass := "unset (the default StorageClass)" }}
{{- if eq $p.storageClass "-" }}{{ $newClass = "\"\" (no class)" }}{{ else if $p.storageClass }}{{ $newClass = $p.storageClass }}{{ end }}
{{- if ne $liveClass $newClass }}
{{- $changes = append $changes (printf "%s.spec.storageClassName (persistence.storageClass): %s in the cluster, %s in this upgrade" $path $liveClass $newClass) }}
{{- end }}
{{- $liveModes := dig "spec" "accessModes" list $claim }}
{{- if ne (toJson $liveModes) (toJson $p.accessModes) }}
{{- $changes = append $changes (printf "%s.spec.accessModes (persistence.accessModes): %s in the cluster, %s in this upgrade" $path (toJson $liveModes) (toJson $p.accessModes)) }}
{{- end }}
{{- $liveAnn := dig "metadata" "annotations" dict $claim }}
{{- if ne (toJson $liveAnn) (toJson ($p.annotations | default dict)) }}
{{- $changes = append $changes (printf "%s.metadata.annotations (persistence.annotations): %s in the cluster, %s in this upgrade" $path (toJson $liveAnn) (toJson ($p.annotations | default dict))) }}
{{- end }}
{{- end }}
{{- if $changes }}
{{- fail (printf "this upgrade changes fields of the StatefulSet %s that Kubernetes forbids changing on an existing StatefulSet; nothing has been applied.\n  - %s\nTo change them, delete the StatefulSet but keep its pods and claims, then upgrade; the new StatefulSet adopts the pods and claims, and the counts stay:\n  kubectl delete statefulset %s --namespace %s --cascade=orphan\n  kubectl wait --for=delete statefulset/%s --namespace %s --timeout=120s\n  then run this helm upgrade again.\nExisting claims keep their size, class, access modes and annotations (only claims made later get the new ones; grow a claim with kubectl edit pvc if its StorageClass allows expansion). Turning persistence.enabled off leaves the claims unused (the pods count from 0 on emptyDirs); turning it on gives the pods new claims (counts on emptyDirs are lost). Or keep the values the cluster has." $name (join "\n  - " $changes) $name $ns $name $ns) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The port nginx serves /metrics (and the cluster answer with peer addresses
and error texts) on, apart from the public one: fixed, like 8080, by the
image's nginx configuration (metrics-listen.conf, "listen 9113;", next to
listen.conf in /etc/moscow-time/). Named "metrics" in the pod and the
headless service.
*/}}
{{- define "moscow-time.metricsPort" -}}
9113
{{- end }}

{{/*
"true" when the pods' security contexts are adapted to OpenShift, as
Bitnami's global.compatibility.openshift.adaptSecurityContext does: force, or
auto on a cluster that serves the security.openshift.io/v1 API. OpenShift's
restricted-v2 SCC gives each namespace a uid range and refuses a pod with a
fixed uid outside it; adapted, the pods carry no runAsUser, runAsGroup or
fsGroup and run with the uid OpenShift assigns, in group 0.
*/}}
{{- define "moscow-time.openshift" -}}
{{- $mode := dig "compatibility" "openshift" "adaptSecurityContext" "auto" (.Values.global | default dict) }}
{{- if or (eq $mode "force") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end }}
{{- end }}

{{/*
A security context as the values give it, without runAsUser, runAsGroup and
fsGroup when adapted to OpenShift (moscow-time.openshift).
Usage: include "moscow-time.securityContext" (dict "secContext" .Values.podSecurityContext "context" $)
*/}}
{{- define "moscow-time.securityContext" -}}
{{- $sc := .secContext | default dict }}
{{- if include "moscow-time.openshift" .context }}
{{- $sc = omit $sc "runAsUser" "runAsGroup" "fsGroup" }}
{{- end }}
{{- toYaml $sc }}
{{- end }}

{{/*
A container's resources: its `resources` when set, else its
resourcesPreset (Bitnami's convention; "none": no requests or limits). The
presets differ in CPU only. Memory is what the container needs whatever the
load: nginx's is bounded by nginx.conf's connection slots (16,384 slots all
taken by a slow-client attack: about 190 MiB, measured), the responder's by
its threads (about 11 MiB resident under load, measured); the limit is the
request plus half, as in Bitnami's presets, so that a node under memory
pressure does not kill a container for using what it asked for.
Usage: include "moscow-time.resources" (dict "values" .Values.nginx "container" "nginx")
*/}}
{{- define "moscow-time.resources" -}}
{{- $presets := dict
  "nginx" (dict "memory" (list "128Mi" "192Mi") "small" (list "100m" "500m") "medium" (list "250m" "1") "large" (list "500m" "2"))
  "responder" (dict "memory" (list "32Mi" "48Mi") "small" (list "50m" "500m") "medium" (list "100m" "1") "large" (list "250m" "2")) }}
{{- if .values.resources }}
{{- toYaml .values.resources }}
{{- else if ne .values.resourcesPreset "none" }}
{{- $p := get $presets .container }}
{{- $cpu := get $p .values.resourcesPreset }}
requests:
  cpu: {{ index $cpu 0 }}
  memory: {{ index $p.memory 0 }}
limits:
  cpu: {{ index $cpu 1 | quote }}
  memory: {{ index $p.memory 1 }}
{{- end }}
{{- end }}

{{/*
The user and group the containers run as (containerSecurityContext, else
podSecurityContext), and the group that owns the data (fsGroup, else that
group): what volumePermissions hands /data to.
*/}}
{{- define "moscow-time.dataOwner" -}}
{{- $psc := .Values.podSecurityContext | default dict }}
{{- $csc := .Values.containerSecurityContext | default dict }}
{{- $uid := $csc.runAsUser | default $psc.runAsUser | default 10001 }}
{{- $gid := $psc.fsGroup | default $csc.runAsGroup | default $psc.runAsGroup | default $uid }}
{{- printf "%d:%d" (int64 $uid) (int64 $gid) }}
{{- end }}
