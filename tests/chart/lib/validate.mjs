// Validation of rendered Kubernetes objects against the API types, offline.
//
// Two independent validators, both generated from Kubernetes' OpenAPI schema:
//  - kubernetes-models: JSON schema per kind: types, required fields, enums,
//    int32 ranges. It lets unknown fields through.
//  - @kubernetes/client-node's models: each type's attributeTypeMap, the list
//    of its fields and their types. Walking an object against them rejects
//    unknown and mis-cased fields (podmanagementpolicy, volumeclaimtemplates,
//    imagee), which Kubernetes would drop or refuse.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export class Validator {
    constructor(nodeModules, clientModels) {
        this.nodeModules = nodeModules;
        this.clientModels = clientModels;
        this.models = new Map(); // kubernetes-models classes by "group/version/Kind"
        this.types = new Map(); // client-node attribute maps by type name
    }

    // "apps/v1" + "StatefulSet" -> the kubernetes-models module path, or null.
    modelFile(apiVersion, kind) {
        if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
        if (!/^[A-Za-z0-9.-]+(\/[A-Za-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
        // Kubernetes' own kinds, then the Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule).
        for (const pkg of ['kubernetes-models', '@kubernetes-models/prometheus-operator']) {
            const file = join(this.nodeModules, pkg, apiVersion, `${kind}.js`);
            if (existsSync(file)) return file;
        }
        return null;
    }

    async modelClass(apiVersion, kind) {
        const key = `${apiVersion}/${kind}`;
        if (!this.models.has(key)) {
            const file = this.modelFile(apiVersion, kind);
            let cls = null;
            if (file) cls = (await import(pathToFileURL(file).href))[kind] ?? null;
            this.models.set(key, cls);
        }
        return this.models.get(key);
    }

    // The client-node type of a top-level object: V1StatefulSet, or with the
    // group's prefix where the name is shared (EventsV1Event).
    topType(apiVersion, kind) {
        const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
        const v = version.charAt(0).toUpperCase() + version.slice(1);
        const g = group.split('.')[0].replace(/^./, (c) => c.toUpperCase());
        return [`${v}${kind}`, `${g}${v}${kind}`];
    }

    async attributes(type) {
        if (!this.types.has(type)) {
            const file = join(this.clientModels, `${type}.js`);
            let map = null;
            if (/^[A-Za-z0-9]+$/.test(type) && existsSync(file)) {
                const mod = await import(pathToFileURL(file).href);
                map = mod[type]?.getAttributeTypeMap?.() ?? null;
            }
            this.types.set(type, map);
        }
        return this.types.get(type);
    }

    // All problems of one object; [] when Kubernetes would take it as written.
    async validate(obj) {
        const problems = [];
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
            return ['not an object'];
        }
        const { apiVersion, kind } = obj;
        const cls = await this.modelClass(apiVersion, kind);
        if (!cls) {
            return [`apiVersion ${JSON.stringify(apiVersion)} kind ${JSON.stringify(kind)}: not a served Kubernetes API type (unknown to kubernetes-models)`];
        }
        try {
            new cls(obj).validate();
        } catch (e) {
            const errors = e.errors ?? [];
            if (errors.length) {
                for (const err of errors) {
                    const where = (err.instancePath || '').replace(/^\//, '').replaceAll('/', '.') || '(object)';
                    const extra = err.params?.allowedValues ? `: ${err.params.allowedValues.join(', ')}` : '';
                    problems.push(`${where}: ${err.message}${extra}`);
                }
            } else {
                problems.push(String(e.message ?? e));
            }
        }
        // client-node knows no CRD: for the Prometheus Operator's kinds the CRD schema alone decides.
        if (apiVersion.startsWith('monitoring.coreos.com/')) return problems;
        let top = null;
        for (const t of this.topType(apiVersion, kind)) {
            if (await this.attributes(t)) {
                top = t;
                break;
            }
        }
        if (!top) {
            problems.push(`apiVersion ${JSON.stringify(apiVersion)} kind ${JSON.stringify(kind)}: not a served Kubernetes API type (unknown to @kubernetes/client-node)`);
        } else {
            await this.walk(obj, top, '', problems);
        }
        return problems;
    }

    async walk(value, type, path, problems) {
        if (value === null || value === undefined) return; // null is "unset" to Kubernetes
        const at = path || '(object)';
        let m;
        if (type === 'any' || type === 'object') return;
        if ((m = /^Array<(.+)>$/.exec(type))) {
            if (!Array.isArray(value)) {
                problems.push(`${at}: must be a list`);
                return;
            }
            for (let i = 0; i < value.length; i++) await this.walk(value[i], m[1], `${path}[${i}]`, problems);
            return;
        }
        if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
            if (!isMap(value)) {
                problems.push(`${at}: must be a map`);
                return;
            }
            for (const [k, v] of Object.entries(value)) await this.walk(v, m[1], `${path}.${k}`, problems);
            return;
        }
        switch (type) {
            case 'string':
            case 'Date':
                if (typeof value !== 'string') problems.push(`${at}: must be a string, not ${show(value)}`);
                return;
            case 'number':
                if (typeof value !== 'number') problems.push(`${at}: must be a number, not ${show(value)}`);
                return;
            case 'boolean':
                if (typeof value !== 'boolean') problems.push(`${at}: must be true or false, not ${show(value)}`);
                return;
            case 'IntOrString':
                if (!(typeof value === 'string' || Number.isInteger(value))) {
                    problems.push(`${at}: must be an integer or a string, not ${show(value)}`);
                }
                return;
            default:
                break;
        }
        const attrs = await this.attributes(type);
        if (!attrs) {
            problems.push(`${at}: type ${type} unknown to the validator`);
            return;
        }
        if (!isMap(value)) {
            problems.push(`${at}: must be an object (${type}), not ${show(value)}`);
            return;
        }
        for (const [key, v] of Object.entries(value)) {
            const attr = attrs.find((a) => a.baseName === key);
            const here = path ? `${path}.${key}` : key;
            if (!attr) {
                const near = attrs.find((a) => a.baseName.toLowerCase() === key.toLowerCase());
                problems.push(`${here}: unknown field${near ? ` (field names are case-sensitive: ${near.baseName})` : ''}`);
                continue;
            }
            if (attr.type === 'number' && (attr.format === 'int32' || attr.format === 'int64') && typeof v === 'number' && !Number.isInteger(v)) {
                problems.push(`${here}: must be an integer, not ${v}`);
                continue;
            }
            await this.walk(v, attr.type, here, problems);
        }
    }
}

function isMap(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function show(v) {
    return JSON.stringify(v)?.slice(0, 40) ?? String(v);
}
