// Assertions on the objects the chart renders for one value set. Each rule
// takes the render (objects, the effective values, facts read from the
// repository) and returns its problems: [] means the rule holds.
import { createHash } from 'node:crypto';
import { dirname, posix } from 'node:path';

import { deepEqual, effectiveConfig, isMap, keySet, parseIni } from './util.mjs';

// The image's contract (Dockerfile, scripts/start-nginx.sh), fixed.
export const CONTRACT = {
    uid: 10001,
    gid: 10001,
    // nginx's metrics port (metrics-listen.conf in the image): /metrics and
    // the cluster answer in full; the public port answers 404 for /metrics.
    metricsPort: 9113,
    nginxCommand: ['moscow-time-nginx', '/run/moscow-time'],
    responderCommand: ['moscow-time', '--config', '/etc/moscow-time/config/config.ini'],
    // The responder's exec probe: `moscow-time --probe CONFIG SECONDS`.
    probeCommand: (timeoutSeconds) => ['moscow-time', '--probe', '/etc/moscow-time/config/config.ini', String(Math.max(1, timeoutSeconds - 1))],
    dataDir: '/data',
    unusedCommand: 'moscow-time-serve',
};

// The chart's resources presets (values.yaml, the README's preset table):
// [cpu request, cpu limit] by preset, memory [request, limit] for all.
export const PRESETS = {
    nginx: { memory: ['128Mi', '192Mi'], small: ['100m', '500m'], medium: ['250m', '1'], large: ['500m', '2'] },
    responder: { memory: ['32Mi', '48Mi'], small: ['50m', '500m'], medium: ['100m', '1'], large: ['250m', '2'] },
};

// The resources the values give a container of the chart: its resources,
// else its preset, else (none) nothing.
export function resourcesOf(values, name) {
    const v = values[name];
    if (v.resources && Object.keys(v.resources).length) return v.resources;
    if (v.resourcesPreset === 'none') return undefined;
    const p = PRESETS[name];
    const cpu = p[v.resourcesPreset];
    return { requests: { cpu: cpu[0], memory: p.memory[0] }, limits: { cpu: cpu[1], memory: p.memory[1] } };
}

// A Kubernetes quantity ("256Mi", "1G", "500m", "2") as a number; NaN if it is none.
export function quantity(q) {
    const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q ?? ''));
    if (!m) return NaN;
    const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]] ?? 1;
    return Number(m[1]) * unit;
}

// Problems of resources the chart itself chose (a preset, the init and test
// containers): requests and limits for cpu and memory; the memory limit at
// least the request and at most twice it (a container using more than it
// asked for is the first a node under memory pressure kills; Bitnami's
// presets allow half as much again); the cpu request at most the limit.
export function resourceProblems(id, res) {
    const p = [];
    for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) if (res?.[kind]?.[r] === undefined) p.push(`${id}: no ${kind}.${r}`);
    if (p.length) return p;
    const [mr, ml, cr, cl] = [res.requests.memory, res.limits.memory, res.requests.cpu, res.limits.cpu].map(quantity);
    if (!(ml >= mr && ml <= 2 * mr)) p.push(`${id}: memory request ${res.requests.memory}, limit ${res.limits.memory}: the limit should be between the request and twice it`);
    if (!(cr <= cl)) p.push(`${id}: cpu request ${res.requests.cpu} above its limit ${res.limits.cpu}`);
    return p;
}

// Whether the values adapt the security contexts to OpenShift in a render
// without the security.openshift.io/v1 API (only force does there).
export function openshiftForced(values) {
    return values.global?.compatibility?.openshift?.adaptSecurityContext === 'force';
}

// The Pod Security Standards level a pod spec meets: "restricted",
// "baseline" or "privileged" (the controls of
// kubernetes.io/docs/concepts/security/pod-security-standards, for the
// fields this chart can render).
const BASELINE_CAPS = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
export function podSecurityLevel(spec) {
    const why = { baseline: [], restricted: [] };
    const psc = spec.securityContext ?? {};
    const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) why.baseline.push('host namespaces');
    for (const v of spec.volumes ?? []) {
        if (v.hostPath) why.baseline.push(`volume ${v.name}: hostPath`);
        if (!RESTRICTED_VOLUMES.some((t) => v[t] !== undefined)) why.restricted.push(`volume ${v.name}: a type restricted does not allow`);
    }
    if (!['RuntimeDefault', 'Localhost', undefined].includes(psc.seccompProfile?.type)) why.baseline.push('pod seccompProfile Unconfined');
    for (const c of containers) {
        const sc = c.securityContext ?? {};
        const id = c.name;
        if (sc.privileged) why.baseline.push(`${id}: privileged`);
        if ((c.ports ?? []).some((x) => x.hostPort)) why.baseline.push(`${id}: hostPort`);
        const add = sc.capabilities?.add ?? [];
        if (add.some((x) => !BASELINE_CAPS.includes(x))) why.baseline.push(`${id}: adds ${add.join(', ')}`);
        if (sc.seccompProfile?.type === 'Unconfined') why.baseline.push(`${id}: seccompProfile Unconfined`);
        if (sc.allowPrivilegeEscalation !== false) why.restricted.push(`${id}: allowPrivilegeEscalation not false`);
        if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) why.restricted.push(`${id}: runAsNonRoot not true`);
        if ((sc.runAsUser ?? psc.runAsUser) === 0) why.restricted.push(`${id}: runAsUser 0`);
        if (!['RuntimeDefault', 'Localhost'].includes((sc.seccompProfile ?? psc.seccompProfile)?.type)) why.restricted.push(`${id}: no seccompProfile RuntimeDefault`);
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) why.restricted.push(`${id}: capabilities do not drop ALL`);
        if (add.some((x) => x !== 'NET_BIND_SERVICE')) why.restricted.push(`${id}: adds ${add.join(', ')}`);
    }
    if (why.baseline.length) return { level: 'privileged', why: why.baseline };
    if (why.restricted.length) return { level: 'baseline', why: why.restricted };
    return { level: 'restricted', why: [] };
}

// A label value the API server accepts: at most 63 characters, A-Z a-z 0-9
// - _ . inside, a letter or digit at both ends (or empty).
export function validLabelValue(v) {
    return typeof v === 'string' && v.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v);
}

const STANDARD_LABELS = ['helm.sh/chart', 'app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by'];

// ---------------------------------------------------------------- lookups

export function find(objs, kind, pred = () => true) {
    return objs.filter((o) => o?.kind === kind && pred(o));
}

function sts(r) {
    const all = find(r.objs, 'StatefulSet');
    if (all.length !== 1) throw new Error(`expected one StatefulSet, found ${all.length}`);
    return all[0];
}

function podSpec(r) {
    return sts(r).spec?.template?.spec ?? {};
}

function container(r, name) {
    const c = (podSpec(r).containers ?? []).find((x) => x.name === name);
    if (!c) throw new Error(`no container "${name}" in the StatefulSet`);
    return c;
}

function headless(r) {
    return find(r.objs, 'Service', (s) => s.spec?.clusterIP === 'None');
}

function mainService(r) {
    return find(r.objs, 'Service', (s) => s.spec?.clusterIP !== 'None');
}

function configMap(r) {
    const volume = (podSpec(r).volumes ?? []).find((v) => v.configMap);
    const name = volume?.configMap?.name;
    const cm = find(r.objs, 'ConfigMap', (c) => c.metadata?.name === name);
    if (cm.length !== 1) throw new Error(`the pod's configMap volume names "${name}", which is not rendered`);
    return cm[0];
}

// Mount of `path` in container c: the mount whose mountPath is path or its
// deepest parent, with its volume.
function mountOf(r, c, path) {
    let best = null;
    for (const m of c.volumeMounts ?? []) {
        const mp = m.mountPath.replace(/\/+$/, '');
        if ((path === mp || path.startsWith(`${mp}/`)) && (!best || mp.length > best.mountPath.length)) best = m;
    }
    if (!best) return null;
    const volume = (podSpec(r).volumes ?? []).find((v) => v.name === best.name) ?? (sts(r).spec.volumeClaimTemplates ?? []).find((v) => v.metadata?.name === best.name);
    return { ...best, volume };
}

// The image reference the values ask for: [registry/]repository, @digest or :tag.
export function imageOf(image, global, defaultTag) {
    const registry = global?.imageRegistry || image.registry;
    const name = registry ? `${registry}/${image.repository}` : image.repository;
    return image.digest ? `${name}@${image.digest}` : `${name}:${image.tag || defaultTag}`;
}

function pullSecretsOf(values) {
    const names = [];
    for (const s of [...(values.global?.imagePullSecrets ?? []), ...(values.imagePullSecrets ?? [])]) {
        const n = typeof s === 'string' ? s : s?.name;
        if (n && !names.includes(n)) names.push(n);
    }
    return names.map((name) => ({ name }));
}

export function namespaceOf(r) {
    return r.values.namespaceOverride || r.namespace;
}

// The names of the pod's containers that the chart itself defines.
const OWN = ['nginx', 'responder'];

function check(problems, cond, message) {
    if (!cond) problems.push(message);
}

function same(problems, what, got, want) {
    if (!deepEqual(got, want)) problems.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

// Whether an object's labels include all of want.
function hasLabels(labels, want) {
    return Object.entries(want ?? {}).every(([k, v]) => labels?.[k] === v);
}

// ---------------------------------------------------------------- rules

export const rules = {
    // metrics.enabled: scrape annotations; the Prometheus Operator's objects only when asked.
    metrics(r) {
        const p = [];
        const m = r.values.metrics ?? {};
        const ann = sts(r).spec.template.metadata?.annotations ?? {};
        const scraped = ann['prometheus.io/scrape'] === 'true' && ann['prometheus.io/port'] === String(CONTRACT.metricsPort) && ann['prometheus.io/path'] === '/metrics';
        check(p, scraped === Boolean(m.enabled && m.scrapeAnnotations), `prometheus.io annotations (scrape "true", port "${CONTRACT.metricsPort}", path /metrics) ${scraped ? 'present' : 'absent'} with metrics.enabled=${m.enabled}, scrapeAnnotations=${m.scrapeAnnotations}: ${JSON.stringify(Object.fromEntries(Object.entries(ann).filter(([k]) => k.startsWith('prometheus.io/'))))}`);
        // The metrics port: a port of the nginx container named metrics, on
        // the headless service (what the ServiceMonitor scrapes), never on
        // the public service.
        const named = (container(r, 'nginx').ports ?? []).find((x) => x.name === 'metrics');
        same(p, 'nginx container port "metrics"', named && [named.containerPort, named.protocol], [CONTRACT.metricsPort, 'TCP']);
        const hm = (headless(r)[0]?.spec?.ports ?? []).find((x) => x.name === 'metrics');
        same(p, 'headless service port "metrics"', hm && [hm.port, hm.targetPort], [CONTRACT.metricsPort, 'metrics']);
        for (const svc of mainService(r)) {
            const open = (svc.spec.ports ?? []).filter((x) => x.name === 'metrics' || x.targetPort === 'metrics' || x.targetPort === CONTRACT.metricsPort);
            check(p, open.length === 0, `Service/${svc.metadata.name} (public) exposes the metrics port: ${JSON.stringify(open)}`);
        }
        if (!m.enabled) check(p, !Object.keys(ann).some((k) => k.startsWith('prometheus.io/')), 'metrics off, yet prometheus.io annotations');
        const sms = find(r.objs, 'ServiceMonitor');
        check(p, sms.length === (m.enabled && m.serviceMonitor?.enabled ? 1 : 0), `${sms.length} ServiceMonitor(s) with metrics.enabled=${m.enabled}, serviceMonitor.enabled=${m.serviceMonitor?.enabled}`);
        for (const sm of sms) {
            const sel = sm.spec?.selector?.matchLabels ?? {};
            const picks = (svc) => Object.entries(sel).every(([k, v]) => svc.metadata?.labels?.[k] === v);
            const svcs = find(r.objs, 'Service');
            const picked = svcs.filter(picks).map((x) => x.metadata.name);
            same(p, 'Services the ServiceMonitor selects (each pod once: the headless one)', picked, [headless(r)[0]?.metadata.name]);
            const ep = sm.spec?.endpoints ?? [];
            check(p, ep.length === 1 && ep[0].port === 'metrics' && hm && ep[0].path === '/metrics', `ServiceMonitor endpoints ${JSON.stringify(ep)}, expected port metrics (the headless service's ${CONTRACT.metricsPort}), path /metrics`);
            check(p, ep[0]?.interval === m.serviceMonitor.interval && ep[0]?.scrapeTimeout === m.serviceMonitor.scrapeTimeout, 'ServiceMonitor interval and scrapeTimeout as in values');
            same(p, 'ServiceMonitor namespaceSelector', sm.spec?.namespaceSelector?.matchNames, [namespaceOf(r)]);
            for (const [k, v] of Object.entries(m.serviceMonitor.labels ?? {})) check(p, sm.metadata.labels?.[k] === v, `ServiceMonitor lacks label ${k}`);
        }
        const prs = find(r.objs, 'PrometheusRule');
        check(p, prs.length === (m.enabled && m.prometheusRule?.enabled ? 1 : 0), `${prs.length} PrometheusRule(s) with metrics.enabled=${m.enabled}, prometheusRule.enabled=${m.prometheusRule?.enabled}`);
        for (const pr of prs) {
            const alerts = (pr.spec?.groups ?? []).flatMap((g) => (g.rules ?? []).map((x) => x.alert)).sort();
            same(p, 'alerts', alerts, ['MoscowTimeCounterWritesFailing', 'MoscowTimeFsyncFailing', 'MoscowTimePeerUnreachable', 'MoscowTimePodNotReady']);
            const full = sts(r).metadata.name;
            for (const rule of pr.spec.groups.flatMap((g) => g.rules)) {
                check(p, rule.expr.includes(`namespace="${namespaceOf(r)}"`) && rule.expr.includes(`pod=~"${full}-[0-9]+"`), `${rule.alert}: not limited to this release's pods: ${rule.expr}`);
            }
            for (const [k, v] of Object.entries(m.prometheusRule.labels ?? {})) check(p, pr.metadata.labels?.[k] === v, `PrometheusRule lacks label ${k}`);
        }
        return p;
    },

    // StatefulSet fields from the values, two containers of the one image.
    statefulset(r) {
        const p = [];
        const s = sts(r);
        const v = r.values;
        same(p, 'spec.replicas', s.spec.replicas, v.replicaCount);
        same(p, 'spec.podManagementPolicy', s.spec.podManagementPolicy, v.podManagementPolicy);
        same(p, 'spec.updateStrategy.type', s.spec.updateStrategy?.type, v.updateStrategy.type);
        if (v.updateStrategy.type === 'RollingUpdate') {
            same(p, 'spec.updateStrategy.rollingUpdate.partition', s.spec.updateStrategy?.rollingUpdate?.partition, v.updateStrategy.rollingUpdate.partition);
        }
        same(p, 'spec.minReadySeconds', s.spec.minReadySeconds, v.minReadySeconds);
        same(p, 'spec.revisionHistoryLimit', s.spec.revisionHistoryLimit, v.revisionHistoryLimit);
        const hs = headless(r);
        check(p, hs.length === 1, `expected one headless service, found ${hs.length}`);
        same(p, 'spec.serviceName (the headless service)', s.spec.serviceName, hs[0]?.metadata?.name);
        const names = (s.spec.template.spec.containers ?? []).map((c) => c.name);
        same(p, 'containers', names, [...OWN, ...(v.sidecars ?? []).map((c) => c.name)]);
        const vp = v.volumePermissions?.enabled && v.persistence.enabled ? ['volume-permissions'] : [];
        same(p, 'initContainers', (s.spec.template.spec.initContainers ?? []).map((c) => c.name), [...vp, ...(v.initContainers ?? []).map((c) => c.name)]);
        // kubectl exec / logs without -c land in the responder, which has /data.
        same(p, 'pod annotation kubectl.kubernetes.io/default-container', s.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/default-container'], 'responder');
        const image = imageOf(v.image, v.global, r.appVersion);
        for (const c of (s.spec.template.spec.containers ?? []).filter((x) => OWN.includes(x.name))) {
            same(p, `${c.name}: image`, c.image, image);
            same(p, `${c.name}: imagePullPolicy`, c.imagePullPolicy, v.image.pullPolicy);
            check(p, !(c.command ?? []).concat(c.args ?? []).some((a) => String(a).includes(CONTRACT.unusedCommand)), `${c.name}: runs ${CONTRACT.unusedCommand}, meant for docker run only`);
        }
        same(p, 'nginx: command', container(r, 'nginx').command, v.nginx.command?.length ? v.nginx.command : CONTRACT.nginxCommand);
        same(p, 'responder: command', container(r, 'responder').command, v.responder.command?.length ? v.responder.command : CONTRACT.responderCommand);
        for (const c of OWN) same(p, `${c}: args`, container(r, c).args ?? [], v[c].args ?? []);
        same(p, 'imagePullSecrets (global and own, each once)', s.spec.template.spec.imagePullSecrets ?? [], pullSecretsOf(v));
        return p;
    },

    // Names, labels and selectors hold together, and stay valid upgrade after upgrade.
    labels(r) {
        const p = [];
        const s = sts(r);
        const selector = s.spec.selector?.matchLabels ?? {};
        same(p, 'selector label keys', Object.keys(selector).sort(), ['app.kubernetes.io/instance', 'app.kubernetes.io/name']);
        check(p, hasLabels(s.spec.template.metadata?.labels, selector), 'the pod template lacks the selector labels');
        check(p, s.metadata.name.length <= 52, `StatefulSet name "${s.metadata.name}" is longer than 52 (controller-revision-hash label)`);
        for (const o of r.objs) {
            const id = `${o.kind}/${o.metadata?.name}`;
            const name = o.metadata?.name ?? '';
            check(p, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63, `${id}: not a valid DNS label name`);
            check(p, o.metadata?.namespace === namespaceOf(r), `${id}: namespace ${o.metadata?.namespace}, expected ${namespaceOf(r)} (namespaceOverride or the release's)`);
            for (const l of STANDARD_LABELS) check(p, typeof o.metadata?.labels?.[l] === 'string', `${id}: no label ${l}`);
            const labelSets = [o.metadata?.labels, o.spec?.template?.metadata?.labels, ...(o.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata?.labels)];
            for (const [k, val] of labelSets.flatMap((x) => Object.entries(x ?? {}))) check(p, validLabelValue(val), `${id}: label ${k}: ${JSON.stringify(val)} is not a valid label value (63 characters of A-Z a-z 0-9 - _ ., a letter or digit at both ends)`);
            check(p, hasLabels(o.metadata?.labels, r.values.commonLabels), `${id}: lacks commonLabels`);
            check(p, hasLabels(o.metadata?.annotations, r.values.commonAnnotations), `${id}: lacks commonAnnotations`);
        }
        // Every selector of the release selects its StatefulSet's pods and no other pod.
        const selectors = [
            ...find(r.objs, 'Service').map((o) => [`Service/${o.metadata.name}`, o.spec.selector]),
            ...find(r.objs, 'PodDisruptionBudget').map((o) => [`PodDisruptionBudget/${o.metadata.name}`, o.spec.selector?.matchLabels]),
            ...find(r.objs, 'NetworkPolicy').map((o) => [`NetworkPolicy/${o.metadata.name}`, o.spec.podSelector?.matchLabels]),
            [`StatefulSet/${s.metadata.name}`, selector],
        ];
        for (const pod of find(r.objs, 'Pod')) {
            for (const [who, sel] of selectors) check(p, !(sel && Object.keys(sel).length && hasLabels(pod.metadata?.labels, sel)), `${who} selects Pod/${pod.metadata.name} (its labels carry the selector labels)`);
        }
        check(p, hasLabels(s.spec.template.metadata?.labels, r.values.podLabels), 'the pods lack podLabels');
        for (const svc of find(r.objs, 'Service')) same(p, `Service/${svc.metadata.name}: selector`, svc.spec.selector, selector);
        for (const pdb of find(r.objs, 'PodDisruptionBudget')) same(p, 'PodDisruptionBudget selector', pdb.spec.selector?.matchLabels, selector);
        for (const np of find(r.objs, 'NetworkPolicy')) same(p, 'NetworkPolicy podSelector', np.spec.podSelector?.matchLabels, selector);
        // Kubernetes forbids changing volumeClaimTemplates: nothing there may
        // change with the chart or app version.
        for (const t of s.spec.volumeClaimTemplates ?? []) same(p, `volumeClaimTemplates ${t.metadata?.name}: labels`, t.metadata?.labels, selector);
        for (const [k, val] of Object.entries(r.values.podAnnotations ?? {})) same(p, `pod annotation ${k}`, s.spec.template.metadata?.annotations?.[k], val);
        return p;
    },

    // The visits volume: a claim per pod, or an emptyDir; mounted at /data.
    persistence(r) {
        const p = [];
        const s = sts(r);
        const v = r.values.persistence;
        const templates = s.spec.volumeClaimTemplates ?? [];
        const podVolume = (s.spec.template.spec.volumes ?? []).find((x) => x.name === 'visits');
        if (v.enabled) {
            same(p, 'volumeClaimTemplates names', templates.map((t) => t.metadata?.name), ['visits']);
            const t = templates[0] ?? {};
            same(p, 'claim size', t.spec?.resources?.requests?.storage, v.size);
            same(p, 'claim accessModes', t.spec?.accessModes, v.accessModes);
            const sc = v.storageClass === '' || v.storageClass === undefined ? undefined : v.storageClass === '-' ? '' : v.storageClass;
            same(p, 'claim storageClassName', t.spec?.storageClassName, sc);
            same(p, 'claim annotations', t.metadata?.annotations ?? {}, v.annotations ?? {});
            check(p, !podVolume, 'a pod volume "visits" hides the claim');
            same(p, 'persistentVolumeClaimRetentionPolicy', s.spec.persistentVolumeClaimRetentionPolicy ?? {}, v.retentionPolicy ?? {});
        } else {
            same(p, 'volumeClaimTemplates', templates, []);
            check(p, podVolume?.emptyDir !== undefined, 'no emptyDir "visits" with persistence off');
        }
        const m = mountOf(r, container(r, 'responder'), CONTRACT.dataDir);
        check(p, m?.name === 'visits' && m.mountPath === CONTRACT.dataDir, `responder: ${CONTRACT.dataDir} is not the visits volume's mount`);
        check(p, !(container(r, 'nginx').volumeMounts ?? []).some((x) => x.name === 'visits'), 'nginx mounts the visits volume');
        same(p, 'fsGroup (the volume writable by the image user; OpenShift assigns its own)', s.spec.template.spec.securityContext?.fsGroup, openshiftForced(r.values) ? undefined : CONTRACT.gid);
        const init = (s.spec.template.spec.initContainers ?? []).find((c) => c.name === 'volume-permissions');
        if (init) {
            const m = (init.volumeMounts ?? []).find((x) => x.mountPath === CONTRACT.dataDir);
            check(p, m?.name === 'visits', `volume-permissions: ${CONTRACT.dataDir} is not the visits volume`);
            const script = [...(init.command ?? []), ...(init.args ?? [])].join(' ');
            check(p, script.includes(`chown -R ${CONTRACT.uid}:${CONTRACT.gid} ${CONTRACT.dataDir}`), `volume-permissions does not chown ${CONTRACT.dataDir} to ${CONTRACT.uid}:${CONTRACT.gid}: ${script}`);
            same(p, 'volume-permissions image (the chart\'s, nothing more to pull)', init.image, container(r, 'responder').image);
        }
        return p;
    },

    // config.ini in the ConfigMap: the values, the responder's keys, mounted read-only.
    config(r) {
        const p = [];
        const cm = configMap(r);
        const responder = container(r, 'responder');
        const argv = [...(responder.command ?? []), ...(responder.args ?? [])];
        const configPath = argv[argv.indexOf('--config') + 1];
        const file = posix.basename(configPath ?? '');
        const text = cm.data?.[file];
        if (typeof text !== 'string') return [`ConfigMap ${cm.metadata.name} has no key ${file}`];
        const ini = parseIni(text);
        p.push(...ini.problems.map((x) => `rendered config.ini: ${x}`));
        same(p, 'rendered config.ini keys vs fcgi-app/config.ini', keySet(ini.sections), r.iniKeys);
        const eff = effectiveConfig(r.values, sts(r).metadata.name);
        const want = Object.fromEntries(Object.entries(eff).map(([s, keys]) => [s, Object.fromEntries(Object.entries(keys).map(([k, val]) => [k, String(val)]))]));
        same(p, 'rendered config.ini values vs .Values.config (peers, discover and metrics as the chart renders them)', ini.sections, want);
        // Discovery by SRV names the headless service and one of its ports by name.
        const srv = /^_([A-Za-z0-9-]+)\._tcp\.([^.]+)$/.exec(ini.sections.cluster?.discover ?? '');
        if (srv && !r.values.config?.cluster?.discover) {
            const headless = r.objs.find((o) => o.kind === 'Service' && o.spec?.clusterIP === 'None');
            check(p, headless?.metadata?.name === srv[2], `[cluster] discover ${srv[0]}: no headless Service ${srv[2]}`);
            check(p, (headless?.spec?.ports ?? []).some((x) => x.name === srv[1]), `[cluster] discover ${srv[0]}: the headless Service has no port named ${srv[1]}`);
            check(p, headless?.spec?.publishNotReadyAddresses === true, `[cluster] discover ${srv[0]}: the headless Service does not publish not-ready addresses`);
        }
        const m = mountOf(r, responder, configPath);
        check(p, m?.volume?.configMap?.name === cm.metadata.name, `responder: ${configPath} is not on the ConfigMap's volume`);
        check(p, m?.mountPath === dirname(configPath), `responder: the ConfigMap is not mounted at ${dirname(configPath)}`);
        check(p, m?.readOnly === true, 'responder: the config mount is not readOnly');
        const ann = sts(r).spec.template.metadata?.annotations?.['checksum/config'];
        check(p, /^[0-9a-f]{64}$/.test(ann ?? ''), `pod annotation checksum/config: ${JSON.stringify(ann)}, expected a sha256`);
        return p;
    },

    // The socket, nginx's writable folders, the counter: on the right volumes.
    mounts(r) {
        const p = [];
        const nginx = container(r, 'nginx');
        const responder = container(r, 'responder');
        const cfg = r.values.config;
        const prefix = nginx.command?.[1] ?? '';
        const socket = posix.join(prefix, r.nginx.socket ?? '?');
        same(p, `[server] socket vs nginx.conf's upstream (${r.nginx.socket} under ${prefix})`, cfg.server.socket, socket);
        const ns = mountOf(r, nginx, socket);
        const rs = mountOf(r, responder, cfg.server.socket);
        check(p, ns && rs && ns.name === rs.name, `the socket folder ${dirname(socket)} is not one shared volume in both containers`);
        check(p, ns?.volume?.emptyDir !== undefined, 'the socket volume is not an emptyDir');
        check(p, ns?.mountPath === dirname(socket) && rs?.mountPath === dirname(socket), `the socket volume is not mounted at ${dirname(socket)} in both containers`);
        for (const rel of [r.nginx.pid, ...r.nginx.temps].filter(Boolean)) {
            const abs = posix.join(prefix, rel);
            const m = mountOf(r, nginx, abs);
            check(p, m?.volume?.emptyDir !== undefined && !m.readOnly, `nginx: ${abs} (nginx.conf) is not on a writable emptyDir`);
        }
        const tmps = [nginx, responder].map((c) => {
            const m = mountOf(r, c, '/tmp/x');
            check(p, m?.mountPath === '/tmp' && m.volume?.emptyDir !== undefined, `${c.name}: /tmp is not an emptyDir`);
            return m?.name;
        });
        check(p, tmps[0] !== tmps[1], `nginx and the responder share one /tmp (volume ${tmps[0]})`);
        for (const c of OWN) same(p, `${c}: extraVolumeMounts`, container(r, c).volumeMounts.filter((m) => (r.values[c].extraVolumeMounts ?? []).some((x) => x.name === m.name && x.mountPath === m.mountPath)), r.values[c].extraVolumeMounts ?? []);
        for (const v of r.values.extraVolumes ?? []) check(p, (podSpec(r).volumes ?? []).some((x) => deepEqual(x, v)), `extraVolumes: ${v.name} not in the pod`);
        const counter = mountOf(r, responder, cfg.counter.path);
        check(p, cfg.counter.path.startsWith(`${CONTRACT.dataDir}/`), `[counter] path ${cfg.counter.path} is not under ${CONTRACT.dataDir}/`);
        check(p, counter?.name === 'visits' && !counter.readOnly, `[counter] path ${cfg.counter.path} is not on the writable visits volume`);
        check(p, counter?.mountPath === dirname(cfg.counter.path), `[counter] path ${cfg.counter.path} is not directly in the visits mount (the responder creates no folders)`);
        // Every mount has its volume and every volume is used.
        const volumes = (podSpec(r).volumes ?? []).map((v) => v.name).concat((sts(r).spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
        const used = new Set();
        for (const c of [...(podSpec(r).initContainers ?? []), ...(podSpec(r).containers ?? [])]) {
            for (const m of c.volumeMounts ?? []) {
                used.add(m.name);
                check(p, volumes.includes(m.name), `${c.name}: mount ${m.mountPath} names no volume (${m.name})`);
            }
        }
        for (const v of volumes) check(p, used.has(v), `volume ${v} is mounted nowhere`);
        return p;
    },

    // Probes: where the values say. nginx's and the responder's readiness are
    // HTTP to nginx's port, never on a counting route; the responder's
    // startup and liveness probes are its own exec probe (moscow-time
    // --probe), which needs no nginx. A custom probe replaces the chart's.
    probes(r) {
        const p = [];
        const port = r.listenPort;
        const nginx = container(r, 'nginx');
        const named = Object.fromEntries((nginx.ports ?? []).map((x) => [x.name, x.containerPort]));
        same(p, 'nginx containerPort (listen.conf)', named.http, port);
        for (const cname of OWN) {
            const c = container(r, cname);
            for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
                const want = r.values[cname][kind];
                const custom = r.values[cname][`custom${kind[0].toUpperCase()}${kind.slice(1)}`];
                const got = c[kind];
                const id = `${cname}.${kind}`;
                if (custom && Object.keys(custom).length) {
                    same(p, `${id} (custom)`, got, custom);
                    continue;
                }
                if (!want.enabled) {
                    check(p, got === undefined, `${id}: disabled in the values but rendered`);
                    continue;
                }
                for (const f of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold', 'successThreshold']) same(p, `${id}.${f}`, got?.[f], want[f]);
                if (want.path === undefined) {
                    same(p, `${id}: exec (moscow-time --probe, no nginx)`, got?.exec?.command, CONTRACT.probeCommand(want.timeoutSeconds));
                    check(p, !got?.httpGet && !got?.tcpSocket, `${id}: goes through the network, not moscow-time --probe`);
                    continue;
                }
                if (!got?.httpGet) {
                    p.push(`${id}: enabled in the values but no httpGet probe rendered`);
                    continue;
                }
                const path = got.httpGet.path;
                const targetPort = typeof got.httpGet.port === 'string' ? (c.ports ?? []).find((x) => x.name === got.httpGet.port)?.containerPort : got.httpGet.port;
                check(p, targetPort === port, `${id}: port ${JSON.stringify(got.httpGet.port)} of container ${cname} is not nginx's ${port}`);
                same(p, `${id}: path`, path, want.path);
                p.push(...probeTarget(r, id, path));
            }
        }
        // The roles: nginx's liveness is nginx alone, its readiness reaches
        // the responder; the responder's liveness is its own (the exec probe).
        const role = (c, kind, wantFastcgi, what) => {
            const pr = container(r, c)[kind];
            if (!r.values[c][kind].enabled || !pr?.httpGet) return;
            const loc = exact(r, pr.httpGet.path);
            if (loc && loc.fastcgi !== wantFastcgi) p.push(`${c}.${kind} ${pr.httpGet.path}: ${what}`);
        };
        role('nginx', 'livenessProbe', false, 'goes to the responder; a dead responder would restart nginx');
        role('nginx', 'readinessProbe', true, 'is answered by nginx alone; readiness must reach the responder');
        return p;
    },

    // The `helm test` pod: /healthz, /readyz and /visits through the main
    // service, and no request that counts a visit.
    helmTest(r) {
        const p = [];
        const pods = find(r.objs, 'Pod', (o) => o.metadata?.annotations?.['helm.sh/hook'] === 'test');
        if (pods.length !== 1) return [`expected one helm test pod, found ${pods.length}`];
        const script = JSON.stringify(pods[0].spec.containers);
        const svc = mainService(r)[0];
        const base = `http://${svc?.metadata?.name}:${svc?.spec?.ports?.[0]?.port}`;
        for (const path of ['/healthz', '/readyz', '/visits', '/metrics']) {
            const url = `${base}${path}`;
            check(p, new RegExp(`${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w/])`).test(script), `the test pod does not GET ${url}`);
        }
        // /metrics through the public service must be refused (404), not answered.
        check(p, /if out=\$\(get [^)]*\/metrics 2>&1\); then[^\n]*exit 1; fi\\n[^\n]*grep -q 404/.test(script), 'the test pod does not require 404 for /metrics on the public port');
        for (const m of script.matchAll(/https?:\/\/[^\s"'\\]+/g)) {
            const path = new URL(m[0]).pathname;
            check(p, !r.countingPaths.includes(path), `the test pod requests ${m[0]}, which counts a visit`);
        }
        same(p, 'test pod restartPolicy', pods[0].spec.restartPolicy, 'Never');
        same(p, 'test pod image', pods[0].spec.containers?.[0]?.image, imageOf(r.values.tests.image, r.values.global, r.values.tests.image.tag));
        return p;
    },

    // Headless service for pod DNS, main service as the values say.
    services(r) {
        const p = [];
        const hs = headless(r);
        const ms = mainService(r);
        if (hs.length !== 1 || ms.length !== 1) return [`expected one headless and one main service, found ${hs.length} and ${ms.length}`];
        const h = hs[0];
        const m = ms[0];
        const v = r.values.service;
        same(p, 'headless publishNotReadyAddresses', h.spec.publishNotReadyAddresses, true);
        same(p, 'headless ports', h.spec.ports?.map((x) => [x.name, x.port, x.targetPort, x.protocol]), [['http', r.listenPort, 'http', 'TCP'], ['metrics', CONTRACT.metricsPort, 'metrics', 'TCP']]);
        same(p, 'service type', m.spec.type, v.type);
        same(p, 'service ports', m.spec.ports?.map((x) => [x.port, x.targetPort, x.protocol]), [[v.port, 'http', 'TCP']]);
        const common = r.values.commonAnnotations ?? {};
        same(p, 'service annotations', m.metadata.annotations ?? {}, { ...common, ...v.annotations });
        same(p, 'headless service annotations', h.metadata.annotations ?? {}, { ...common, ...r.values.headlessService.annotations });
        same(p, 'loadBalancerSourceRanges', m.spec.loadBalancerSourceRanges ?? [], v.type === 'LoadBalancer' ? v.loadBalancerSourceRanges : []);
        if (v.type !== 'ClusterIP') {
            same(p, 'nodePort', m.spec.ports?.[0]?.nodePort ?? null, v.nodePort ?? null);
            same(p, 'externalTrafficPolicy', m.spec.externalTrafficPolicy, v.externalTrafficPolicy);
        }
        const port = (container(r, 'nginx').ports ?? []).find((x) => x.name === 'http');
        same(p, "targetPort http: nginx's port", port?.containerPort, r.listenPort);
        return p;
    },

    // Non-root, read-only, no privileges, no API token.
    security(r) {
        const p = [];
        const pod = podSpec(r);
        const psc = pod.securityContext ?? {};
        // Adapted to OpenShift: no fixed uid, gid or fsGroup anywhere.
        const os = openshiftForced(r.values);
        same(p, 'pod runAsNonRoot', psc.runAsNonRoot, true);
        same(p, 'pod runAsUser', psc.runAsUser, os ? undefined : CONTRACT.uid);
        same(p, 'pod runAsGroup', psc.runAsGroup, os ? undefined : CONTRACT.gid);
        same(p, 'pod fsGroup', psc.fsGroup, os ? undefined : CONTRACT.gid);
        same(p, 'pod seccompProfile', psc.seccompProfile, { type: 'RuntimeDefault' });
        const pods = [{ who: 'StatefulSet', spec: pod }, ...find(r.objs, 'Pod').map((o) => ({ who: `Pod/${o.metadata.name}`, spec: o.spec }))];
        for (const { who, spec } of pods) {
            check(p, !spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${who}: uses a host namespace`);
            same(p, `${who}: automountServiceAccountToken`, spec.automountServiceAccountToken, false);
            for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
                const sc = c.securityContext ?? {};
                const id = `${who} ${c.name}`;
                if (os) for (const k of ['runAsUser', 'runAsGroup', 'fsGroup']) check(p, sc[k] === undefined && spec.securityContext?.[k] === undefined, `${id}: ${k} set although adapted to OpenShift`);
                if (c.name === 'volume-permissions' && who === 'StatefulSet') {
                    // The one exception, documented: root, to chown the claim.
                    same(p, `${id}: securityContext (values volumePermissions.containerSecurityContext)`, sc, r.values.volumePermissions.containerSecurityContext);
                    same(p, `${id}: capabilities.add (only what chown needs)`, [...(sc.capabilities?.add ?? [])].sort(), ['CHOWN', 'DAC_OVERRIDE', 'FOWNER']);
                    same(p, `${id}: readOnlyRootFilesystem, allowPrivilegeEscalation`, [sc.readOnlyRootFilesystem, sc.allowPrivilegeEscalation], [true, false]);
                    continue;
                }
                same(p, `${id}: readOnlyRootFilesystem`, sc.readOnlyRootFilesystem, true);
                same(p, `${id}: allowPrivilegeEscalation`, sc.allowPrivilegeEscalation, false);
                check(p, sc.privileged !== true, `${id}: privileged`);
                check(p, (sc.capabilities?.drop ?? []).includes('ALL'), `${id}: capabilities do not drop ALL`);
                same(p, `${id}: capabilities.add`, sc.capabilities?.add ?? [], []);
                check(p, (sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) === true, `${id}: not runAsNonRoot`);
                check(p, (sc.runAsUser ?? spec.securityContext?.runAsUser) !== 0, `${id}: runs as uid 0`);
                same(p, `${id}: seccompProfile`, (sc.seccompProfile ?? spec.securityContext?.seccompProfile)?.type, 'RuntimeDefault');
            }
        }
        for (const c of (pod.containers ?? []).filter((x) => OWN.includes(x.name))) {
            same(p, `${c.name}: runAsUser`, c.securityContext?.runAsUser ?? psc.runAsUser, os ? undefined : CONTRACT.uid);
        }
        // Pod Security Standards: "restricted", but for volumePermissions'
        // root init container, which makes the pods "baseline" (the README says so).
        const vp = r.values.volumePermissions?.enabled && r.values.persistence.enabled;
        const level = podSecurityLevel(pod);
        same(p, `Pod Security level of the StatefulSet's pods (${level.why.join('; ') || 'every control'})`, level.level, vp ? 'baseline' : 'restricted');
        for (const o of find(r.objs, 'Pod')) same(p, `Pod Security level of Pod/${o.metadata.name}`, podSecurityLevel(o.spec).level, 'restricted');
        const sa = r.values.serviceAccount;
        const accounts = find(r.objs, 'ServiceAccount');
        if (sa.create) {
            same(p, 'ServiceAccounts', accounts.length, 1);
            same(p, 'ServiceAccount automountServiceAccountToken', accounts[0]?.automountServiceAccountToken, false);
            same(p, 'pod serviceAccountName', pod.serviceAccountName, accounts[0]?.metadata?.name);
        } else {
            same(p, 'ServiceAccounts', accounts.length, 0);
            same(p, 'pod serviceAccountName', pod.serviceAccountName, sa.name || 'default');
        }
        return p;
    },

    // PodDisruptionBudget, NetworkPolicy and Ingress.
    availability(r) {
        const p = [];
        const v = r.values;
        const pdbs = find(r.objs, 'PodDisruptionBudget');
        if (v.pdb.create) {
            same(p, 'PodDisruptionBudgets', pdbs.length, 1);
            const spec = pdbs[0]?.spec ?? {};
            if (v.pdb.minAvailable !== '') {
                same(p, 'PDB minAvailable', spec.minAvailable, v.pdb.minAvailable);
                check(p, spec.maxUnavailable === undefined, 'PDB sets both minAvailable and maxUnavailable');
            } else {
                same(p, 'PDB maxUnavailable', spec.maxUnavailable, v.pdb.maxUnavailable === '' ? 1 : v.pdb.maxUnavailable);
                check(p, spec.minAvailable === undefined, 'PDB sets both minAvailable and maxUnavailable');
            }
            check(p, spec.maxUnavailable !== 0 && spec.maxUnavailable !== '0%', 'PDB maxUnavailable 0 blocks every drain');
        } else {
            same(p, 'PodDisruptionBudgets', pdbs.length, 0);
        }
        const nps = find(r.objs, 'NetworkPolicy');
        const np = v.networkPolicy;
        if (np.enabled) {
            same(p, 'NetworkPolicies', nps.length, 1);
            const spec = nps[0]?.spec ?? {};
            const self = sts(r).spec.selector.matchLabels;
            same(p, 'NetworkPolicy policyTypes', spec.policyTypes, ['Ingress', 'Egress']);
            const ingress = spec.ingress ?? [];
            // The metrics port: only from networkPolicy.metrics' peer; none: closed.
            const ms = np.metrics ?? {};
            const peer = {};
            if (Object.keys(ms.namespaceSelector ?? {}).length) peer.namespaceSelector = ms.namespaceSelector;
            if (Object.keys(ms.podSelector ?? {}).length) peer.podSelector = ms.podSelector;
            const metricsRules = Object.keys(peer).length ? [{ ports: [{ port: CONTRACT.metricsPort, protocol: 'TCP' }], from: [peer] }] : [];
            same(p, 'NetworkPolicy ingress rules', ingress.length, 1 + metricsRules.length + (np.extraIngress ?? []).length);
            same(p, 'NetworkPolicy ingress ports', ingress[0]?.ports, [{ port: r.listenPort, protocol: 'TCP' }]);
            same(p, 'NetworkPolicy ingress to the metrics port (networkPolicy.metrics)', ingress.slice(1, 1 + metricsRules.length), metricsRules);
            for (const rule of ingress.slice(0, 1 + metricsRules.length)) {
                const toMetrics = !rule.ports || rule.ports.some((x) => x.port === CONTRACT.metricsPort || x.port === 'metrics');
                check(p, !toMetrics || (rule.from ?? []).length > 0, `NetworkPolicy: the metrics port ${CONTRACT.metricsPort} open to anyone: ${JSON.stringify(rule)}`);
            }
            if (np.allowExternal) {
                check(p, ingress[0]?.from === undefined, 'NetworkPolicy: allowExternal, but port 8080 is open only to some peers');
            } else {
                const from = ingress[0]?.from ?? [];
                const client = `${sts(r).metadata.name}-client`;
                check(p, from.some((f) => deepEqual(f, { podSelector: { matchLabels: { [client]: 'true' } } })), `NetworkPolicy: pods labelled ${client}=true are not let in`);
                check(p, from.some((f) => deepEqual(f, { podSelector: { matchLabels: self } })), "NetworkPolicy: the release's own pods are not let in");
                if (Object.keys(np.ingressNSMatchLabels ?? {}).length) {
                    const peer = { namespaceSelector: { matchLabels: np.ingressNSMatchLabels } };
                    if (Object.keys(np.ingressNSPodMatchLabels ?? {}).length) peer.podSelector = { matchLabels: np.ingressNSPodMatchLabels };
                    check(p, from.some((f) => deepEqual(f, peer)), `NetworkPolicy: no peer ${JSON.stringify(peer)}`);
                }
                check(p, from.length > 0, 'NetworkPolicy: allowExternal false, but anyone may connect');
            }
            same(p, 'NetworkPolicy extraIngress', ingress.slice(1 + metricsRules.length), np.extraIngress ?? []);
            const egress = spec.egress ?? [];
            if (np.allowExternalEgress) {
                check(p, egress.some((e) => deepEqual(e, {})), 'NetworkPolicy: allowExternalEgress, but egress is restricted');
            } else {
                check(p, !egress.some((e) => !e.to && !e.ports), 'NetworkPolicy: egress unrestricted');
                // OpenShift's DNS pods listen on 5353 behind the Service's 53.
                const dns = [53, 5353].flatMap((port) => ['UDP', 'TCP'].map((protocol) => ({ port, protocol })));
                check(p, egress.some((e) => !e.to && deepEqual(e.ports, dns)), `NetworkPolicy: DNS (53 and 5353, UDP and TCP) not allowed out: ${JSON.stringify(egress.filter((e) => !e.to))}`);
                check(p, egress.some((e) => deepEqual(e.to, [{ podSelector: { matchLabels: self } }]) && deepEqual(e.ports, [{ port: r.listenPort, protocol: 'TCP' }])), "NetworkPolicy: the release's pods on 8080 (peers) not allowed out");
                for (const e of egress) {
                    const known = deepEqual(e.to, [{ podSelector: { matchLabels: self } }]) || (!e.to && (e.ports ?? []).every((x) => x.port === 53 || x.port === 5353)) || (np.extraEgress ?? []).some((x) => deepEqual(x, e));
                    check(p, known, `NetworkPolicy: egress rule ${JSON.stringify(e)} is not DNS, the peers or extraEgress`);
                }
            }
            for (const e of np.extraEgress ?? []) check(p, egress.some((x) => deepEqual(x, e)), `NetworkPolicy: extraEgress ${JSON.stringify(e)} missing`);
        } else {
            same(p, 'NetworkPolicies', nps.length, 0);
        }
        const ings = find(r.objs, 'Ingress');
        const ing = v.ingress;
        if (ing.enabled) {
            same(p, 'Ingresses', ings.length, 1);
            const spec = ings[0]?.spec ?? {};
            const svc = mainService(r)[0];
            same(p, 'Ingress class', spec.ingressClassName ?? '', ing.ingressClassName);
            same(p, 'Ingress tls', spec.tls ?? [], ing.tls);
            same(p, 'Ingress annotations', ings[0]?.metadata?.annotations ?? {}, { ...(v.commonAnnotations ?? {}), ...ing.annotations });
            const want = ing.hosts.map((h) => ({ host: h.host, http: { paths: h.paths.map((x) => ({ path: x.path, pathType: x.pathType, backend: { service: { name: svc?.metadata?.name, port: { number: svc?.spec?.ports?.[0]?.port } } } })) } }));
            same(p, 'Ingress rules (every path to the main service)', spec.rules, want);
        } else {
            same(p, 'Ingresses', ings.length, 0);
        }
        return p;
    },

    // Stopping: nginx leaves the endpoints first, the responder outlives it.
    termination(r) {
        const p = [];
        const pod = podSpec(r);
        const grace = pod.terminationGracePeriodSeconds;
        same(p, 'terminationGracePeriodSeconds', grace, r.values.terminationGracePeriodSeconds);
        const delay = (name) => {
            const cmd = container(r, name).lifecycle?.preStop?.exec?.command ?? [];
            if (cmd.length !== 2 || cmd[0] !== 'sleep' || !/^\d+$/.test(cmd[1])) {
                p.push(`${name}: preStop is ${JSON.stringify(cmd)}, expected ["sleep", "N"]`);
                return NaN;
            }
            return Number(cmd[1]);
        };
        const n = delay('nginx');
        const m = delay('responder');
        same(p, 'nginx preStop delay', n, r.values.nginx.preStopDelaySeconds);
        same(p, 'responder preStop delay', m, r.values.responder.preStopDelaySeconds);
        check(p, m >= n, `the responder (sleep ${m}) would stop before nginx (sleep ${n})`);
        check(p, grace >= m + 2, `terminationGracePeriodSeconds ${grace} leaves the responder under 2 s to flush after its ${m} s delay`);
        return p;
    },

    // Resources, scheduling and the other pass-through values.
    podSettings(r) {
        const p = [];
        const pod = podSpec(r);
        const v = r.values;
        const envFrom = [...(v.extraEnvVarsCM ? [{ configMapRef: { name: v.extraEnvVarsCM } }] : []), ...(v.extraEnvVarsSecret ? [{ secretRef: { name: v.extraEnvVarsSecret } }] : [])];
        for (const name of OWN) {
            const c = container(r, name);
            const want = resourcesOf(v, name);
            same(p, `${name}: resources (${Object.keys(v[name].resources ?? {}).length ? 'resources' : `resourcesPreset ${v[name].resourcesPreset}`})`, c.resources, want);
            if (!Object.keys(v[name].resources ?? {}).length && want) p.push(...resourceProblems(`${name} (preset ${v[name].resourcesPreset})`, c.resources));
            same(p, `${name}: env`, c.env ?? [], v.extraEnv);
            same(p, `${name}: envFrom (extraEnvVarsCM, extraEnvVarsSecret)`, c.envFrom ?? [], envFrom);
        }
        for (const sc of v.sidecars ?? []) same(p, `sidecar ${sc.name}`, (pod.containers ?? []).find((c) => c.name === sc.name), sc);
        for (const ic of v.initContainers ?? []) same(p, `initContainer ${ic.name}`, (pod.initContainers ?? []).find((c) => c.name === ic.name), ic);
        const vp = (pod.initContainers ?? []).find((c) => c.name === 'volume-permissions');
        if (vp) {
            same(p, 'volume-permissions: resources', vp.resources, v.volumePermissions.resources);
            p.push(...resourceProblems('volume-permissions', vp.resources));
        }
        for (const o of find(r.objs, 'Pod')) for (const c of o.spec.containers ?? []) p.push(...resourceProblems(`Pod/${o.metadata.name} ${c.name}`, c.resources));
        same(p, 'nodeSelector', pod.nodeSelector ?? {}, v.nodeSelector);
        same(p, 'tolerations', pod.tolerations ?? [], v.tolerations);
        const selectorLabels = sts(r).spec.selector.matchLabels;
        const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels } };
        let affinity = v.affinity;
        if (!Object.keys(affinity ?? {}).length) {
            if (v.podAntiAffinityPreset === 'soft') affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: term }] } };
            else if (v.podAntiAffinityPreset === 'hard') affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
        }
        same(p, `affinity (affinity, else podAntiAffinityPreset ${JSON.stringify(v.podAntiAffinityPreset)})`, pod.affinity ?? {}, affinity ?? {});
        const selector = sts(r).spec.selector.matchLabels;
        const tsc = r.values.topologySpreadConstraints.map((c) => (c.labelSelector ? c : { ...c, labelSelector: { matchLabels: selector } }));
        same(p, 'topologySpreadConstraints', pod.topologySpreadConstraints ?? [], tsc);
        same(p, 'priorityClassName', pod.priorityClassName ?? '', r.values.priorityClassName);
        return p;
    },
};

// Problems of a probe to `path`: it must be an exact location of nginx.conf
// that does not count a visit.
export function probeTarget(r, id, path) {
    const p = [];
    if (path === '/' || !path?.startsWith('/')) {
        p.push(`${id}: path ${JSON.stringify(path)} is the counting route`);
        return p;
    }
    const loc = exact(r, path);
    if (!loc) {
        p.push(`${id}: ${path} is no exact location of nginx.conf (it would fall to "location /" and fail)`);
        return p;
    }
    if (loc.fastcgi && r.countingPaths.includes(path)) p.push(`${id}: ${path} reaches the responder's counting route`);
    if (!loc.fastcgi && loc.returns !== 200) p.push(`${id}: nginx answers ${path} with ${loc.returns}, not 200`);
    return p;
}

function exact(r, path) {
    return r.nginx.locations.find((l) => l.modifier === '=' && l.path === path);
}

export function checksumOf(objs) {
    const s = find(objs, 'StatefulSet')[0];
    return s?.spec?.template?.metadata?.annotations?.['checksum/config'];
}

export function sha256(text) {
    return createHash('sha256').update(text).digest('hex');
}

export { isMap };
