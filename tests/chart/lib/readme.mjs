// The README's values table, generated from values.yaml's "# --" comments
// (the helm-docs convention): a key with such a comment is one row, its
// default the key's value (as JSON) and its description the comment; a key
// without one is a section, and its keys are looked at in turn.
//
//   valuesTable(valuesYamlText, YAML) -> {table, problems}
//   replaceTable(readmeText, table)   -> the README with the table in place
import { isMap } from './util.mjs';

export const BEGIN = '<!-- values table: generated from values.yaml by `tests/chart/run.sh --write-readme`; do not edit -->';
export const END = '<!-- end of values table -->';

// Each "key:" line of values.yaml with its path and the "# --" comment above it.
function documentedKeys(text) {
    const rows = [];
    const problems = [];
    const stack = []; // [{indent, key}]
    let comment = null; // lines of the "# --" comment being read
    let skipDeeper = null; // indentation of a documented key: its contents are its value
    text.split('\n').forEach((line, i) => {
        const indent = line.length - line.trimStart().length;
        const body = line.trim();
        if (body === '' || body === '---') {
            comment = null;
            return;
        }
        if (skipDeeper !== null) {
            if (indent > skipDeeper || (indent === skipDeeper && body.startsWith('- '))) return;
            skipDeeper = null;
        }
        if (body.startsWith('#')) {
            const m = /^#\s?(.*)$/.exec(body);
            if (m[1].startsWith('-- ')) comment = [m[1].slice(3)];
            else if (comment) comment.push(m[1]);
            return;
        }
        const m = /^([A-Za-z_][\w-]*):(?:\s|$)/.exec(body);
        if (!m) {
            problems.push(`values.yaml line ${i + 1}: not a key of a section: ${body}`);
            comment = null;
            return;
        }
        while (stack.length && stack.at(-1).indent >= indent) stack.pop();
        const path = [...stack.map((s) => s.key), m[1]].join('.');
        if (comment) {
            rows.push({ path, description: comment.join(' ').replace(/\s+/g, ' ').trim() });
            skipDeeper = indent;
        } else {
            stack.push({ indent, key: m[1] });
        }
        comment = null;
    });
    return { rows, problems };
}

function get(values, path) {
    return path.split('.').reduce((o, k) => (isMap(o) ? o[k] : undefined), values);
}

// Every leaf of the values is in one row (a row covers everything under it).
function uncovered(values, rows, prefix = '') {
    const out = [];
    for (const [k, v] of Object.entries(values ?? {})) {
        const path = prefix ? `${prefix}.${k}` : k;
        if (rows.some((r) => r.path === path)) continue;
        if (isMap(v) && Object.keys(v).length) out.push(...uncovered(v, rows, path));
        else out.push(path);
    }
    return out;
}

const cell = (s) => s.replaceAll('|', '\\|');

export function valuesTable(text, YAML) {
    const values = YAML.parse(text, { version: '1.1' }) ?? {};
    const { rows, problems } = documentedKeys(text);
    for (const path of uncovered(values, rows)) problems.push(`values.yaml: ${path} has no "# --" comment (itself or a section above it)`);
    const lines = ['| Value | Default | Description |', '|---|---|---|'];
    for (const r of rows) lines.push(`| \`${r.path}\` | \`${cell(JSON.stringify(get(values, r.path)) ?? 'null')}\` | ${cell(r.description)} |`);
    return { table: lines.join('\n'), problems };
}

export function replaceTable(readme, table) {
    const a = readme.indexOf(BEGIN);
    const b = readme.indexOf(END);
    if (a < 0 || b < a) return null;
    return `${readme.slice(0, a + BEGIN.length)}\n${table}\n${readme.slice(b)}`;
}

export function tableOf(readme) {
    const a = readme.indexOf(BEGIN);
    const b = readme.indexOf(END);
    if (a < 0 || b < a) return null;
    return readme.slice(a + BEGIN.length, b).trim();
}
