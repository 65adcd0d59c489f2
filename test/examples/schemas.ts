/**
 * The real schemas the examples are checked against, all from packages on the npm registry
 * (nothing fetched at test time):
 *
 * - Compose: the compose-spec JSON schema, as shipped by dclint (schemas/compose.schema.json),
 *   with ajv.
 * - Kubernetes: kubernetes-models, whose validators are compiled from the Kubernetes OpenAPI
 *   schema (types, enums, required fields), plus its TypeScript interfaces for unknown fields
 *   (the OpenAPI schema does not forbid them; kubectl's strict decoding does).
 * - GitHub Actions: @actions/workflow-parser, GitHub's own workflow schema and expression
 *   parser (unknown keys, wrong contexts in ${{ }} are errors).
 * - ECS: @aws-sdk/client-ecs's RegisterTaskDefinitionCommandInput (generated from the ECS API
 *   model; what `aws ecs register-task-definition --cli-input-json` takes), by tsc.
 * - Azure Container Apps: @azure/arm-appcontainers's Job (generated from the ARM API
 *   specification; `az containerapp job create --yaml` takes the same resource), by tsc.
 * - Cloud Run jobs: no schema on npm; their containers and volumes are Kubernetes core/v1
 *   Container and Volume objects, checked as such.
 */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ROOT } from '../helpers.js';

const require = createRequire(import.meta.url);
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'claude-entry-examples');

// ---------------------------------------------------------------------------------- Compose

export const COMPOSE_SCHEMA = path.join(ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json');

let composeValidator: ((data: unknown) => string[]) | undefined;

/** Errors against the compose-spec schema; [] when valid. */
export function validateCompose(doc: unknown): string[] {
  if (!composeValidator) {
    const schema = JSON.parse(fs.readFileSync(COMPOSE_SCHEMA, 'utf8')) as Record<string, unknown>;
    // The file names draft-07 by an https URL ajv does not know by that name; it is draft-07.
    delete schema.$schema;
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    composeValidator = (data) =>
      validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  }
  return composeValidator(doc);
}

// ------------------------------------------------------------------------------- Kubernetes

type ModelClass = new (data: unknown) => { validate(): void };

/** `apps/v1` -> `kubernetes-models/apps/v1`; core `v1` -> `kubernetes-models/v1`. */
export function kubernetesModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** Validate one manifest with the model for its apiVersion and kind; the errors, [] when valid. */
export async function validateKubernetes(doc: { apiVersion?: string; kind?: string }): Promise<string[]> {
  if (!doc.apiVersion || !doc.kind) return ['no apiVersion or kind'];
  const mod = (await import(kubernetesModule(doc.apiVersion))) as Record<string, ModelClass | undefined>;
  const Model = mod[doc.kind];
  if (!Model) return [`kubernetes-models has no ${doc.kind} in ${doc.apiVersion}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

/** A Kubernetes sub-object (core/v1 Container, Volume, ...) against its compiled schema. */
export async function validateKubernetesPart(definition: string, value: unknown): Promise<string[]> {
  const mod = (await import(`kubernetes-models/_schemas/${definition}`)) as { validate: Validate };
  return mod.validate(value) ? [] : (mod.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

// ----------------------------------------------------------------------------- GitHub Actions

interface WorkflowParser {
  parseWorkflow(file: { name: string; content: string }, trace: unknown): { context: { errors: { getErrors(): { message: string }[] } }; value?: unknown };
  NoOperationTraceWriter: new () => unknown;
}

let workflowParser: WorkflowParser | undefined;

/**
 * @actions/workflow-parser imports its schema as a bare JSON module, which Node's ESM loader
 * refuses without an import attribute: bundle it once with esbuild (a devDependency of the
 * project already) into a CommonJS file and require that.
 */
async function loadWorkflowParser(): Promise<WorkflowParser> {
  if (workflowParser) return workflowParser;
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', '@actions', 'workflow-parser', 'package.json'), 'utf8')) as { version: string };
  const out = path.join(CACHE, `workflow-parser-${pkg.version}.cjs`);
  if (!fs.existsSync(out)) {
    const { build } = await import('esbuild');
    fs.mkdirSync(CACHE, { recursive: true });
    const temp = `${out}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    await build({
      stdin: { contents: "export * from '@actions/workflow-parser';", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: temp,
      logLevel: 'error',
    });
    fs.renameSync(temp, out);
  }
  workflowParser = require(out) as WorkflowParser;
  return workflowParser;
}

/** Errors GitHub would report for this workflow file; [] when valid. */
export async function validateWorkflow(name: string, content: string): Promise<string[]> {
  const parser = await loadWorkflowParser();
  const result = parser.parseWorkflow({ name, content }, new parser.NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  if (errors.length === 0 && result.value === undefined) errors.push(`${name}: parsed to nothing`);
  return errors;
}

// ------------------------------------------------------------------------ TypeScript models

export interface TypedValue {
  /** Shown in failures: file and path inside it. */
  label: string;
  /** Module that exports the type. */
  module: string;
  type: string;
  value: unknown;
}

/**
 * Check values against TypeScript types generated from the platforms' API models, by
 * compiling `const v: Type = <value>` with tsc: object literals get excess-property checks,
 * so an unknown or misspelt field is an error, and so are wrong types and enum values.
 * Returns the errors per label; {} when every value fits.
 */
export function typecheck(values: TypedValue[]): Record<string, string[]> {
  fs.mkdirSync(CACHE, { recursive: true });
  // Its real path: tsc names files relative to its cwd's real path, and the errors are read by
  // name (`v3.ts(...)`); through a symlinked node_modules (a git worktree's) they came out as
  // ../../wt/node_modules/.cache/.../v3.ts and were not attributed to their values.
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(CACHE, 'tsc-')));
  try {
    const files = values.map((v, i) => {
      const file = `v${i}.ts`;
      const source = [
        `// ${v.label}`,
        `import type { ${v.type} as T } from ${JSON.stringify(v.module)};`,
        `export const value: T = ${JSON.stringify(v.value, null, 2)};`,
        '',
      ].join('\n');
      fs.writeFileSync(path.join(dir, file), source);
      return file;
    });
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          // No DOM, no @types/node: the models do not need them (skipLibCheck), and they
          // would triple the time tsc takes.
          lib: ['ES2022'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files,
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      if (!output.trim()) throw error;
    }
    const errors: Record<string, string[]> = {};
    let label = '(tsc)';
    for (const line of output.split('\n')) {
      if (!line.trim()) continue;
      const m = /^v(\d+)\.ts\((\d+),\d+\): (error .*)$/.exec(line.trim());
      if (m) {
        label = values[Number(m[1])]!.label;
        (errors[label] ??= []).push(`line ${m[2]}: ${m[3]}`);
      } else {
        // a continuation line of the message above, or tsc's own complaint
        (errors[label] ??= []).push(line.trim());
      }
    }
    return errors;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
