// Helpers of the chart tests: helm, YAML, config.ini, nginx.conf, values.
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

let YAML = null;
export function yamlLib(nodeModules) {
    if (!YAML) YAML = createRequire(join(nodeModules, 'index.js'))('yaml');
    return YAML;
}

// Parses a YAML stream as Kubernetes does (YAML 1.1: 0444 is octal, yes/no
// are booleans); duplicate keys are errors.
export function parseYamlStream(text) {
    const docs = [];
    const errors = [];
    for (const doc of YAML.parseAllDocuments(text, { version: '1.1', uniqueKeys: true, prettyErrors: false })) {
        for (const e of doc.errors) errors.push(e.message);
        const v = doc.toJS({ maxAliasCount: 100 });
        if (v !== null && v !== undefined) docs.push(v);
    }
    return { docs, errors };
}

export function parseYaml(text) {
    const { docs, errors } = parseYamlStream(text);
    if (errors.length) throw new Error(errors.join('; '));
    return docs[0] ?? null;
}

// Runs a command to completion: {status, stdout, stderr}. At most `slots`
// commands run at once (helm is CPU-bound; more than the cores only thrash).
const slots = { free: Math.max(2, availableParallelism()), waiting: [] };
export async function run(cmd, args, { input, env, timeoutMs = 120000 } = {}) {
    if (slots.free === 0) await new Promise((resolve) => slots.waiting.push(resolve));
    else slots.free--;
    try {
        return await new Promise((resolve) => {
            const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
            let stdout = '';
            let stderr = '';
            const timer = setTimeout(() => {
                stderr += `\n${cmd}: killed after ${timeoutMs} ms`;
                child.kill('SIGKILL');
            }, timeoutMs);
            child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
            child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
            child.on('error', (e) => {
                clearTimeout(timer);
                resolve({ status: -1, stdout, stderr: `${stderr}${e}` });
            });
            child.on('close', (code) => {
                clearTimeout(timer);
                resolve({ status: code ?? -1, stdout, stderr });
            });
            child.stdin.on('error', () => {});
            child.stdin.end(input ?? '');
        });
    } finally {
        const next = slots.waiting.shift();
        if (next) next();
        else slots.free++;
    }
}

// Helm with its caches and config kept out of the user's home.
export function helmRunner(helm, scratch) {
    const env = {
        ...process.env,
        HELM_CACHE_HOME: join(scratch, 'helm-cache'),
        HELM_CONFIG_HOME: join(scratch, 'helm-config'),
        HELM_DATA_HOME: join(scratch, 'helm-data'),
        KUBECONFIG: join(scratch, 'no-kubeconfig'),
    };
    const valueArgs = (files = [], sets = []) => [...files.flatMap((f) => ['-f', f]), ...sets.flatMap((s) => ['--set', s])];
    return {
        async template(chart, { files = [], sets = [], release = 'mt', namespace = 'moscow', extra = [] } = {}) {
            const r = await run(helm, ['template', release, chart, '--namespace', namespace, ...valueArgs(files, sets), ...extra], { env });
            if (r.status !== 0) return { ...r, ok: false, objs: [] };
            const { docs, errors } = parseYamlStream(r.stdout);
            return { ...r, ok: errors.length === 0, objs: docs, yamlErrors: errors };
        },
        async lint(chart, { files = [], sets = [] } = {}) {
            const r = await run(helm, ['lint', '--strict', chart, ...valueArgs(files, sets)], { env });
            return { ...r, ok: r.status === 0 };
        },
    };
}

// config.ini as iniparser 4.1 reads it: [section], key = value, ; and #
// comments, a value in double or single quotes taken as is (spaces, ; and #
// included), an unquoted one up to the first ; or #. Names are lower-cased.
// Returns {sections: {name: {key: value}}, order: ["section key", ...]}.
export function parseIni(text) {
    const sections = {};
    const order = [];
    const problems = [];
    let section = null;
    text.split('\n').forEach((raw, i) => {
        const line = raw.trim();
        if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
        let m;
        if ((m = /^\[([^\]]*)\]/.exec(line))) {
            section = m[1].trim().toLowerCase();
            sections[section] ??= {};
            return;
        }
        if ((m = /^([^=]+?)\s*=\s*(.*)$/.exec(line))) {
            const key = m[1].trim().toLowerCase();
            let value = m[2];
            let q;
            if ((q = /^"([^"]*)"/.exec(value)) || (q = /^'([^']*)'/.exec(value))) value = q[1];
            else value = value.replace(/[;#].*$/, '').trim();
            if (section === null) {
                problems.push(`line ${i + 1}: a key before any [section]`);
                return;
            }
            if (Object.hasOwn(sections[section], key)) problems.push(`line ${i + 1}: [${section}] ${key} given twice`);
            sections[section][key] = value;
            order.push(`${section} ${key}`);
            return;
        }
        problems.push(`line ${i + 1}: not a section, key or comment: ${line}`);
    });
    return { sections, order, problems };
}

// `moscow-time --print-config FILE`: the configuration as the responder will
// use it, one "[section] key = value" line per key of its key table, in
// order. The same shape as parseIni.
export function parsePrintConfig(out) {
    const sections = {};
    const order = [];
    const problems = [];
    for (const line of out.split('\n')) {
        if (line === '') continue;
        const m = /^\[(\w+)\] (\w+) = (.*)$/.exec(line);
        if (!m) {
            problems.push(`not a "[section] key = value" line: ${line}`);
            continue;
        }
        (sections[m[1]] ??= {})[m[2]] = m[3];
        order.push(`${m[1]} ${m[2]}`);
    }
    return { sections, order, problems };
}

export function printConfig(responder, file) {
    if (!responder) return { sections: {}, order: [], problems: ['build/moscow-time is not built: the keys and defaults come from its --print-config'] };
    try {
        return parsePrintConfig(execFileSync(responder, ['--print-config', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    } catch (e) {
        return { sections: {}, order: [], problems: [`moscow-time --print-config ${file}: exit ${e.status}: ${String(e.stderr ?? e).trim()}`] };
    }
}

// The responder's key table (--print-keys): which keys a running responder takes live.
export function printKeys(responder) {
    const keys = { live: [], restart: [], problems: [] };
    if (!responder) return { ...keys, problems: ['build/moscow-time is not built: which keys are live comes from its --print-keys'] };
    let out;
    try {
        out = execFileSync(responder, ['--print-keys'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
        return { ...keys, problems: [`moscow-time --print-keys: exit ${e.status}: ${String(e.stderr ?? e).trim()}`] };
    }
    for (const line of out.split('\n').filter(Boolean)) {
        const [key, when] = line.split('\t');
        if (!/^\[\w+\] \w+$/.test(key) || !['live', 'restart'].includes(when)) keys.problems.push(`not a "[section] key<TAB>live|restart<TAB>..." line: ${line}`);
        else keys[when].push(key);
    }
    if (keys.live.length + keys.restart.length === 0) keys.problems.push('no keys');
    keys.live.sort();
    return keys;
}

export function keySet(sections) {
    return Object.entries(sections)
        .flatMap(([s, keys]) => Object.keys(keys).map((k) => `[${s}] ${k}`))
        .sort();
}

// The locations of nginx.conf's server block, with what each one does.
//   {modifier: "=", path: "/healthz", body: "...", fastcgi: false, returns: 200}
export function parseNginx(text) {
    const clean = text.replace(/#[^\n]*/g, '');
    const locations = [];
    const re = /location\s+(=|~\*|~|\^~)?\s*([^\s{]+)\s*\{/g;
    let m;
    while ((m = re.exec(clean))) {
        let depth = 1;
        let i = re.lastIndex;
        for (; i < clean.length && depth > 0; i++) {
            if (clean[i] === '{') depth++;
            else if (clean[i] === '}') depth--;
        }
        const body = clean.slice(re.lastIndex, i - 1);
        const ret = /\breturn\s+(\d{3})/.exec(body);
        locations.push({
            modifier: m[1] ?? '',
            path: m[2],
            body: body.trim(),
            fastcgi: /\bfastcgi_pass\b/.test(body),
            returns: ret ? Number(ret[1]) : null,
        });
    }
    const upstream = /upstream\s+\S+\s*\{[^}]*\bserver\s+unix:([^;\s]+)\s*;/.exec(clean);
    const pid = /^\s*pid\s+([^;\s]+)\s*;/m.exec(clean);
    const temps = [...clean.matchAll(/^\s*\w+_temp_path\s+([^;\s]+)/gm)].map((x) => x[1]);
    const workers = /^\s*worker_processes\s+(\d+)\s*;/m.exec(clean);
    const perWorker = /^\s*worker_connections\s+(\d+)\s*;/m.exec(clean);
    // Connection slots in all: what a slowloris attack can fill.
    const connections = workers && perWorker ? Number(workers[1]) * Number(perWorker[1]) : null;
    return { locations, socket: upstream ? upstream[1] : null, pid: pid ? pid[1] : null, temps, connections };
}

// Helm's merge of a values file over the defaults: maps merge key by key,
// anything else replaces, null deletes.
export function mergeValues(base, over) {
    if (!isMap(base) || !isMap(over)) return structuredClone(over);
    const out = structuredClone(base);
    for (const [k, v] of Object.entries(over)) {
        if (v === null) delete out[k];
        else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k], v);
        else out[k] = structuredClone(v);
    }
    return out;
}

export function isMap(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// The configuration the chart gives the responder (moscow-time.effectiveConfig):
// values.config's sections (config.reload is the chart's own setting, not a
// section), [cluster] peers as config.cluster.peers (the chart renders no list),
// [cluster] discover as config.cluster.discover, else with cluster.enabled and no
// peers the SRV records of the headless service's http port, [metrics] enabled
// from metrics.enabled. fullname: the StatefulSet's name.
export function effectiveConfig(values, fullname) {
    const c = {};
    for (const [s, keys] of Object.entries(values.config ?? {})) if (isMap(keys)) c[s] = { ...keys };
    const peers = c.cluster?.peers ?? '';
    const own = c.cluster?.discover;
    const rendered = values.cluster?.enabled && !peers ? `_http._tcp.${fullname}-headless` : '';
    c.cluster = { ...c.cluster, peers, discover: own || rendered };
    c.metrics = { enabled: values.metrics?.enabled };
    return c;
}

export function deepEqual(a, b) {
    return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v) {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (isMap(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
    return v;
}
