// The chart's pod as `podman kube play` runs it: reads `helm template`'s
// output on stdin, writes a ConfigMap and one Pod (the StatefulSet's pod
// template, as the StatefulSet controller would make pod 0) on stdout.
//
//   node pod-from-chart.mjs NODE_MODULES POD_NAME CLAIM_DIR EMPTY_DIRS HOST_PORT < rendered.yaml
//
// podman kube play runs Pods, not StatefulSets, and differs from Kubernetes
// in two ways that the image suite must not mistake for the chart's doing:
// - the claim: the pod's volume "visits" becomes a hostPath to CLAIM_DIR
//   (the test makes it a root-owned 0755 folder, a volume that ignores
//   fsGroup as hostPath volumes do);
// - emptyDirs: podman makes them 0755 and root-owned, Kubernetes 0777, so
//   each becomes a hostPath to a new folder EMPTY_DIRS/NAME of mode 0777.
// nginx's http port is published on 127.0.0.1:HOST_PORT, and two podman
// quirks are worked around below (restartPolicy, annotations). Nothing else
// of the pod spec changes: security contexts, init containers, commands,
// probes and mounts are the chart's.
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [nodeModules, podName, claimDir, emptyDirs, hostPort] = process.argv.slice(2);
const YAML = createRequire(join(nodeModules, 'index.js'))('yaml');
const docs = YAML.parseAllDocuments(readFileSync(0, 'utf8')).map((d) => d.toJS()).filter(Boolean);
const sts = docs.find((d) => d.kind === 'StatefulSet');
const configMaps = docs.filter((d) => d.kind === 'ConfigMap');
if (!sts) throw new Error('no StatefulSet in the rendered chart');

const spec = structuredClone(sts.spec.template.spec);
const claim = (sts.spec.volumeClaimTemplates ?? []).find((t) => t.metadata.name === 'visits');
spec.volumes = (spec.volumes ?? []).map((v) => {
    if (!v.emptyDir) return v;
    const path = join(emptyDirs, v.name);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o777);
    return { name: v.name, hostPath: { path, type: 'Directory' } };
});
if (claim) spec.volumes.push({ name: 'visits', hostPath: { path: claimDir, type: 'Directory' } });
// podman 4.3 gives init containers the pod's restartPolicy, and Always
// restarts a finished one for ever (podman #16343; the kubelet runs it once):
// Never, which also leaves a failed container's exit code to be read (where
// Kubernetes would restart it: CrashLoopBackOff).
spec.restartPolicy = 'Never';
const nginx = spec.containers.find((c) => c.name === 'nginx');
for (const p of nginx.ports ?? []) if (p.name === 'http') Object.assign(p, { hostPort: Number(hostPort), hostIP: '127.0.0.1' });

// podman 4.3 refuses annotation values over 63 characters (a label's limit,
// not an annotation's): checksum/config is left out.
const annotations = Object.fromEntries(Object.entries(sts.spec.template.metadata.annotations ?? {}).filter(([, v]) => String(v).length <= 63));
// podman 4.3 removes a finished init container of its default type "once"
// and may try while it is still running ("failed to remove once init
// container ... as it is running"): type "always" keeps it, as the kubelet does.
annotations['io.podman.annotations.init.container.type'] = 'always';
const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: podName, labels: sts.spec.template.metadata.labels, annotations },
    spec,
};
process.stdout.write([...configMaps, pod].map((d) => `---\n${YAML.stringify(d)}`).join(''));
