// The chart's checks (tests/chart/run.sh installs the tools and runs this).
//
//   node check.mjs REPO_ROOT
//
// One line per check: "ok - name" or "not ok - name" and "# detail" lines;
// exit status 1 if any check failed. Environment (set by run.sh):
//   CHART_TEST_HELM, CHART_TEST_NODE_MODULES, CHART_TEST_CLIENT_MODELS,
//   CHART_TEST_YAMLLINT, CHART_TEST_RESPONDER (empty: not built);
//   CHART_TEST_TIMING=1 adds each check's time in ms.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { replaceTable, tableOf, valuesTable } from './lib/readme.mjs';
import { CONTRACT, PRESETS, checksumOf, imageOf, openshiftForced, podSecurityLevel, probeTarget, resourceProblems, rules, validLabelValue } from './lib/rules.mjs';
import { effectiveConfig, helmRunner, isMap, keySet, mergeValues, parseNginx, parsePrintConfig, parseYaml, printConfig, printKeys, run, yamlLib } from './lib/util.mjs';
import { Validator } from './lib/validate.mjs';

const top = process.argv[2];
const env = process.env;
const here = new URL('.', import.meta.url).pathname;
yamlLib(env.CHART_TEST_NODE_MODULES);
const scratch = mkdtempSync(join(tmpdir(), 'chart-test-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const helm = helmRunner(env.CHART_TEST_HELM, scratch);
const YAML = yamlLib(env.CHART_TEST_NODE_MODULES);
const validator = new Validator(env.CHART_TEST_NODE_MODULES, env.CHART_TEST_CLIENT_MODELS);
const RELEASE = 'mt';
const NAMESPACE = 'moscow';
// The responder counts a visit on "/" only (fcgi-app/src/routes.c, ROUTE_ROOT).
const COUNTING_PATHS = ['/'];

// The files the checks read; a bite test points some of them at broken copies.
const REAL = {
    chart: join(top, 'helm-chart/moscow-time'),
    configIni: join(top, 'fcgi-app/config.ini'),
    version: join(top, 'fcgi-app/VERSION'),
    nginxConf: join(top, 'nginx-conf/nginx.conf'),
    listenConf: join(top, 'nginx-conf/listen.conf'),
    metricsListenConf: join(top, 'nginx-conf/metrics-listen.conf'),
};

// ------------------------------------------------------------------ output

// Checks run in groups, concurrently (helm calls are the slow part); each
// group buffers its lines, printed in the order the groups were declared.
class Group {
    constructor() {
        this.out = [];
        this.failures = 0;
    }

    report(name, problems, skip) {
        if (skip) {
            this.out.push(`ok - ${name} # SKIP ${skip}`);
        } else if (problems.length === 0) {
            this.out.push(`ok - ${name}`);
        } else {
            this.failures++;
            this.out.push(`not ok - ${name}`);
            for (const line of problems.slice(0, 25).join('\n').split('\n')) this.out.push(`# ${line}`);
            if (problems.length > 25) this.out.push(`# ... and ${problems.length - 25} more`);
        }
    }

    async test(name, fn) {
        let problems;
        const t0 = Date.now();
        try {
            problems = await fn();
        } catch (e) {
            problems = [`exception: ${e?.stack ?? e}`];
        }
        if (problems && problems.skip) this.report(name, [], problems.skip);
        else this.report(name, problems ?? []);
        if (env.CHART_TEST_TIMING) this.out.push(`# ${Date.now() - t0} ms`);
    }
}

const groups = [];
function group(fn) {
    groups.push(fn);
}

const text = (f) => readFileSync(f, 'utf8');
const lines = (s, n = 12) => s.trim().split('\n').slice(-n);

// ------------------------------------------------------------------ facts

function facts(files) {
    // The keys and defaults as the responder has them (its key table), not
    // as a parser of our own reads the example file.
    const ini = printConfig(env.CHART_TEST_RESPONDER, files.configIni);
    const nginx = parseNginx(text(files.nginxConf));
    // "listen [addr:]port [parameters];", on a line of its own (not in a comment).
    const listen = /^\s*listen\s+(?:[^\s;]*:)?(\d+)(?:\s+[^;]*)?;/m.exec(text(files.listenConf));
    return {
        files,
        chart: files.chart,
        ini,
        iniKeys: keySet(ini.sections),
        keys: printKeys(env.CHART_TEST_RESPONDER),
        nginx,
        listenPort: listen ? Number(listen[1]) : null,
        appVersion: text(files.version).trim(),
        chartYaml: parseYaml(text(join(files.chart, 'Chart.yaml'))),
        defaults: tryParse(join(files.chart, 'values.yaml')),
        schema: JSON.parse(text(join(files.chart, 'values.schema.json'))),
    };
}

// values.yaml as helm reads it; when it does not parse, yamllint says why.
function tryParse(file) {
    try {
        return parseYaml(text(file)) ?? {};
    } catch {
        return {};
    }
}

// Copies of the chart (and repository files) with one change, for the bite tests.
function brokenCopy(edits) {
    const dir = mkdtempSync(join(scratch, 'broken-'));
    const files = { ...REAL, chart: join(dir, 'moscow-time') };
    cpSync(REAL.chart, files.chart, { recursive: true });
    for (const [key, rel, from, to] of edits) {
        let target;
        if (key === 'chart') {
            target = join(files.chart, rel);
        } else {
            target = join(dir, basename(REAL[key]));
            cpSync(REAL[key], target);
            files[key] = target;
        }
        const before = text(target);
        const after = typeof from === 'function' ? from(before) : before.replace(from, to);
        if (after === before) throw new Error(`bite test edit did not apply to ${rel ?? key}: ${from}`);
        writeFileSync(target, after);
    }
    return files;
}

// ------------------------------------------------------------------ rendering

async function render(f, { files = [], sets = [] } = {}) {
    const res = await helm.template(f.chart, { files, sets, release: RELEASE, namespace: NAMESPACE });
    let values = f.defaults;
    for (const file of files) values = mergeValues(values, parseYaml(text(file)) ?? {});
    for (const set of sets) values = setValue(values, set);
    return { res, objs: res.objs, values };
}

function ruleInput(f, rendered) {
    return {
        objs: rendered.objs,
        values: rendered.values,
        appVersion: f.chartYaml.appVersion,
        iniKeys: f.iniKeys,
        nginx: f.nginx,
        listenPort: f.listenPort,
        countingPaths: COUNTING_PATHS,
        namespace: NAMESPACE,
    };
}

async function apiProblems(objs) {
    const out = [];
    for (const o of objs) {
        for (const p of await validator.validate(o)) out.push(`${o?.kind}/${o?.metadata?.name}: ${p}`);
    }
    return out;
}

async function yamllint(config, paths, stdin) {
    const args = ['-f', 'parsable', '-c', join(here, config), ...paths];
    const r = await run(env.CHART_TEST_YAMLLINT, stdin === undefined ? args : [...args, '-'], { input: stdin });
    return r.status === 0 ? [] : lines(r.stdout + r.stderr, 30);
}

// ------------------------------------------------------------------ global checks

// A Kubernetes memory quantity ("256Mi", "1G", "500000") in bytes; NaN if it is none.
function quantityBytes(q) {
    const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q ?? ''));
    if (!m) return NaN;
    const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]] ?? 1;
    return Number(m[1]) * unit;
}

const globalChecks = {
    chartMetadata(f) {
        const p = [];
        const c = f.chartYaml;
        if (c.apiVersion !== 'v2') p.push(`apiVersion ${c.apiVersion}, expected v2`);
        if (c.name !== 'moscow-time') p.push(`name ${c.name}, expected moscow-time`);
        if (c.type !== 'application') p.push(`type ${c.type}, expected application`);
        if (c.appVersion !== f.appVersion) p.push(`appVersion ${JSON.stringify(c.appVersion)} but fcgi-app/VERSION is ${f.appVersion}`);
        if (!/^\d+\.\d+\.\d+/.test(c.version ?? '')) p.push(`version ${c.version} is not SemVer`);
        if (!/^(https:\/\/|data:image\/)/.test(c.icon ?? '')) p.push('no icon (an https: or data:image/ URL)');
        if (!(c.keywords?.length >= 3)) p.push('fewer than 3 keywords');
        if (!c.maintainers?.length || c.maintainers.some((m) => !m.name)) p.push('no maintainers with a name');
        for (const u of [c.home, ...(c.sources ?? [])].filter((x) => x !== undefined)) if (!/^https:\/\//.test(u)) p.push(`home/sources ${u} is not an https URL`);
        if (!c.kubeVersion) p.push('no kubeVersion');
        return p;
    },

    async yamllintSources(f) {
        return yamllint('yamllint.yaml', [join(f.chart, 'Chart.yaml'), join(f.chart, 'values.yaml')]);
    },

    // values.yaml's config carries exactly fcgi-app/config.ini's keys and defaults.
    configKeysValues(f) {
        const p = [];
        const ini = f.ini;
        p.push(...ini.problems.map((x) => `--print-config fcgi-app/config.ini: ${x}`));
        // config's sections, and [metrics] enabled, which the chart takes from metrics.enabled.
        const cfg = Object.fromEntries(Object.entries(f.defaults.config ?? {}).filter(([, v]) => isMap(v)));
        cfg.metrics = { enabled: f.defaults.metrics?.enabled };
        const chartKeys = keySet(cfg);
        const missing = f.iniKeys.filter((k) => !chartKeys.includes(k));
        const extra = chartKeys.filter((k) => !f.iniKeys.includes(k));
        if (missing.length) p.push(`in the responder (--print-config fcgi-app/config.ini), not in values.yaml config: ${missing.join(', ')}`);
        if (extra.length) p.push(`in values.yaml config, not in the responder (--print-config): ${extra.join(', ')}`);
        for (const [s, keys] of Object.entries(ini.sections)) {
            for (const [k, v] of Object.entries(keys)) {
                const mine = cfg[s]?.[k];
                if (mine !== undefined && String(mine) !== v) p.push(`[${s}] ${k}: values.yaml has ${JSON.stringify(mine)}, the responder's default (--print-config fcgi-app/config.ini) is ${JSON.stringify(v)}`);
            }
        }
        return p;
    },

    // The checksum/config annotation leaves out [cluster] peers always (a list is
    // taken live) and, with config.reload live, exactly the keys the responder
    // takes on a reload: its key table says which (--print-keys), not a copy here.
    checksumLiveKeys(f) {
        const p = f.keys.problems.map((x) => `--print-keys: ${x}`);
        const tpl = text(join(f.chart, 'templates/_helpers.tpl'));
        const block = tpl.split('{{- define "moscow-time.configChecksum" -}}')[1]?.split('{{- define')[0];
        if (block === undefined) return [...p, 'templates/_helpers.tpl: no define "moscow-time.configChecksum"'];
        const [always, rest] = block.split('{{- if eq .Values.config.reload "live" -}}');
        if (rest === undefined) return [...p, 'moscow-time.configChecksum: no {{- if eq .Values.config.reload "live" -}} block'];
        const unsets = (t) => [...t.matchAll(/unset \$c\.(\w+) "(\w+)"/g)].map((m) => `[${m[1]}] ${m[2]}`).sort();
        const a = unsets(always);
        const l = unsets(rest.split('{{- end -}}')[0]);
        if (JSON.stringify(a) !== JSON.stringify(['[cluster] peers'])) p.push(`left out of the checksum whatever config.reload is: ${a.join(', ') || 'nothing'}; expected [cluster] peers alone`);
        const live = f.keys.live.filter((k) => k !== '[cluster] peers');
        const rolls = live.filter((k) => !l.includes(k));
        const never = l.filter((k) => !live.includes(k));
        if (rolls.length) p.push(`live in the responder (--print-keys), yet a change of it rolls the pods with config.reload live: ${rolls.join(', ')}`);
        if (never.length) p.push(`needs a restart (--print-keys), yet left out of the checksum with config.reload live, so a change of it never reaches the pods: ${never.join(', ')}`);
        return p;
    },

    // values.schema.json's config: the same keys, every section closed.
    configKeysSchema(f) {
        const p = [];
        const cfg = f.schema.properties?.config;
        if (!cfg || cfg.additionalProperties !== false) p.push('config: unknown sections are not rejected (additionalProperties is not false)');
        // Its sections (config.reload is the chart's own string), and metrics.enabled for [metrics] enabled.
        const sections = Object.fromEntries(Object.entries(cfg?.properties ?? {}).filter(([, v]) => v.type === 'object'));
        const derived = { metrics: f.schema.properties?.metrics?.properties?.enabled ? { enabled: {} } : {} };
        const schemaKeys = keySet({ ...Object.fromEntries(Object.entries(sections).map(([s, v]) => [s, v.properties ?? {}])), ...derived });
        if (JSON.stringify(schemaKeys) !== JSON.stringify(f.iniKeys)) p.push(`schema keys ${schemaKeys.join(', ')}\n--print-config keys ${f.iniKeys.join(', ')}`);
        for (const [s, v] of Object.entries(sections)) {
            if (v.additionalProperties !== false) p.push(`config.${s}: unknown keys are not rejected`);
            const req = [...(v.required ?? [])].sort();
            const all = Object.keys(v.properties ?? {}).sort();
            if (JSON.stringify(req) !== JSON.stringify(all)) p.push(`config.${s}: required ${req.join(', ')}, expected every key`);
        }
        const sock = sections.server?.properties?.socket?.const;
        if (sock !== f.ini.sections.server?.socket) p.push(`config.server.socket is pinned to ${JSON.stringify(sock)}, expected config.ini's ${f.ini.sections.server?.socket}`);
        return p;
    },

    // Every value of values.yaml is in the schema with a description, and
    // unknown top-level keys are rejected.
    schemaCoverage(f) {
        const p = [];
        const s = f.schema;
        if (s.additionalProperties !== false) p.push('unknown top-level keys are not rejected (additionalProperties is not false)');
        const resolve = (node) => {
            let n = node;
            for (let i = 0; n && i < 10; i++) {
                if (n.$ref) n = n.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o?.[k], s);
                else if (n.allOf) n = n.allOf.map((x) => resolve(x)).reduce(mergeSchemas, {});
                else break;
            }
            return n;
        };
        const walk = (value, node, path) => {
            const n = resolve(node);
            if (!n) {
                p.push(`${path}: not in values.schema.json`);
                return;
            }
            if (path && !n.description && !node.description) p.push(`${path}: no description in values.schema.json`);
            if (isMap(value) && n.properties) {
                for (const [k, v] of Object.entries(value)) {
                    const child = n.properties[k] ?? (isMap(n.additionalProperties) ? n.additionalProperties : null);
                    if (!child) p.push(`${path ? `${path}.` : ''}${k}: not in values.schema.json`);
                    else walk(v, child, path ? `${path}.${k}` : k);
                }
            }
        };
        walk(f.defaults, s, '');
        // And every top-level key of values.yaml has a comment above it.
        const src = text(join(f.chart, 'values.yaml')).split('\n');
        src.forEach((line, i) => {
            const m = /^([A-Za-z][\w-]*):/.exec(line);
            if (m && !/^\s*#/.test(src[i - 1] ?? '') && !/^\s+#/.test(src[i + 1] ?? '')) p.push(`values.yaml: ${m[1]} has no comment`);
        });
        return p;
    },

    // nginx.conf: the probe paths the schema allows answer without counting.
    // nginx.conf's comment on capacity measured 13 MiB idle and about 11 KiB
    // per connection (nginx and the kernel's socket memory, one cgroup): the
    // default limit must hold every slot taken, or an attack gets nginx
    // OOM-killed instead of refused.
    // Every preset's nginx memory limit, as rendered.
    async nginxMemory(f) {
        const slots = f.nginx.connections;
        if (!slots) return ['nginx.conf: no worker_processes and worker_connections to size the memory limit by'];
        const need = 13 * 2 ** 20 + slots * 11 * 2 ** 10;
        const p = [];
        for (const preset of Object.keys(PRESETS.nginx).filter((x) => x !== 'memory')) {
            const r = await helm.template(f.chart, { sets: [`nginx.resourcesPreset=${preset}`], release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/statefulset.yaml'] });
            if (!r.ok) return lines(r.stderr);
            const limit = r.objs[0].spec.template.spec.containers.find((c) => c.name === 'nginx')?.resources?.limits?.memory;
            if (!(quantityBytes(limit) >= need)) p.push(`nginx.resourcesPreset ${preset}: memory limit ${limit} < ${Math.ceil(need / 2 ** 20)}Mi, what ${slots} connection slots take`);
        }
        return p;
    },

    // The chart's metrics port is the one nginx listens on for metrics:
    // metrics-listen.conf next to listen.conf, included by nginx.conf. The
    // nginx branch adds it; until this tree has it, the check says SKIP.
    metricsListen(f) {
        if (!existsSync(f.files.metricsListenConf)) return { skip: 'nginx-conf/metrics-listen.conf is not in this tree yet (nginx\'s metrics server)' };
        const p = [];
        const m = /^\s*listen\s+(?:[^\s;]*:)?(\d+)(?:\s+[^;]*)?;/m.exec(text(f.files.metricsListenConf));
        if (Number(m?.[1]) !== CONTRACT.metricsPort) p.push(`metrics-listen.conf: port ${m?.[1]}, the chart's metrics port is ${CONTRACT.metricsPort}`);
        if (!/^\s*include\s+metrics-listen\.conf\s*;/m.test(text(f.files.nginxConf).replace(/#[^\n]*/g, ''))) p.push('nginx.conf does not include metrics-listen.conf');
        return p;
    },

    nginxProbePaths(f) {
        const p = [];
        const allowed = f.schema.definitions?.probePath?.enum ?? [];
        if (allowed.length === 0) p.push('values.schema.json has no probe path enum (definitions.probePath)');
        const r = { nginx: f.nginx, countingPaths: COUNTING_PATHS };
        for (const path of allowed) p.push(...probeTarget(r, `schema probe path ${path}`, path));
        const root = f.nginx.locations.find((l) => l.modifier === '=' && l.path === '/');
        if (!root?.fastcgi) p.push('nginx.conf has no "location = /" to the responder: what counts has changed, review the probes');
        const healthz = f.nginx.locations.find((l) => l.modifier === '=' && l.path === '/healthz');
        if (!healthz || healthz.fastcgi || healthz.returns !== 200) p.push('nginx.conf: /healthz is not answered 200 by nginx itself');
        if (!f.nginx.socket) p.push('nginx.conf: no upstream "server unix:..."');
        if (f.listenPort !== 8080) p.push(`listen.conf: port ${f.listenPort}, the chart expects 8080`);
        return p;
    },

    // A change of config.ini rolls the pods; nothing else changes the checksum.
    async checksum(f) {
        const p = [];
        const base = await helm.template(f.chart, { release: RELEASE, namespace: NAMESPACE });
        const sum = checksumOf(base.objs);
        if (!sum) return ['no checksum/config annotation on the pods'];
        // config.reload rolling (the default): every key but [cluster] peers, which
        // is taken live; scaling changes no key (the pods find each other in DNS).
        // live: only the keys a running responder cannot take (config.c's table).
        const live = await helm.template(f.chart, { sets: ['config.reload=live'], release: RELEASE, namespace: NAMESPACE });
        const liveSum = checksumOf(live.objs);
        const changes = [
            ['config.clock.timezone=Europe/Berlin', true, true],
            ['config.counter.sync=always', true, true],
            ['config.log.level=debug', true, false],
            ['config.clock.format=%H', true, false],
            ['config.cluster.poll_interval_ms=2000', true, false],
            ['config.cluster.timeout_ms=900', true, false],
            ['config.cluster.discover=_web._tcp.other', true, false],
            ['config.server.workers=8', true, true],
            ['metrics.enabled=false', true, true],
            ['config.cluster.name=x', true, true],
            ['replicaCount=5', false, false],
            // A list of one's own turns the rendered discovery off: that is a change of
            // [cluster] discover, which rolls with config.reload rolling.
            ['config.cluster.peers=a:1', true, false],
            ['service.type=ClusterIP', false, false],
        ];
        for (const [set, rolls, rollsLive] of changes) {
            for (const [mode, base0, want] of [['rolling', sum, rolls], ['live', liveSum, rollsLive]]) {
                const sets = mode === 'live' ? ['config.reload=live', set] : [set];
                const other = await helm.template(f.chart, { sets, release: RELEASE, namespace: NAMESPACE });
                if (!other.ok) {
                    p.push(`--set ${sets.join(',')}: ${lines(other.stderr, 3).join(' ')}`);
                    continue;
                }
                const changed = checksumOf(other.objs) !== base0;
                if (changed !== want) p.push(`config.reload=${mode}, --set ${set}: checksum/config ${changed ? 'changed' : 'did not change'}`);
            }
        }
        const fmt = await helm.template(f.chart, { files: [join(here, 'values/single-custom.yaml')], release: RELEASE, namespace: NAMESPACE });
        if (checksumOf(fmt.objs) === sum) p.push('a custom config (values/single-custom.yaml) keeps the checksum');
        return p;
    },

    async defaultNames(f) {
        return defaultNames(await render(f));
    },

    async fullnameTruncation(f) {
        const long = 'a'.repeat(70);
        const r = await helm.template(f.chart, { sets: [`fullnameOverride=${long}`], release: RELEASE, namespace: NAMESPACE });
        if (!r.ok) return lines(r.stderr);
        const s = r.objs.find((o) => o.kind === 'StatefulSet');
        const p = [];
        if (s.metadata.name !== 'a'.repeat(52)) p.push(`StatefulSet name has ${s.metadata.name.length} characters, expected 52`);
        for (const o of r.objs) if (o.metadata.name.length > 63) p.push(`${o.kind} name has ${o.metadata.name.length} characters, more than 63`);
        return p;
    },

    async imageTag(f) {
        const img = async (sets) => (await helm.template(f.chart, { sets, release: RELEASE, namespace: NAMESPACE })).objs.find((o) => o.kind === 'StatefulSet')?.spec.template.spec.containers.map((c) => c.image);
        const p = [];
        const [d, o] = await Promise.all([img([]), img(['image.tag=dev'])]);
        // The name `make image` gives (podman, and docker too): what a kind
        // or minikube node has after loading it.
        if (JSON.stringify(d) !== JSON.stringify([`localhost/moscow-time:${f.appVersion}`, `localhost/moscow-time:${f.appVersion}`])) p.push(`default images ${d}, expected localhost/moscow-time:${f.appVersion} (what make image builds)`);
        if (JSON.stringify(o) !== JSON.stringify(['localhost/moscow-time:dev', 'localhost/moscow-time:dev'])) p.push(`overridden images ${o}`);
        const bare = await img(['image.registry=']);
        if (JSON.stringify(bare) !== JSON.stringify([`moscow-time:${f.appVersion}`, `moscow-time:${f.appVersion}`])) p.push(`--set image.registry= : images ${bare}, expected moscow-time:${f.appVersion}`);
        const digest = `sha256:${'ab'.repeat(32)}`;
        const cases = [
            [['image.registry=reg.example.com:5000', 'image.tag=dev'], 'reg.example.com:5000/moscow-time:dev'],
            [['image.registry=reg.example.com', `image.digest=${digest}`, 'image.tag=dev'], `reg.example.com/moscow-time@${digest}`],
            [['image.registry=reg.example.com', 'global.imageRegistry=mirror.local/cache'], `mirror.local/cache/moscow-time:${f.appVersion}`],
            [['image.registry=reg.example.com', 'image.repository=team/moscow-time'], `reg.example.com/team/moscow-time:${f.appVersion}`],
        ];
        for (const [sets, want] of cases) {
            const got = await img(sets);
            if (JSON.stringify(got) !== JSON.stringify([want, want])) p.push(`--set ${sets.join(',')}: images ${got}, expected ${want}`);
        }
        return p;
    },

    // The README's values table is the one generated from values.yaml.
    readmeValues(f) {
        const readme = text(join(f.chart, 'README.md'));
        const { table, problems } = valuesTable(text(join(f.chart, 'values.yaml')), YAML);
        const have = tableOf(readme);
        if (have === null) return [...problems, 'README.md: no generated values table (markers missing)'];
        if (have !== table) {
            const a = have.split('\n');
            const b = table.split('\n');
            const diff = [];
            for (let i = 0; i < Math.max(a.length, b.length) && diff.length < 6; i++) if (a[i] !== b[i]) diff.push(`README: ${a[i] ?? '(none)'}`, `values.yaml: ${b[i] ?? '(none)'}`);
            problems.push('README.md: the values table differs from values.yaml (run tests/chart/run.sh --write-readme)', ...diff);
        }
        return problems;
    },

    notes(f) {
        return notesProblems(f);
    },

    // The README's first section is what a first install needs: the image
    // onto the cluster (kind, minikube, a registry) and the service reached
    // when its LoadBalancer stays <pending>.
    readmeFirstSection(f) {
        const readme = text(join(f.chart, 'README.md'));
        const first = readme.split(/^## /m)[1] ?? '';
        const title = first.split('\n')[0];
        const p = [];
        const wants = [/make image/, /scripts\/image\.sh podman save/, /kind load image-archive/, /minikube image load/, /image\.registry/, /<pending>/, /kubectl port-forward/, /minikube service/];
        for (const w of wants) if (!w.test(first)) p.push(`the first section ("## ${title}") does not say ${w}`);
        return p;
    },

    // The README ends with a table: each promise of the chart and how it is
    // verified here (offline render and validation, the image suite, podman
    // kube play) or that only a cluster can show it. A check it names (in
    // backquotes) must exist in the suites, so the table cannot drift.
    readmeVerification(f) {
        const p = [];
        const readme = text(join(f.chart, 'README.md'));
        const last = readme.split(/^## /m).at(-1);
        const body = last.trim().split('\n');
        if (!/^\|.*\|$/.test(body.at(-1) ?? '')) p.push(`the last section ("## ${body[0]}") does not end with a table`);
        const rows = body.filter((l) => /^\|/.test(l));
        if (!/^\| *Promise *\| *How it is verified here *\|$/.test(rows[0] ?? '')) p.push(`the last table's header is ${JSON.stringify(rows[0])}, expected | Promise | How it is verified here |`);
        const sources = text(join(here, 'check.mjs')) + text(join(here, 'lib/rules.mjs')) + text(join(top, 'tests/image/run.sh'));
        const kinds = ['offline render', 'image suite', 'podman kube play', 'not verifiable without a cluster'];
        for (const row of rows.slice(2)) {
            const cells = row.split('|').slice(1, -1).map((c) => c.trim());
            const how = cells[1] ?? '';
            const kind = kinds.find((k) => how.startsWith(k));
            if (!kind) p.push(`row "${cells[0]}": "${how.slice(0, 40)}..." starts with none of ${kinds.join(', ')}`);
            if (kind && kind !== kinds[3]) {
                const named = [...how.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
                if (!named.length) p.push(`row "${cells[0]}": names no check (in backquotes)`);
                for (const n of named) if (!sources.includes(n)) p.push(`row "${cells[0]}": no check "${n}" in tests/chart or tests/image/run.sh`);
            }
        }
        const all = rows.join('\n');
        for (const w of ['kind load image-archive', '<pending>', 'immutable', 'volumePermissions', 'exit 74', 'OpenShift', '5353', 'metrics port', 'PodDisruptionBudget', 'DNS label', 'default-container', 'resourcesPreset', 'catatonit', 'version label']) {
            if (!all.includes(w)) p.push(`the table has no row about ${w}`);
        }
        return p;
    },

    // persistentVolumeClaimRetentionPolicy is ignored before Kubernetes 1.27:
    // the chart refuses it there instead of letting it be ignored silently.
    async retentionKubeVersion(f) {
        const p = [];
        const custom = join(here, 'values/single-custom.yaml'); // sets retentionPolicy
        const t = (kv, files) => helm.template(f.chart, { files, release: RELEASE, namespace: NAMESPACE, extra: ['--kube-version', kv] });
        const [old, ok, plain] = await Promise.all([t('1.26.9', [custom]), t('1.27.0', [custom]), t('1.25.0', [])]);
        if (old.ok || !/persistence\.retentionPolicy needs Kubernetes 1\.27 or later; this cluster is v1\.26\.9/.test(old.stderr)) p.push(`Kubernetes 1.26 with a retentionPolicy: ${old.ok ? 'accepted' : lines(old.stderr, 2).join(' ')}`);
        if (!ok.ok) p.push(`Kubernetes 1.27 with a retentionPolicy: ${lines(ok.stderr, 2).join(' ')}`);
        if (!plain.ok) p.push(`Kubernetes 1.25 without a retentionPolicy: ${lines(plain.stderr, 2).join(' ')}`);
        return p;
    },

    // An upgrade that renames the StatefulSet (nameOverride, fullnameOverride)
    // is refused: its claims would be orphaned. `lookup` answers nothing
    // without a cluster, so the decision is rendered in a copy of the chart
    // with what lookup returns from a cluster (a List of StatefulSets).
    async renameRefused(f) {
        const p = [];
        const src = text(join(f.chart, 'templates/statefulset.yaml'));
        if (!/\.Release\.IsUpgrade[\s\S]{0,80}moscow-time\.checkRename[^\n]*lookup "apps\/v1" "StatefulSet"/.test(src)) p.push('templates/statefulset.yaml does not run moscow-time.checkRename on what lookup finds, on upgrade');
        const sts = (name, instance) => ({ metadata: { name, labels: { 'app.kubernetes.io/instance': instance }, annotations: { 'meta.helm.sh/release-name': instance } } });
        const render = async (items, sets = []) => {
            const dir = mkdtempSync(join(scratch, 'rename-'));
            const chart = join(dir, 'moscow-time');
            cpSync(f.chart, chart, { recursive: true });
            writeFileSync(join(chart, 'templates', 'zz-rename.yaml'), `{{- include "moscow-time.checkRename" (dict "existing" (${JSON.stringify(JSON.stringify({ items }))} | fromJson) "context" .) }}\n`);
            return helm.template(chart, { sets, release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/configmap.yaml'] });
        };
        const [renamed, same, other, none] = await Promise.all([
            render([sts('mt-moscow-time', RELEASE)], ['fullnameOverride=clock']),
            render([sts('mt-moscow-time', RELEASE)]),
            render([sts('other-moscow-time', 'other')]),
            render([]),
        ]);
        if (renamed.ok || !/renames the StatefulSet mt-moscow-time to clock[\s\S]*visits-mt-moscow-time-N would be orphaned[\s\S]*--set fullnameOverride=mt-moscow-time/.test(renamed.stderr)) p.push(`a renamed StatefulSet: ${renamed.ok ? 'accepted' : lines(renamed.stderr, 2).join(' ')}`);
        for (const [what, r] of [['the same name', same], ["another release's StatefulSet", other], ['a first install', none]]) if (!r.ok) p.push(`${what}: refused: ${lines(r.stderr, 2).join(' ')}`);
        return p;
    },

    // An upgrade that changes what Kubernetes forbids changing on an existing
    // StatefulSet fails at render time, before Helm applies anything, with
    // the field, the live and the new value and the safe commands. `lookup`
    // answers nothing without a cluster, and the values cannot carry a live
    // object (a test-only value would be a value every user sees); so, as for
    // the rename check, a copy of the chart renders the guard itself
    // (moscow-time.checkImmutable) against a live object the test supplies:
    // the default StatefulSet as the API server returns it (with its
    // defaults: the claim template's apiVersion, kind, volumeMode and status,
    // the quantity in canonical form). That statefulset.yaml feeds the guard
    // what lookup returns, on upgrade, is checked on the template's text.
    async immutableGuard(f) {
        const p = [];
        const src = text(join(f.chart, 'templates/statefulset.yaml'));
        if (!/\{\{- if \.Release\.IsUpgrade \}\}(?:(?!\{\{- end)[\s\S])*moscow-time\.checkImmutable" \(dict "live" \(lookup "apps\/v1" "StatefulSet" \(include "moscow-time\.namespace" \.\) \(include "moscow-time\.fullname" \.\)\)/.test(src)) p.push('templates/statefulset.yaml does not run moscow-time.checkImmutable on the StatefulSet lookup finds, on upgrade');
        const base = await helm.template(f.chart, { release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/statefulset.yaml'] });
        if (!base.ok) return [...p, ...lines(base.stderr)];
        const live = structuredClone(base.objs[0]);
        live.metadata.namespace = NAMESPACE;
        live.metadata.uid = '0b5c6a1e-0000-4000-8000-000000000001';
        live.metadata.annotations = { 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': NAMESPACE };
        for (const t of live.spec.volumeClaimTemplates) Object.assign(t, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', status: { phase: 'Pending' } }, { spec: { ...t.spec, volumeMode: 'Filesystem' } });
        live.status = { replicas: 3, readyReplicas: 3, currentRevision: 'mt-moscow-time-5d8f7c', updateRevision: 'mt-moscow-time-5d8f7c' };
        const render = async (obj, sets = []) => {
            const dir = mkdtempSync(join(scratch, 'immutable-'));
            const chart = join(dir, 'moscow-time');
            cpSync(f.chart, chart, { recursive: true });
            writeFileSync(join(chart, 'templates', 'zz-immutable.yaml'), `{{- include "moscow-time.checkImmutable" (dict "live" (${JSON.stringify(JSON.stringify(obj))} | fromJson) "context" .) }}\n`);
            return helm.template(chart, { sets, release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/configmap.yaml'] });
        };
        const noClaim = structuredClone(live);
        delete noClaim.spec.volumeClaimTemplates;
        const deleting = structuredClone(live);
        deleting.metadata.deletionTimestamp = '2026-11-30T10:00:00Z';
        const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const cmds = /kubectl delete statefulset mt-moscow-time --namespace moscow --cascade=orphan[\s\S]*then run this helm upgrade again/;
        // [what, live object, --set, the field, live value, new value]
        const refused = [
            ['podManagementPolicy', live, ['podManagementPolicy=OrderedReady'], 'spec.podManagementPolicy (podManagementPolicy)', 'Parallel', 'OrderedReady'],
            ['persistence.size (with replicaCount 5, the issue\'s example)', live, ['persistence.size=2Gi', 'replicaCount=5'], 'spec.volumeClaimTemplates[visits].spec.resources.requests.storage (persistence.size)', '1Gi', '2Gi'],
            ['persistence.storageClass', live, ['persistence.storageClass=fast-ssd'], 'spec.volumeClaimTemplates[visits].spec.storageClassName (persistence.storageClass)', 'unset (the default StorageClass)', 'fast-ssd'],
            ['persistence.storageClass "-"', live, ['persistence.storageClass=-'], 'spec.volumeClaimTemplates[visits].spec.storageClassName (persistence.storageClass)', 'unset (the default StorageClass)', '"" (no class)'],
            ['persistence.accessModes', live, ['persistence.accessModes[0]=ReadWriteOncePod'], 'spec.volumeClaimTemplates[visits].spec.accessModes (persistence.accessModes)', '["ReadWriteOnce"]', '["ReadWriteOncePod"]'],
            ['persistence.annotations', live, ['persistence.annotations.backup=daily'], 'spec.volumeClaimTemplates[visits].metadata.annotations (persistence.annotations)', '{}', '{"backup":"daily"}'],
            ['persistence.enabled false', live, ['persistence.enabled=false'], 'spec.volumeClaimTemplates (persistence.enabled)', 'a claim visits-<pod> per pod', 'none (emptyDir)'],
            ['persistence.enabled true on a StatefulSet without claims', noClaim, [], 'spec.volumeClaimTemplates (persistence.enabled)', 'none (emptyDir)', 'a claim visits-<pod> per pod'],
            ['the selector (nameOverride under a kept fullnameOverride)', live, ['nameOverride=clock', 'fullnameOverride=mt-moscow-time'], 'spec.selector (from nameOverride)', '{"matchLabels":{"app.kubernetes.io/instance":"mt","app.kubernetes.io/name":"moscow-time"}}', '{"matchLabels":{"app.kubernetes.io/instance":"mt","app.kubernetes.io/name":"clock"}}'],
        ];
        const accepted = [
            ['the same values', live, []],
            ['the mutable fields: replicas, config, image, updateStrategy, minReadySeconds, resources', live, ['replicaCount=5', 'config.log.level=debug', 'image.tag=1.0.1', 'updateStrategy.rollingUpdate.partition=2', 'minReadySeconds=10', 'nginx.resourcesPreset=medium', 'persistence.retentionPolicy.whenScaled=Delete']],
            ['the same size spelled otherwise (1024Mi; the cluster keeps 1Gi)', live, ['persistence.size=1024Mi']],
            ['persistence off on a StatefulSet without claims', noClaim, ['persistence.enabled=false']],
            ['a first install (lookup finds nothing)', {}, ['podManagementPolicy=OrderedReady']],
        ];
        const results = await Promise.all([...refused.map(([, obj, sets]) => render(obj, sets)), ...accepted.map(([, obj, sets]) => render(obj, sets)), render(deleting)]);
        refused.forEach(([what, , sets, field, was, now], i) => {
            const r = results[i];
            const want = new RegExp(`${esc(field)}: ${esc(was)} in the cluster, ${esc(now)} in this upgrade`);
            if (r.ok) p.push(`--set ${sets.join(',') || '(defaults)'} (${what}): accepted`);
            else if (!want.test(r.stderr) || !cmds.test(r.stderr)) p.push(`--set ${sets.join(',') || '(defaults)'} (${what}): refused without naming ${field}, "${was}" and "${now}" and the commands: ${lines(r.stderr, 6).join(' ')}`);
        });
        accepted.forEach(([what, , sets], j) => {
            const r = results[refused.length + j];
            if (!r.ok) p.push(`${what} (--set ${sets.join(',')}): refused: ${lines(r.stderr, 4).join(' ')}`);
        });
        const d = results.at(-1);
        if (d.ok || !/being deleted[\s\S]*kubectl wait --for=delete statefulset\/mt-moscow-time --namespace moscow/.test(d.stderr)) p.push(`a StatefulSet being deleted (--cascade=orphan not finished): ${d.ok ? 'accepted' : lines(d.stderr, 2).join(' ')}`);
        return p;
    },

    // Names the API server would refuse fail the render, with a message.
    async dnsNames(f) {
        const p = [];
        const cases = [
            ['1mt', [], /the objects' name "1mt-moscow-time" \(from the release name "1mt"[^)]*\) is not a DNS-1035 label/],
            ['my.mt', [], /the objects' name "my\.mt-moscow-time" \(from the release name "my\.mt"/],
            [RELEASE, ['nameOverride=Moscow'], /nameOverride "Moscow" is not a DNS-1123 label/],
            [RELEASE, ['fullnameOverride=Clock'], /the objects' name "Clock" \(from fullnameOverride "Clock"\) is not a DNS-1035 label/],
            [RELEASE, ['fullnameOverride=9clock'], /the objects' name "9clock"/],
            [RELEASE, [], null],
            ['a', [], null],
            [RELEASE, ['nameOverride=clock-2'], null],
        ];
        const rs = await Promise.all(cases.map(([release, sets]) => helm.template(f.chart, { sets, release, namespace: NAMESPACE })));
        cases.forEach(([release, sets, want], i) => {
            const r = rs[i];
            const what = `release ${release}${sets.length ? ` --set ${sets.join(',')}` : ''}`;
            if (want === null && !r.ok) p.push(`${what}: refused: ${lines(r.stderr, 2).join(' ')}`);
            if (want !== null && (r.ok || !want.test(r.stderr))) p.push(`${what}: ${r.ok ? 'accepted (the API server would refuse its names)' : `refused without a clear message: ${lines(r.stderr, 2).join(' ')}`}`);
        });
        return p;
    },

    // Any PDB setting that lets no pod of the rendered replicas go is refused
    // (Kubernetes rounds percentages up); one that lets one go is accepted.
    async pdbDrain(f) {
        const p = [];
        // [replicaCount, minAvailable, maxUnavailable, refused]
        const cases = [[1, '50%', '', true], [2, '51%', '', true], [3, 3, '', true], [4, '99%', '', true], [1, 1, '', true], [3, '50%', '', false], [2, '50%', '', false], [3, 2, '', false], [1, '', 1, false], [1, '', '1%', false], [0, '50%', '', false], [1, '', '', false]];
        const rs = await Promise.all(cases.map(([n, min, max]) => helm.template(f.chart, { sets: [`replicaCount=${n}`, `pdb.minAvailable=${min}`, `pdb.maxUnavailable=${max}`], release: RELEASE, namespace: NAMESPACE })));
        cases.forEach(([n, min, max, refused], i) => {
            const r = rs[i];
            const what = `replicaCount ${n}, minAvailable ${JSON.stringify(min)}, maxUnavailable ${JSON.stringify(max)}`;
            if (refused && (r.ok || !/lets no pod be evicted: no node could be drained/.test(r.stderr))) p.push(`${what}: ${r.ok ? 'accepted, yet no pod could be evicted' : lines(r.stderr, 2).join(' ')}`);
            if (!refused && !r.ok) p.push(`${what}: refused: ${lines(r.stderr, 2).join(' ')}`);
        });
        return p;
    },

    // app.kubernetes.io/version from any image tag is a valid label value.
    async versionLabel(f) {
        const p = [];
        const cases = [['1.0.0+build.5', '1.0.0_build.5'], ['dev_', 'dev'], [`${'a'.repeat(62)}-x`, 'a'.repeat(62)], ['_x.', 'x'], ['1.0.0-rc1', '1.0.0-rc1']];
        const rs = await Promise.all(cases.map(([tag]) => helm.template(f.chart, { sets: [`image.tag=${tag}`], release: RELEASE, namespace: NAMESPACE })));
        cases.forEach(([tag, want], i) => {
            const r = rs[i];
            if (!r.ok) return p.push(`image.tag ${tag}: ${lines(r.stderr, 2).join(' ')}`);
            for (const o of r.objs) {
                const got = o.metadata?.labels?.['app.kubernetes.io/version'];
                if (got !== want || !validLabelValue(got)) p.push(`image.tag ${JSON.stringify(tag)}: ${o.kind}/${o.metadata.name} app.kubernetes.io/version ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
            }
        });
        return p;
    },

    // global.compatibility.openshift.adaptSecurityContext as Bitnami has it:
    // auto adapts on a cluster with the security.openshift.io/v1 API (helm
    // template --api-versions stands for it), force always, disabled never.
    async openshift(f) {
        const p = [];
        const api = ['--api-versions', 'security.openshift.io/v1'];
        const cases = [['auto, OpenShift API', [], api, true], ['auto, no OpenShift API', [], [], false], ['force', ['global.compatibility.openshift.adaptSecurityContext=force'], [], true], ['disabled, OpenShift API', ['global.compatibility.openshift.adaptSecurityContext=disabled'], api, false]];
        const rs = await Promise.all(cases.map(([, sets, extra]) => helm.template(f.chart, { sets, extra, release: RELEASE, namespace: NAMESPACE })));
        const ids = ['runAsUser', 'runAsGroup', 'fsGroup'];
        cases.forEach(([what, , , adapted], i) => {
            const r = rs[i];
            if (!r.ok) return p.push(`${what}: ${lines(r.stderr, 2).join(' ')}`);
            for (const o of r.objs.filter((x) => x.kind === 'StatefulSet' || x.kind === 'Pod')) {
                const spec = o.kind === 'Pod' ? o.spec : o.spec.template.spec;
                const contexts = [['pod', spec.securityContext ?? {}], ...[...(spec.initContainers ?? []), ...spec.containers].map((c) => [c.name, c.securityContext ?? {}])];
                const fixed = contexts.flatMap(([n, sc]) => ids.filter((k) => sc[k] !== undefined).map((k) => `${n}.${k}=${sc[k]}`));
                if (adapted && fixed.length) p.push(`${what}: ${o.kind}/${o.metadata.name} still fixes ${fixed.join(', ')}`);
                const own = o.kind === 'Pod' ? ['runAsUser', 'runAsGroup'] : ids;
                if (!adapted && !own.every((k) => spec.securityContext?.[k] !== undefined)) p.push(`${what}: ${o.kind}/${o.metadata.name}: the pod's ${own.join(', ')} left out`);
                if (podSecurityLevel(spec).level !== 'restricted') p.push(`${what}: ${o.kind}/${o.metadata.name} not Pod Security restricted: ${podSecurityLevel(spec).why.join('; ')}`);
            }
        });
        const vp = await helm.template(f.chart, { sets: ['volumePermissions.enabled=true'], extra: api, release: RELEASE, namespace: NAMESPACE });
        if (vp.ok || !/volumePermissions\.enabled with the security contexts adapted to OpenShift/.test(vp.stderr)) p.push(`volumePermissions on OpenShift: ${vp.ok ? 'accepted (its root init container would be refused by restricted-v2)' : lines(vp.stderr, 2).join(' ')}`);
        return p;
    },

    // Each resources preset as rendered: sane (requests and limits, memory
    // limit between the request and twice it), the contract's numbers, and
    // the README's preset table.
    async presetsSane(f) {
        const p = [];
        const readme = text(join(f.chart, 'README.md'));
        const defaults = await helm.template(f.chart, { release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/statefulset.yaml'] });
        if (!defaults.ok) return lines(defaults.stderr);
        for (const c of defaults.objs[0].spec.template.spec.containers) p.push(...resourceProblems(`${c.name} (defaults)`, c.resources));
        for (const name of ['nginx', 'responder']) {
            for (const preset of Object.keys(PRESETS[name]).filter((x) => x !== 'memory')) {
                const r = await helm.template(f.chart, { sets: [`${name}.resourcesPreset=${preset}`], release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/statefulset.yaml'] });
                if (!r.ok) {
                    p.push(`${name}.resourcesPreset=${preset}: ${lines(r.stderr, 3).join(' ')}`);
                    continue;
                }
                const res = r.objs[0].spec.template.spec.containers.find((c) => c.name === name)?.resources;
                p.push(...resourceProblems(`${name} preset ${preset}`, res));
                const cpu = PRESETS[name][preset];
                const mem = PRESETS[name].memory;
                const row = `| \`${preset}\` | ${name} | ${cpu[0]} | ${cpu[1]} | ${mem[0]} | ${mem[1]} |`;
                if (!readme.includes(row)) p.push(`README.md: no preset table row ${row}`);
            }
            const none = await helm.template(f.chart, { sets: [`${name}.resourcesPreset=none`], release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/statefulset.yaml'] });
            const res = none.objs?.[0]?.spec.template.spec.containers.find((c) => c.name === name)?.resources;
            if (!none.ok || (res !== undefined && Object.keys(res).length)) p.push(`${name}.resourcesPreset=none: resources ${JSON.stringify(res)}`);
        }
        return p;
    },

    // The PrometheusRule as rendered, through promtool: valid rules, and each alert's unit
    // tests (tests/chart/alerts/alerts_test.yml) pass; an alert without a test fails.
    async alerts(f) {
        const r = await helm.template(f.chart, { sets: ['metrics.prometheusRule.enabled=true'], release: RELEASE, namespace: NAMESPACE });
        if (!r.ok) return lines(r.stderr);
        const pr = r.objs.find((o) => o.kind === 'PrometheusRule');
        if (!pr) return ['no PrometheusRule rendered'];
        const dir = mkdtempSync(join(scratch, 'alerts-'));
        writeFileSync(join(dir, 'rules.yml'), JSON.stringify(pr.spec, null, 1)); // JSON is YAML
        const tests = readFileSync(join(here, 'alerts', 'alerts_test.yml'), 'utf8');
        writeFileSync(join(dir, 'alerts_test.yml'), tests);
        const p = [];
        for (const rule of pr.spec.groups.flatMap((g) => g.rules)) {
            if (!tests.includes(`alertname: ${rule.alert}\n`)) p.push(`${rule.alert} has no test in tests/chart/alerts/alerts_test.yml`);
        }
        // promtool finds rules.yml next to the test file.
        for (const args of [['check', 'rules', join(dir, 'rules.yml')], ['test', 'rules', join(dir, 'alerts_test.yml')]]) {
            const res = await run('promtool', args);
            if (res.status !== 0) p.push(`promtool ${args.join(' ')}: exit ${res.status}`, ...lines(res.stdout + res.stderr, 20));
        }
        return p;
    },

    // No peer list follows replicaCount: the pods find each other in DNS, as many as there are.
    async discoverWhateverTheScale(f) {
        const p = [];
        for (const n of [1, 30, 256]) {
            const r = await helm.template(f.chart, { sets: [`replicaCount=${n}`], release: RELEASE, namespace: NAMESPACE });
            if (!r.ok) {
                p.push(`replicaCount=${n}: ${lines(r.stderr, 2).join(' ')}`);
                continue;
            }
            const text = r.objs.find((o) => o.kind === 'ConfigMap')?.data?.['config.ini'] ?? '';
            if (!/^discover = "_http\._tcp\.[a-z0-9-]+-headless"$/m.test(text)) p.push(`replicaCount=${n}: no [cluster] discover of the headless service's http port`);
            if (!/^peers = ""$/m.test(text)) p.push(`replicaCount=${n}: a [cluster] peers list is rendered`);
        }
        const off = await helm.template(f.chart, { sets: ['cluster.enabled=false'], release: RELEASE, namespace: NAMESPACE });
        const text = off.objs?.find((o) => o.kind === 'ConfigMap')?.data?.['config.ini'] ?? '';
        if (!off.ok || !/^discover = ""$/m.test(text)) p.push('cluster.enabled=false still renders a discovery');
        return p;
    },

    async schemaRejectsUnknownKey(f) {
        const r = await helm.template(f.chart, { sets: ['replicas=3'] });
        return !r.ok && /Additional property replicas is not allowed/.test(r.stderr) ? [] : ['--set replicas=3 (not a value of the chart) was accepted'];
    },
};

// allOf: both schemas apply; property by property for the coverage check.
function mergeSchemas(a, b) {
    const properties = { ...(a.properties ?? {}) };
    for (const [k, v] of Object.entries(b.properties ?? {})) properties[k] = { ...(properties[k] ?? {}), ...v };
    return { ...a, ...b, properties };
}

// ------------------------------------------------------------------ per value set

const VALUE_SETS = [['defaults', []], ...readdirSync(join(here, 'values')).filter((x) => x.endsWith('.yaml')).sort().map((x) => [basename(x, '.yaml'), [join(here, 'values', x)]])];

const RULE_NAMES = {
    statefulset: 'StatefulSet: replicas, podManagementPolicy, updateStrategy, serviceName = headless, two containers of the one image (registry, digest), commands, pull secrets, default-container annotation = responder',
    labels: 'names, labels (valid label values), annotations, namespace and selectors consistent and upgrade-safe; no selector picks the test pod',
    persistence: 'visits volume: claim template (or emptyDir) mounted at /data, fsGroup, volume-permissions init container',
    config: 'config.ini in the ConfigMap = values, keys = fcgi-app/config.ini, mounted read-only, checksum/config',
    mounts: 'mounts match the socket, nginx temp and counter paths; a /tmp per container; extra volumes',
    probes: 'probes as in values: HTTP on nginx port to locations that never count; the responder its own exec probe',
    helmTest: 'helm test pod checks /healthz, /readyz and /visits, and 404 for /metrics on the public port; counts no visit',
    services: 'services: headless with publishNotReadyAddresses and the metrics port, main as in values',
    security: 'security context: non-root 10001 (none on OpenShift), read-only root, no privilege escalation, drop ALL, RuntimeDefault, no token; Pod Security level restricted (baseline with volumePermissions)',
    availability: 'PodDisruptionBudget, NetworkPolicy (metrics port only from networkPolicy.metrics, DNS 53 and 5353) and Ingress as in values',
    termination: 'termination: grace period, nginx preStop delay, responder outlives nginx',
    podSettings: 'resources (resourcesPreset or resources; sane), env, sidecars, init containers, scheduling values and anti-affinity preset',
    metrics: 'metrics: on the metrics port 9113 (container, headless service, scrape annotations, ServiceMonitor), never on the public service; PrometheusRule as in values',
};

async function valueSetChecks(g, f, name, files) {
    const [lint, rendered] = await Promise.all([helm.lint(f.chart, { files }), render(f, { files })]);
    await g.test(`${name}: helm lint --strict`, () => (lint.ok ? [] : lines(lint.stdout + lint.stderr)));
    await g.test(`${name}: helm template renders`, () => {
        if (rendered.res.status !== 0) return lines(rendered.res.stderr);
        if (rendered.res.yamlErrors?.length) return rendered.res.yamlErrors;
        return rendered.objs.length ? [] : ['nothing rendered'];
    });
    if (!rendered.res.ok) return null;
    await g.test(`${name}: yamllint on the rendered manifests`, () => yamllint('yamllint-rendered.yaml', [], rendered.res.stdout));
    await g.test(`${name}: every object valid against the Kubernetes API types (${rendered.objs.map((o) => o.kind).join(', ')})`, () => apiProblems(rendered.objs));
    const input = ruleInput(f, rendered);
    for (const [rule, fn] of Object.entries(rules)) await g.test(`${name}: ${RULE_NAMES[rule]}`, () => fn(input));
    await g.test(`${name}: the responder accepts the rendered config.ini and reads the values (moscow-time --check-config, --print-config)`, () => checkConfig(rendered));
    return rendered;
}

async function checkConfig(rendered) {
    if (!env.CHART_TEST_RESPONDER) return { skip: 'build/moscow-time is not built and `make build` failed (no compiler or libraries)' };
    const cm = rendered.objs.find((o) => o.kind === 'ConfigMap' && o.data?.['config.ini'] !== undefined);
    const file = join(mkdtempSync(join(scratch, 'config-')), 'config.ini');
    writeFileSync(file, cm?.data?.['config.ini'] ?? '');
    const r = await run(env.CHART_TEST_RESPONDER, ['--check-config', file]);
    if (r.status !== 0) return [`exit ${r.status}: ${(r.stderr + r.stdout).trim()}`];
    // And the responder reads exactly the values (quoting of %, ;, # survives).
    const printed = await run(env.CHART_TEST_RESPONDER, ['--print-config', file]);
    const got = parsePrintConfig(printed.stdout);
    const fullname = rendered.objs.find((o) => o.kind === 'StatefulSet')?.metadata.name;
    const want = Object.fromEntries(Object.entries(effectiveConfig(rendered.values, fullname)).map(([sec, keys]) => [sec, Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, String(v)]))]));
    const p = [...got.problems];
    for (const [sec, keys] of Object.entries(want)) for (const [k, v] of Object.entries(keys)) if (got.sections[sec]?.[k] !== v) p.push(`[${sec}] ${k}: the responder reads ${JSON.stringify(got.sections[sec]?.[k])}, the values say ${JSON.stringify(v)}`);
    return p;
}

function defaultNames(rendered) {
    const p = [];
    const objs = rendered?.objs ?? [];
    const s = objs.find((o) => o.kind === 'StatefulSet');
    if (s?.metadata.name !== 'mt-moscow-time') p.push(`StatefulSet ${s?.metadata.name}`);
    if (s?.spec.serviceName !== 'mt-moscow-time-headless') p.push(`serviceName ${s?.spec.serviceName}`);
    if (s?.spec.volumeClaimTemplates?.[0]?.metadata?.name !== 'visits') p.push('claim template not named visits (claims visits-<fullname>-N)');
    if (s?.spec.replicas !== 3 || s?.spec.podManagementPolicy !== 'Parallel') p.push('defaults are not 3 replicas, Parallel');
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'mt-moscow-time');
    if (svc?.spec.type !== 'LoadBalancer' || svc?.spec.ports?.[0]?.port !== 8080) p.push('main service is not LoadBalancer on 8080 by default');
    if (!objs.some((o) => o.kind === 'PodDisruptionBudget') || !objs.some((o) => o.kind === 'NetworkPolicy')) p.push('defaults: expected a PDB and a NetworkPolicy');
    if (!s?.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution) p.push('defaults: no soft pod anti-affinity');
    if (objs.some((o) => o.kind === 'Ingress')) p.push('defaults: an Ingress');
    return p;
}

// ------------------------------------------------------------------ main

async function main() {
    const f = facts(REAL);

    group(async (g) => {
        await g.test('Chart.yaml: apiVersion v2, appVersion = fcgi-app/VERSION', () => globalChecks.chartMetadata(f));
        await g.test('yamllint: Chart.yaml and values.yaml', () => globalChecks.yamllintSources(f));
        await g.test('config keys: values.yaml config = fcgi-app/config.ini sections, keys and defaults', () => globalChecks.configKeysValues(f));
        await g.test('config keys: values.schema.json config = fcgi-app/config.ini, no other key accepted', () => globalChecks.configKeysSchema(f));
        await g.test("checksum/config: with config.reload live it leaves out exactly the keys the responder takes live (its --print-keys)", () => globalChecks.checksumLiveKeys(f));
        await g.test('values.schema.json describes every value of values.yaml and rejects unknown keys', () => globalChecks.schemaCoverage(f));
        await g.test('README.md: the values table is the one generated from values.yaml', () => globalChecks.readmeValues(f));
        await g.test('nginx.conf: every probe path the schema allows is an exact location that does not count', () => globalChecks.nginxProbePaths(f));
        await g.test(`nginx-conf/metrics-listen.conf: nginx's metrics port is the chart's (${CONTRACT.metricsPort}), included by nginx.conf`, () => globalChecks.metricsListen(f));
        await g.test("nginx: every preset's memory limit holds every connection slot of nginx.conf", () => globalChecks.nginxMemory(f));
    });
    group((g) => g.test('checksum/config changes with each config value, not with other values', () => globalChecks.checksum(f)));

    for (const [name, files] of VALUE_SETS) {
        group(async (g) => {
            const rendered = await valueSetChecks(g, f, name, files);
            if (name === 'defaults') {
                await g.test('defaults: 3 replicas, Parallel, LoadBalancer on 8080, names mt-moscow-time(-headless), claims visits-mt-moscow-time-N', () => defaultNames(rendered));
            }
        });
    }

    group(async (g) => {
        await g.test('a fullnameOverride of 70 characters is cut to 52 (pod label controller-revision-hash)', () => globalChecks.fullnameTruncation(f));
        await g.test('persistence.retentionPolicy refused below Kubernetes 1.27 (it would be ignored), accepted from 1.27', () => globalChecks.retentionKubeVersion(f));
        await g.test('an upgrade that renames the StatefulSet (and orphans its claims) is refused; lookup result rendered in a chart copy', () => globalChecks.renameRefused(f));
        await g.test('app.kubernetes.io/version is a valid label value whatever the image tag (+, trailing _, 70 characters)', () => globalChecks.versionLabel(f));
        await g.test('NOTES.txt: how to get the image onto kind, minikube or a registry, how to reach the service when its LoadBalancer stays pending, each pod count by exec and by pod DNS, the metrics port, exit 74, persistence warning, replicaCount 0, names that keep the claims', () => globalChecks.notes(f));
        await g.test('image: tag defaults to appVersion; image.tag, registry, digest (wins over the tag), global.imageRegistry', () => globalChecks.imageTag(f));
    });

    group(async (g) => {
        await g.test('schema rejects --set replicaCount=three (helm template and helm lint --strict)', async () => {
            const p = [];
            const [t, l] = await Promise.all([helm.template(f.chart, { sets: ['replicaCount=three'] }), helm.lint(f.chart, { sets: ['replicaCount=three'] })]);
            if (t.ok || !/replicaCount: Invalid type. Expected: integer, given: string/.test(t.stderr)) p.push(`helm template: ${t.ok ? 'accepted' : lines(t.stderr, 3).join(' ')}`);
            if (l.ok) p.push('helm lint --strict accepted it');
            return p;
        });
        await g.test('schema rejects an unknown top-level key (--set replicas=3)', () => globalChecks.schemaRejectsUnknownKey(f));
        await g.test('alerts: the rendered PrometheusRule passes promtool check rules and its unit tests (promtool test rules); each alert has tests', () => globalChecks.alerts(f));
        await g.test('cluster: the pods find each other in DNS whatever replicaCount is (1, 30, 256), no peer list; cluster.enabled=false renders none', () => globalChecks.discoverWhateverTheScale(f));
    });
    group((g) => g.test('immutable StatefulSet fields: an upgrade changing podManagementPolicy, the selector or any persistence.* fails at render time naming the field, live and new value and the safe commands; mutable changes pass (guard rendered against a live object in a chart copy)', () => globalChecks.immutableGuard(f)));
    group(async (g) => {
        await g.test('names: release 1mt or my.mt, nameOverride Moscow, fullnameOverride Clock refused at render as invalid DNS labels; valid ones accepted', () => globalChecks.dnsNames(f));
        await g.test('PDB: any minAvailable/maxUnavailable that lets no pod of the rendered replicas go is refused (percentages rounded up), others accepted', () => globalChecks.pdbDrain(f));
    });
    group(async (g) => {
        await g.test('OpenShift: adaptSecurityContext auto (security.openshift.io/v1 API), force, disabled; no fixed uid/gid/fsGroup when adapted; volumePermissions refused there', () => globalChecks.openshift(f));
        await g.test('resources presets: the defaults and small, medium, large sane (memory limit between the request and twice it) and as the README table says; none renders no resources', () => globalChecks.presetsSane(f));
    });
    group(async (g) => {
        await g.test("README.md first section: how to get the image onto kind, minikube or a registry, and how to reach a LoadBalancer that stays pending", () => globalChecks.readmeFirstSection(f));
        await g.test('README.md ends with the table of what the chart promises and how each promise is verified here', () => globalChecks.readmeVerification(f));
    });

    for (const file of readdirSync(join(here, 'broken-values')).sort()) {
        const path = join(here, 'broken-values', file);
        const expect = new RegExp(/^# expect: (.*)$/m.exec(text(path))?.[1] ?? '^$');
        group((g) =>
            g.test(`install fails on broken-values/${file}`, async () => {
                const r = await helm.template(f.chart, { files: [path] });
                if (r.ok) return ['helm template accepted it'];
                return expect.test(r.stderr) ? [] : [`failed, but not with /${expect.source}/:`, ...lines(r.stderr, 5)];
            }),
        );
    }

    group(async (g) => {
        for (const file of readdirSync(join(here, 'manifests')).sort()) {
            const path = join(here, 'manifests', file);
            const expect = /^# expect: (.*)$/m.exec(text(path))?.[1] ?? '';
            const obj = parseYaml(text(path));
            if (expect === 'valid') {
                await g.test(`validator accepts manifests/${file}`, () => validator.validate(obj));
            } else {
                await g.test(`validator rejects manifests/${file}`, async () => {
                    const p = await validator.validate(obj);
                    if (p.length === 0) return ['accepted'];
                    return p.some((x) => new RegExp(expect).test(x)) ? [] : [`rejected, but not with /${expect}/:`, ...p];
                });
            }
        }
    });

    for (const b of BITES) group((g) => g.test(`checks bite: ${b.name}`, () => bite(b)));

    const done = await Promise.all(
        groups.map(async (fn) => {
            const g = new Group();
            try {
                await fn(g);
            } catch (e) {
                g.report('a group of chart checks', [`exception: ${e?.stack ?? e}`]);
            }
            return g;
        }),
    );
    let failures = 0;
    for (const g of done) {
        for (const line of g.out) console.log(line);
        failures += g.failures;
    }
    console.log(failures ? `# ${failures} chart check(s) failed` : '# all chart checks passed');
    process.exitCode = failures ? 1 : 0;
}

// ------------------------------------------------------------------ NOTES.txt

// helm template leaves NOTES.txt out; a copy of the chart renders it into a
// ConfigMap through its template name.
async function renderNotes(f, files = []) {
    const dir = mkdtempSync(join(scratch, 'notes-'));
    const chart = join(dir, 'moscow-time');
    cpSync(f.chart, chart, { recursive: true });
    writeFileSync(join(chart, 'templates', 'zz-notes.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "moscow-time/templates/NOTES.txt" . | quote }}\n');
    const r = await helm.template(chart, { files, release: RELEASE, namespace: NAMESPACE, extra: ['--show-only', 'templates/zz-notes.yaml'] });
    if (!r.ok) throw new Error(lines(r.stderr).join('\n'));
    return r.objs[0].data.notes;
}

async function notesProblems(f) {
    const p = [];
    const need = (notes, what, re) => {
        if (!re.test(notes)) p.push(`${what}: no ${re}`);
    };
    const [d, off, cip, zero, custom, metrics, vp] = await Promise.all([renderNotes(f), renderNotes(f, [join(here, 'values/persistence-off.yaml')]), renderNotes(f, [join(here, 'values/clusterip-netpol.yaml')]), renderNotes(f, [join(here, 'values/replicas-zero.yaml')]), renderNotes(f, [join(here, 'values/single-custom.yaml')]), renderNotes(f, [join(here, 'values/metrics.yaml')]), renderNotes(f, [join(here, 'values/volume-permissions.yaml')])]);
    // A first install: the image is one you build; how to get it onto kind,
    // minikube or a registry; a LoadBalancer that stays <pending> there.
    need(d, 'defaults', /The image localhost\/moscow-time:1\.0\.0 is one you build[\s\S]*ImagePullBackOff/);
    need(d, 'defaults', /make image/);
    need(d, 'defaults', /scripts\/image\.sh podman save -o moscow-time\.tar localhost\/moscow-time:1\.0\.0/);
    need(d, 'defaults', /docker save -o moscow-time\.tar localhost\/moscow-time:1\.0\.0/);
    need(d, 'defaults', /kind load image-archive moscow-time\.tar/);
    need(d, 'defaults', /minikube image load moscow-time\.tar/);
    need(d, 'defaults', /push it to a registry[\s\S]*image\.registry/);
    if (/The image .* is one you build/.test(custom)) p.push('single-custom (image from registry.example.com): still says the image is one you build');
    need(d, 'defaults', /EXTERNAL-IP stays\s+<pending>/);
    need(d, 'defaults', /kubectl port-forward --namespace moscow svc\/mt-moscow-time 8080:8080/);
    need(d, 'defaults', /minikube service --namespace moscow mt-moscow-time --url/);
    if (/a minute/.test(d)) p.push('defaults: promises an external address within "a minute"');
    // Metrics on their own port; who may reach it.
    need(d, 'defaults', /kubectl port-forward --namespace moscow pod\/mt-moscow-time-0 9113:9113/);
    need(d, 'defaults', /lets nobody in to port 9113/);
    need(metrics, 'metrics', /lets in to port 9113 only the pods of networkPolicy\.metrics/);
    need(d, 'defaults', /exit code 74 cannot open its counter file/);
    need(vp, 'volume-permissions', /volumePermissions is on: an init container runs as root[\s\S]*"baseline", not "restricted"/);
    if (/volumePermissions is on/.test(d)) p.push('defaults: says volumePermissions is on');
    need(d, 'defaults', /kubectl exec --namespace moscow mt-moscow-time-\$i -c responder -- cat \/data\/visits/);
    need(d, 'defaults', /mt-moscow-time-\$i\.mt-moscow-time-headless\.moscow\.svc\.cluster\.local:8080\/visits/);
    need(d, 'defaults', /loadBalancer\.ingress/);
    need(d, 'defaults', /visits-mt-moscow-time-N/);
    need(d, 'defaults', /helm test --namespace moscow mt/);
    if (/WARNING/.test(d)) p.push('defaults: warns about persistence although it is on');
    need(off, 'persistence-off', /WARNING: persistence.enabled is false[\s\S]*lost when its pod is deleted/);
    need(cip, 'clusterip-netpol', /kubectl port-forward --namespace moscow svc\/mt-moscow-time 80:80/);
    need(cip, 'clusterip-netpol', /NetworkPolicy lets in only TCP port 8080, and only from pods labelled\s+mt-moscow-time-client=true/);
    need(d, 'defaults', /3 pods, mt-moscow-time-0 \.\. mt-moscow-time-2, each/);
    need(d, 'defaults', /never change\s+nameOverride or fullnameOverride/);
    need(d, 'defaults', /counts no visit/);
    need(zero, 'replicas-zero', /no pods: replicaCount is 0/);
    if (/-0 \.\.|--1|seq 0 -1/.test(zero)) p.push(`replicas-zero: pod ranges for 0 pods: ${zero.match(/.*(-0 \.\.|--1|seq 0 -1).*/)?.[0]}`);
    return p;
}

// ------------------------------------------------------------------ bite tests

// Each breaks one thing, in a copy, and requires the check that guards it to
// fail with the expected message. `check` is a rule name, "api" (the
// Kubernetes validators), "yamllint" (rendered) or a global check's name.
const BITES = [
    { name: 'podmanagementpolicy in lower case is an unknown field', edits: [['chart', 'templates/statefulset.yaml', 'podManagementPolicy:', 'podmanagementpolicy:']], check: 'api', expect: /spec\.podmanagementpolicy: unknown field/ },
    { name: 'volumeclaimtemplates in lower case is an unknown field', edits: [['chart', 'templates/statefulset.yaml', 'volumeClaimTemplates:', 'volumeclaimtemplates:']], check: 'api', expect: /spec\.volumeclaimtemplates: unknown field/ },
    { name: 'imagee: in a container is an unknown field', edits: [['chart', 'templates/statefulset.yaml', /(- name: nginx\n\s+)image:/, '$1imagee:']], check: 'api', expect: /containers\[0\]\.imagee: unknown field/ },
    { name: 'replicas rendered as a string is rejected', edits: [['chart', 'templates/statefulset.yaml', 'replicas: {{ .Values.replicaCount }}', 'replicas: {{ .Values.replicaCount | quote }}']], check: 'api', expect: /spec\.replicas: must be integer/ },
    { name: 'a probe template on / is caught', edits: [['chart', 'templates/_helpers.tpl', 'path: {{ .probe.path }}', 'path: /']], check: 'probes', expect: /counting route/ },
    { name: "nginx's liveness through the responder (/readyz) is caught", sets: ['nginx.livenessProbe.path=/readyz'], check: 'probes', expect: /a dead responder would restart nginx/ },
    { name: "the responder's liveness through nginx (an HTTP probe, not moscow-time --probe) is caught", edits: [['chart', 'templates/_helpers.tpl', '{{- if hasKey $probe "path" }}', '{{- if true }}']], check: 'probes', expect: /responder\.livenessProbe: exec \(moscow-time --probe, no nginx\)/ },
    { name: 'a probe switched off in values but rendered is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- else if $probe.enabled }}', '{{- else if true }}']], sets: ['nginx.startupProbe.enabled=false'], check: 'probes', expect: /disabled in the values but rendered/ },
    { name: 'a custom probe ignored is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- if $custom }}', '{{- if false }}']], files: ['values/extras.yaml'], check: 'probes', expect: /\(custom\)/ },
    { name: 'a socket mount elsewhere than the config socket is caught', edits: [['chart', 'templates/statefulset.yaml', 'mountPath: {{ $runDir }}/sock', 'mountPath: {{ $runDir }}/socket']], check: 'mounts', expect: /socket/ },
    { name: 'nginx temp folder not mounted is caught', edits: [['chart', 'templates/statefulset.yaml', 'mountPath: {{ $runDir }}/nginx', 'mountPath: /var/cache/nginx']], check: 'mounts', expect: /nginx\/nginx\.pid \(nginx\.conf\) is not on a writable emptyDir/ },
    { name: 'the counter off the visits volume is caught', edits: [['chart', 'templates/statefulset.yaml', /(- name: visits\n\s+mountPath: )\{\{ include "moscow-time\.dataDir" \. \}\}(\n\s+- name: tmp-responder)/, '$1/var/lib/visits$2']], check: 'mounts', expect: /\[counter\] path \/data\/visits is not on the writable visits volume/ },
    { name: 'a writable config mount is caught', edits: [['chart', 'templates/statefulset.yaml', 'readOnly: true', 'readOnly: false']], check: 'config', expect: /config mount is not readOnly/ },
    { name: 'a missing checksum/config annotation is caught', edits: [['chart', 'templates/statefulset.yaml', 'checksum/config:', 'checksum/other:']], check: 'config', expect: /checksum\/config/ },
    { name: 'an alert whose expression no longer matches its tests is caught (promtool test rules)', edits: [['chart', 'templates/prometheusrule.yaml', 'increase(moscow_time_visits_file_write_errors_total', 'increase(moscow_time_visits_file_writes_total']], check: 'alerts', expect: /promtool test rules/ },
    { name: 'an alert without a unit test is caught', edits: [['chart', 'templates/prometheusrule.yaml', '- alert: MoscowTimeFsyncFailing', '- alert: MoscowTimeFsyncFailingAgain']], check: 'alerts', expect: /MoscowTimeFsyncFailingAgain has no test/ },
    { name: 'a ServiceMonitor that also selects the main service (each pod scraped twice) is caught', edits: [['chart', 'templates/servicemonitor.yaml', '      app.kubernetes.io/component: headless\n', '']], files: ['values/metrics.yaml'], check: 'metrics', expect: /Services the ServiceMonitor selects/ },
    { name: 'pods without the scrape annotations are caught', edits: [['chart', 'templates/statefulset.yaml', 'prometheus.io/scrape: "true"', 'prometheus.io/scrape: "false"']], check: 'metrics', expect: /prometheus\.io annotations .* absent/ },
    { name: 'a discovery of another port than the headless service\'s is caught', edits: [['chart', 'templates/_helpers.tpl', 'printf "_http._tcp.%s"', 'printf "_web._tcp.%s"']], files: ['values/metrics.yaml'], check: 'config', expect: /peers, discover and metrics as the chart renders them/ },
    { name: 'a headless service without the port discovery names is caught', edits: [['chart', 'templates/service-headless.yaml', '    - name: http\n', '    - name: web\n']], check: 'config', expect: /the headless Service has no port named http/ },
    { name: 'a checksum that ignores the config is caught', edits: [['chart', 'templates/statefulset.yaml', 'include "moscow-time.configChecksum" .', '"fixed" | sha256sum']], check: 'checksum', expect: /did not change/ },
    { name: 'config.ini rendered without quotes breaks the % format (values differ)', edits: [['chart', 'templates/_helpers.tpl', '{{ $key }} = "{{ $value }}"', '{{ $key }} = {{ $value }}']], files: ['values/single-custom.yaml'], check: 'config', expect: /rendered config.ini values vs .Values.config/ },
    { name: 'readOnlyRootFilesystem false is caught', sets: ['containerSecurityContext.readOnlyRootFilesystem=false'], check: 'security', expect: /readOnlyRootFilesystem: false, expected true/ },
    { name: 'root user is caught', sets: ['podSecurityContext.runAsUser=0', 'containerSecurityContext.runAsUser=0'], check: 'security', expect: /runs as uid 0/ },
    { name: 'a mounted API token is caught', sets: ['serviceAccount.automountServiceAccountToken=true'], check: 'security', expect: /automountServiceAccountToken: true, expected false/ },
    { name: 'publishNotReadyAddresses false is caught', edits: [['chart', 'templates/service-headless.yaml', 'publishNotReadyAddresses: true', 'publishNotReadyAddresses: false']], check: 'services', expect: /publishNotReadyAddresses/ },
    { name: 'a NetworkPolicy that lets in another port is caught', edits: [['chart', 'templates/networkpolicy.yaml', '  ingress:\n    - ports:\n        - port: {{ $port }}', '  ingress:\n    - ports:\n        - port: 80']], check: 'availability', expect: /NetworkPolicy ingress ports/ },
    { name: 'a NetworkPolicy with open egress is caught', edits: [['chart', 'templates/networkpolicy.yaml', '{{- if $np.allowExternalEgress }}', '{{- if true }}']], check: 'availability', expect: /egress unrestricted/ },
    { name: 'a NetworkPolicy that ignores allowExternal=false is caught', edits: [['chart', 'templates/networkpolicy.yaml', '{{- if not $np.allowExternal }}', '{{- if false }}']], files: ['values/clusterip-netpol.yaml'], check: 'availability', expect: /allowExternal false, but anyone may connect/ },
    { name: 'an Ingress to the wrong port is caught', edits: [['chart', 'templates/ingress.yaml', 'number: {{ $port }}', 'number: 80']], files: ['values/extras.yaml'], check: 'availability', expect: /Ingress rules/ },
    { name: 'a PDB that ignores minAvailable is caught', edits: [['chart', 'templates/pdb.yaml', '{{- if ne (toString .Values.pdb.minAvailable) "" }}', '{{- if false }}']], files: ['values/extras.yaml'], check: 'availability', expect: /PDB minAvailable/ },
    { name: 'a helm test pod with the selector labels is caught', edits: [['chart', 'templates/tests/test-connection.yaml', 'app.kubernetes.io/name: {{ $name }}', 'app.kubernetes.io/name: {{ include "moscow-time.name" . }}']], check: 'labels', expect: /Service\/mt-moscow-time selects Pod\/mt-moscow-time-test-connection/ },
    { name: 'a helm test pod that counts a visit is caught', edits: [['chart', 'templates/tests/test-connection.yaml', 'echo "GET /visits";', 'get {{ $url }}/ >/dev/null; echo "GET /visits";']], check: 'helmTest', expect: /requests http:\/\/mt-moscow-time:8080\/, which counts a visit/ },
    { name: 'one /tmp shared by both containers is caught', edits: [['chart', 'templates/statefulset.yaml', '- name: tmp-responder\n              mountPath: /tmp', '- name: tmp-nginx\n              mountPath: /tmp']], check: 'mounts', expect: /share one \/tmp/ },
    { name: 'an object without commonAnnotations is caught', edits: [['chart', 'templates/configmap.yaml', 'include "moscow-time.annotations" (dict "context" $)', 'dict']], files: ['values/extras.yaml'], check: 'labels', expect: /ConfigMap\/[a-z-]+: lacks commonAnnotations/ },
    { name: 'an object ignoring namespaceOverride is caught', edits: [['chart', 'templates/service.yaml', 'namespace: {{ include "moscow-time.namespace" . }}', 'namespace: {{ .Release.Namespace }}']], files: ['values/extras.yaml'], check: 'labels', expect: /Service\/[a-z-]+: namespace moscow, expected clocks/ },
    { name: 'an ignored image digest is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- if .image.digest }}', '{{- if false }}']], files: ['values/extras.yaml'], check: 'statefulset', expect: /nginx: image/ },
    { name: 'an ignored podAntiAffinityPreset is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- else if .Values.podAntiAffinityPreset }}', '{{- else if false }}']], check: 'podSettings', expect: /podAntiAffinityPreset "soft"/ },
    { name: 'sidecars that are not rendered are caught', edits: [['chart', 'templates/statefulset.yaml', '{{- with .Values.sidecars }}', '{{- with list }}']], files: ['values/extras.yaml'], check: 'statefulset', expect: /containers: / },
    { name: 'extraEnvVarsCM on one container only is caught', edits: [['chart', 'templates/statefulset.yaml', /(- name: responder[\s\S]*?)\{\{- with include "moscow-time\.env" \. \}\}/, '$1{{- with "" }}']], files: ['values/extras.yaml'], check: 'podSettings', expect: /responder: envFrom/ },
    { name: 'a responder that stops before nginx is caught', edits: [['chart', 'templates/statefulset.yaml', '["sleep", {{ .Values.responder.preStopDelaySeconds | quote }}]', '["sleep", "1"]']], check: 'termination', expect: /would stop before nginx/ },
    { name: 'claim template labels with the chart version are caught (upgrades would fail)', edits: [['chart', 'templates/statefulset.yaml', /(name: visits\n\s+labels:\n\s+\{\{- include )"moscow-time.selectorLabels"/, '$1"moscow-time.labels"']], check: 'labels', expect: /volumeClaimTemplates visits: labels/ },
    { name: 'appVersion other than fcgi-app/VERSION is caught', edits: [['chart', 'Chart.yaml', /appVersion: ".*"/, 'appVersion: "9.9.9"']], check: 'chartMetadata', expect: /appVersion "9\.9\.9" but fcgi-app\/VERSION/ },
    { name: "a changed default of the responder's example config is caught", edits: [['configIni', null, 'workers = 16', 'workers = 12']], check: 'configKeysValues', expect: /\[server\] workers: values\.yaml has 16, the responder's default \(--print-config fcgi-app\/config\.ini\) is "12"/ },
    { name: 'a key of the responder missing from the schema is caught', edits: [['chart', 'values.schema.json', (t) => { const j = JSON.parse(t); const c = j.properties.config.properties.counter; delete c.properties.sync_interval_ms; c.required = c.required.filter((k) => k !== 'sync_interval_ms'); return JSON.stringify(j, null, 2); }]], check: 'configKeysSchema', expect: /--print-config keys/ },
    { name: 'a key dropped from values.yaml config is caught', edits: [['chart', 'values.yaml', /\n\s+# -- Milliseconds between fsyncs[^\n]*\n\s+sync_interval_ms: 1000/, '']], check: 'configKeysValues', expect: /not in values.yaml config: \[counter\] sync_interval_ms/ },
    { name: 'a live key whose change still rolls the pods is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- $_ := unset $c.log "level" -}}\n', '']], check: 'checksumLiveKeys', expect: /yet a change of it rolls the pods with config\.reload live: \[log\] level/ },
    { name: 'a restart-only key left out of the checksum is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- $_ := unset $c.log "level" -}}', '{{- $_ := unset $c.log "level" -}}\n{{- $_ := unset $c.server "workers" -}}']], check: 'checksumLiveKeys', expect: /never reaches the pods: \[server\] workers/ },
    { name: 'a default differing from fcgi-app/config.ini is caught', edits: [['chart', 'values.yaml', 'workers: 16', 'workers: 8']], check: 'configKeysValues', expect: /\[server\] workers: values.yaml has 8/ },
    { name: 'a schema open to unknown top-level keys is caught', edits: [['chart', 'values.schema.json', (s) => JSON.stringify({ ...JSON.parse(s), additionalProperties: true }, null, 2)]], check: 'schemaRejectsUnknownKey', expect: /was accepted/ },
    { name: 'a value missing from the schema is caught', edits: [['chart', 'values.yaml', 'clusterDomain: cluster.local', 'clusterDomain: cluster.local\n# -- A value the schema does not know.\nnewValue: 1']], check: 'schemaCoverage', expect: /newValue: not in values.schema.json/ },
    { name: 'a duplicate key in values.yaml is caught by yamllint', edits: [['chart', 'values.yaml', 'replicaCount: 3', 'replicaCount: 3\nreplicaCount: 2']], check: 'yamllintSources', expect: /duplication of key "replicaCount"/ },
    { name: 'the probe path enum allowing / is caught', edits: [['chart', 'values.schema.json', '"/healthz",', '"/healthz",\n        "/",']], check: 'nginxProbePaths', expect: /schema probe path \/: path "\/" is the counting route/ },
    { name: 'a duplicate key in a rendered manifest is caught by yamllint', edits: [['chart', 'templates/statefulset.yaml', '  replicas: {{ .Values.replicaCount }}', '  replicas: {{ .Values.replicaCount }}\n  replicas: 1']], check: 'yamllintRendered', expect: /duplication of key "replicas"/ },
    { name: 'a value the template ignores (podManagementPolicy) is caught', edits: [['chart', 'templates/statefulset.yaml', 'podManagementPolicy: {{ .Values.podManagementPolicy }}', 'podManagementPolicy: OrderedReady']], check: 'statefulset', expect: /spec\.podManagementPolicy: "OrderedReady", expected "Parallel"/ },
    { name: 'the default serviceName not the headless service is caught', edits: [['chart', 'templates/statefulset.yaml', 'serviceName: {{ include "moscow-time.headlessServiceName" . }}', 'serviceName: {{ include "moscow-time.fullname" . }}']], check: 'statefulset', expect: /serviceName \(the headless service\)/ },
    { name: 'the image default command (moscow-time-serve) is caught', edits: [['chart', 'templates/statefulset.yaml', '(list "moscow-time-nginx" $runDir)', '(list "moscow-time-serve")']], check: 'statefulset', expect: /moscow-time-serve, meant for docker run only/ },
    { name: 'a claim size the template ignores is caught', edits: [['chart', 'templates/statefulset.yaml', 'storage: {{ .Values.persistence.size | quote }}', 'storage: "10Gi"']], check: 'persistence', expect: /claim size/ },
    { name: 'persistence off without an emptyDir is caught', edits: [['chart', 'templates/statefulset.yaml', 'emptyDir: {}', 'hostPath:\n            path: /var/visits']], files: ['values/persistence-off.yaml'], check: 'persistence', expect: /no emptyDir "visits"/ },
    { name: 'a helm test that skips /visits is caught', edits: [['chart', 'templates/tests/test-connection.yaml', '{{ $url }}/visits', '{{ $url }}/healthz']], check: 'helmTest', expect: /does not GET http:\/\/mt-moscow-time:8080\/visits/ },
    { name: 'an nginx memory limit too small for its connection slots is caught', edits: [['chart', 'templates/_helpers.tpl', '"memory" (list "128Mi" "192Mi")', '"memory" (list "128Mi" "160Mi")']], check: 'nginxMemory', expect: /memory limit 160Mi < 189Mi/ },
    { name: 'a preset without limits is caught', edits: [['chart', 'templates/_helpers.tpl', /\nlimits:\n  cpu: \{\{ index \$cpu 1 \| quote \}\}\n  memory: \{\{ index \$p\.memory 1 \}\}/, '']], check: 'podSettings', expect: /responder: resources \(resourcesPreset small\)/ },
    { name: 'a preset whose memory limit is far above its request (nginx 32Mi of 256Mi) is caught', edits: [['chart', 'templates/_helpers.tpl', '"memory" (list "128Mi" "192Mi")', '"memory" (list "32Mi" "256Mi")']], check: 'presetsSane', expect: /nginx preset small: memory request 32Mi, limit 256Mi/ },
    { name: 'extraEnv on one container only is caught', edits: [['chart', 'templates/statefulset.yaml', /(- name: responder[\s\S]*?)\{\{- with include "moscow-time\.env" \. \}\}/, '$1{{- with "" }}']], values: { extraEnv: [{ name: 'A', value: 'b' }] }, check: 'podSettings', expect: /responder: env/ },
    { name: 'a StatefulSet name over 52 characters is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}', '{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}']], check: 'fullnameTruncation', expect: /StatefulSet name has 63 characters/ },
    { name: 'an image tag other than appVersion by default is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- default .Chart.AppVersion .Values.image.tag }}', '{{- default "latest" .Values.image.tag }}']], check: 'imageTag', expect: /default images localhost\/moscow-time:latest/ },
    { name: 'NOTES.txt without the persistence warning is caught', edits: [['chart', 'templates/NOTES.txt', 'WARNING: persistence.enabled is false.', 'Note: persistence.enabled is false.']], check: 'notes', expect: /persistence-off: no/ },
    { name: 'NOTES.txt without the pod DNS names is caught', edits: [['chart', 'templates/NOTES.txt', '{{ $fullname }}-$i.{{ $headless }}.{{ $ns }}.svc.{{ .Values.clusterDomain }}', '{{ $fullname }}']], check: 'notes', expect: /svc\\.cluster\\.local/ },
    { name: 'a value missing from the README table is caught', edits: [['chart', 'README.md', /\n\| `service\.externalTrafficPolicy` \|[^\n]*/, '']], check: 'readmeValues', expect: /the values table differs from values\.yaml/ },
    { name: 'a value without a description is caught', edits: [['chart', 'values.yaml', '# -- The cluster\'s DNS domain, used in NOTES.txt for the pods\' DNS names.\n', '']], check: 'readmeValues', expect: /clusterDomain has no "# --" comment/ },
    { name: 'NOTES.txt with pod ranges for replicaCount 0 is caught', edits: [['chart', 'templates/NOTES.txt', '{{- if eq $n 0 }}', '{{- if false }}']], check: 'notes', expect: /replicas-zero/ },
    { name: 'a retentionPolicy let through on Kubernetes 1.26 is caught', edits: [['chart', 'templates/_helpers.tpl', '(semverCompare "<1.27.0-0" .Capabilities.KubeVersion.Version)', 'false']], check: 'retentionKubeVersion', expect: /Kubernetes 1\.26 with a retentionPolicy: accepted/ },
    { name: 'a rename check that passes renames is caught', edits: [['chart', 'templates/_helpers.tpl', '(ne .metadata.name $name)', 'false']], check: 'renameRefused', expect: /a renamed StatefulSet: accepted/ },
    { name: 'a rename check not run on upgrade is caught', edits: [['chart', 'templates/statefulset.yaml', '{{- if .Release.IsUpgrade }}', '{{- if false }}']], check: 'renameRefused', expect: /does not run moscow-time\.checkRename/ },
    { name: 'Chart.yaml without an icon is caught', edits: [['chart', 'Chart.yaml', /\nicon: [^\n]*/, '']], check: 'chartMetadata', expect: /no icon/ },
    { name: 'a default of 1 replica is caught', edits: [['chart', 'values.yaml', 'replicaCount: 3', 'replicaCount: 1']], check: 'defaultNames', expect: /not 3 replicas, Parallel/ },
    { name: 'an immutable-field guard that lets every change through is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- if $changes }}', '{{- if false }}']], check: 'immutableGuard', expect: /\(podManagementPolicy\): accepted/ },
    { name: 'an immutable-field guard not run on upgrade is caught', edits: [['chart', 'templates/statefulset.yaml', /\n\{\{- include "moscow-time\.checkImmutable"[^\n]*/, '']], check: 'immutableGuard', expect: /does not run moscow-time\.checkImmutable/ },
    { name: 'an immutable-field guard comparing sizes as text (1024Mi against the cluster\'s 1Gi) is caught', edits: [['chart', 'templates/_helpers.tpl', 'ne (include "moscow-time.quantityBytes" $size) (include "moscow-time.quantityBytes" $p.size)', 'ne $size $p.size']], check: 'immutableGuard', expect: /the same size spelled otherwise[^:]*: refused/ },
    { name: 'names not validated (release 1mt rendered) are caught', edits: [['chart', 'templates/_helpers.tpl', '{{- include "moscow-time.validateNames" . }}', '']], check: 'dnsNames', expect: /release 1mt: accepted/ },
    { name: 'a PDB percentage rounded down (50% of one pod let through) is caught', edits: [['chart', 'templates/_helpers.tpl', '(add (mul (int (trimSuffix "%" $v)) $n) 99)', '(mul (int (trimSuffix "%" $v)) $n)']], check: 'pdbDrain', expect: /replicaCount 1, minAvailable "50%", maxUnavailable "": accepted/ },
    { name: 'the version label taken from the tag unsanitised is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" $v "" }}', '{{- $v }}']], check: 'versionLabel', expect: /image\.tag "dev_": .* "dev_", expected "dev"/ },
    { name: 'adaptSecurityContext force ignored is caught', edits: [['chart', 'templates/_helpers.tpl', '{{- if or (eq $mode "force") (and', '{{- if or false (and']], check: 'openshift', expect: /force: StatefulSet\/mt-moscow-time still fixes/ },
    { name: 'volumePermissions let through on OpenShift is caught', edits: [['chart', 'templates/_helpers.tpl', /\{\{- if and \.Values\.volumePermissions\.enabled \.Values\.persistence\.enabled \(include "moscow-time\.openshift" \.\) \}\}/, '{{- if false }}']], check: 'openshift', expect: /volumePermissions on OpenShift: accepted/ },
    { name: 'DNS egress without 5353 (OpenShift) is caught', edits: [['chart', 'templates/networkpolicy.yaml', /\n\s+- port: 5353\n\s+protocol: UDP\n\s+- port: 5353\n\s+protocol: TCP/, '']], check: 'availability', expect: /DNS \(53 and 5353, UDP and TCP\) not allowed out/ },
    { name: 'a metrics port open to anyone is caught', edits: [['chart', 'templates/networkpolicy.yaml', /\n\s+from:\n\s+\{\{- toYaml \(list \.\) \| nindent 8 \}\}/, '']], files: ['values/metrics.yaml'], check: 'availability', expect: /the metrics port 9113 open to anyone/ },
    { name: 'the metrics port let in without networkPolicy.metrics is caught', edits: [['chart', 'templates/networkpolicy.yaml', '{{- with $peer }}', '{{- with dict "x" 1 }}']], check: 'availability', expect: /NetworkPolicy ingress rules: 2, expected 1/ },
    { name: 'the metrics port on the public service is caught', edits: [['chart', 'templates/service.yaml', '      targetPort: http\n', '      targetPort: http\n    - name: metrics\n      port: 9113\n      targetPort: metrics\n']], check: 'metrics', expect: /\(public\) exposes the metrics port/ },
    { name: 'scrape annotations on the public port are caught', edits: [['chart', 'templates/statefulset.yaml', 'prometheus.io/port: {{ $metricsPort | quote }}', 'prometheus.io/port: "8080"']], check: 'metrics', expect: /prometheus\.io annotations .* absent/ },
    { name: 'a ServiceMonitor on the public port is caught', edits: [['chart', 'templates/servicemonitor.yaml', '    - port: metrics', '    - port: http']], files: ['values/metrics.yaml'], check: 'metrics', expect: /ServiceMonitor endpoints/ },
    { name: 'a pod without the default-container annotation is caught', edits: [['chart', 'templates/statefulset.yaml', 'kubectl.kubernetes.io/default-container: responder', 'kubectl.kubernetes.io/default-container: nginx']], check: 'statefulset', expect: /default-container: "nginx", expected "responder"/ },
    { name: 'volume-permissions rendered while disabled is caught', edits: [['chart', 'templates/statefulset.yaml', /\.Values\.volumePermissions\.enabled/g, 'true']], check: 'statefulset', expect: /initContainers: \["volume-permissions"\], expected \[\]/ },
    { name: 'a volume-permissions container with more capabilities than chown needs is caught', edits: [['chart', 'values.yaml', '        - DAC_OVERRIDE\n', '        - DAC_OVERRIDE\n        - SYS_ADMIN\n']], files: ['values/volume-permissions.yaml'], check: 'security', expect: /capabilities\.add \(only what chown needs\)/ },
    { name: 'a helm test that does not require 404 for /metrics is caught', edits: [['chart', 'templates/tests/test-connection.yaml', /\n\s+if out=[^\n]*\n\s+echo "\$out" \| grep -q 404/, '']], check: 'helmTest', expect: /does not require 404 for \/metrics/ },
    { name: 'NOTES.txt without how to load the image is caught', edits: [['chart', 'templates/NOTES.txt', 'kind load image-archive moscow-time.tar', 'kind load moscow-time.tar']], check: 'notes', expect: /kind load image-archive/ },
    { name: 'NOTES.txt promising a LoadBalancer address is caught', edits: [['chart', 'templates/NOTES.txt', 'kind and minikube have no load-balancer controller: EXTERNAL-IP stays', 'The external address can take a minute to appear, else EXTERNAL-IP stays']], check: 'notes', expect: /a minute/ },
    { name: 'a README first section without kind load image-archive is caught', edits: [['chart', 'README.md', 'kind load image-archive moscow-time.tar      # kind', 'kind load docker-image moscow-time           # kind']], check: 'readmeFirstSection', expect: /does not say \/kind load image-archive\// },
    { name: 'a README table row naming a check that does not exist is caught', edits: [['chart', 'README.md', 'offline render: `resources presets`', 'offline render: `resources are' + ' fine`']], check: 'readmeVerification', expect: /no check "resources are f[i]ne"/ },
    { name: 'a README that does not end with the verification table is caught', edits: [['chart', 'README.md', (t) => `${t}\n## Later\n\nMore text.\n`]], check: 'readmeVerification', expect: /does not end with a table/ },
    { name: 'a config.ini the responder refuses is caught', edits: [['chart', 'templates/_helpers.tpl', '; cluster and metrics. The keys are those of fcgi-app/config.ini.', '; cluster and metrics.\n[extra]\nunknown = 1']], check: 'checkConfig', expect: /unknown section/, needsResponder: true },
];

async function bite(b) {
    if (b.needsResponder && !env.CHART_TEST_RESPONDER) return { skip: 'build/moscow-time is not built' };
    const f = facts(brokenCopy(b.edits ?? []));
    let problems;
    if (globalChecks[b.check]) {
        problems = await globalChecks[b.check](f);
    } else {
        const files = (b.files ?? []).map((x) => join(here, x));
        if (b.values) {
            files.push(join(mkdtempSync(join(scratch, 'values-')), 'values.yaml'));
            writeFileSync(files.at(-1), JSON.stringify(b.values)); // JSON is YAML
        }
        const rendered = await render(f, { files, sets: b.sets ?? [] });
        if (rendered.res.status !== 0) return [`the broken chart did not render: ${lines(rendered.res.stderr, 3).join(' ')}`];
        if (b.check === 'yamllintRendered') problems = [...(rendered.res.yamlErrors ?? []), ...(await yamllint('yamllint-rendered.yaml', [], rendered.res.stdout))];
        else if (!rendered.res.ok) return [`the broken chart's output is not YAML: ${rendered.res.yamlErrors.join(' ')}`];
        else if (b.check === 'api') problems = await apiProblems(rendered.objs);
        else if (b.check === 'checkConfig') problems = await checkConfig(rendered);
        else problems = rules[b.check](ruleInput(f, rendered));
    }
    if (problems.length === 0) return [`check "${b.check}" passed on the broken input`];
    return problems.some((x) => b.expect.test(x)) ? [] : [`check "${b.check}" failed, but not with ${b.expect}:`, ...problems];
}

// The effective values after --set a.b=c (the types helm gives them).
function setValue(values, assignment) {
    const [path, raw] = assignment.split(/=(.*)/s);
    const v = raw === 'null' ? null : raw === 'true' ? true : raw === 'false' ? false : /^-?\d+$/.test(raw) ? Number(raw) : raw;
    const keys = path.split('.');
    const over = {};
    let o = over;
    keys.forEach((k, i) => {
        o[k] = i === keys.length - 1 ? v : {};
        o = o[k];
    });
    return mergeValues(values, over);
}

if (process.argv[3] === '--write-readme') {
    const readmePath = join(REAL.chart, 'README.md');
    const { table, problems } = valuesTable(text(join(REAL.chart, 'values.yaml')), YAML);
    const out = replaceTable(text(readmePath), table);
    if (problems.length || out === null) {
        console.log(`not ok - write the README's values table\n${[...problems, ...(out === null ? ['README.md has no table markers'] : [])].map((x) => `# ${x}`).join('\n')}`);
        process.exit(1);
    }
    writeFileSync(readmePath, out);
    console.log(`ok - wrote the values table of ${readmePath}`);
    process.exit(0);
}
if (!existsSync(env.CHART_TEST_HELM ?? '')) {
    console.log('not ok - chart checks: CHART_TEST_HELM not set (run tests/chart/run.sh)');
    process.exit(1);
}
await main();
