/**
 * The example files: listed, parsed strictly, and searched for the settings they give
 * claude-entry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers.js';

export const EXAMPLES = path.join(ROOT, 'examples');

/** Every file under examples/, relative to it, except the lead's examples/demo.*. */
export function exampleFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(path.relative(EXAMPLES, full));
    }
  };
  walk(EXAMPLES);
  return out.filter((f) => !/^demo\./.test(f)).sort();
}

export const isYaml = (f: string) => /\.ya?ml$/.test(f);
export const isJson = (f: string) => /\.json$/.test(f);

export function readExample(file: string): string {
  return fs.readFileSync(path.join(EXAMPLES, file), 'utf8');
}

/**
 * All documents of a YAML file, strictly: any error or warning (duplicate keys, tabs, bad
 * indentation, YAML 1.1-only forms) fails. Kubernetes and Compose read YAML 1.2-compatibly
 * enough that what parses here as 1.2 means the same there.
 */
export function loadYaml(file: string): unknown[] {
  const docs = parseAllDocuments(readExample(file), { uniqueKeys: true, strict: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const problems = list.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message);
  if (problems.length > 0) throw new Error(`${file}:\n${problems.join('\n')}`);
  return list.map((d) => d.toJS({ maxAliasCount: 0 }) as unknown).filter((d) => d !== null && d !== undefined);
}

export function loadJson(file: string): unknown {
  return JSON.parse(readExample(file)) as unknown;
}

export function load(file: string): unknown[] {
  return isYaml(file) ? loadYaml(file) : [loadJson(file)];
}

export interface Setting {
  name: string;
  value: string;
}

/**
 * Every environment variable an example sets, whatever the platform's shape: `{name, value}`
 * lists (Kubernetes, ECS, Cloud Run, Container Apps) and maps under `environment`, `env` or
 * `containerEnv` (Compose, GitHub Actions, devcontainer.json).
 */
export function settingsIn(doc: unknown): Setting[] {
  const out: Setting[] = [];
  const visit = (node: unknown, key?: string) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    if (typeof obj.name === 'string' && typeof obj.value === 'string' && /^[A-Z_][A-Z0-9_]*$/.test(obj.name)) {
      out.push({ name: obj.name, value: obj.value });
    }
    if (key && ['environment', 'env', 'containerEnv'].includes(key)) {
      for (const [name, value] of Object.entries(obj)) {
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.push({ name, value: String(value) });
      }
    }
    for (const [k, v] of Object.entries(obj)) visit(v, k);
  };
  visit(doc);
  return out;
}

/** The example's placeholders, filled with sample values where a parser wants real syntax. */
export const PLACEHOLDERS: Record<string, string> = {
  ACCOUNT_ID: '123456789012',
  REGION: 'eu-west-1',
  PROJECT_ID: 'my-project',
  VAULT: 'my-vault',
  SUBSCRIPTION_ID: '00000000-0000-0000-0000-000000000000',
  RESOURCE_GROUP: 'agents',
  CLIENT_ID: '11111111-1111-1111-1111-111111111111',
};

export function fillPlaceholders(text: string): string {
  return text.replace(/\b[A-Z][A-Z_]*[A-Z]\b/g, (word) => PLACEHOLDERS[word] ?? word);
}
