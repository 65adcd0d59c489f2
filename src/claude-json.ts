/**
 * The merge into `.claude.json`: only the keys that keep an unattended Claude Code from
 * stopping at a dialog. Every other key, known or not, is kept as it was.
 */
export interface ClaudeJsonOptions {
  /** Directories whose "Do you trust the files in this folder?" is answered yes. */
  trust: string[];
  /** With an API key: pre-approve it (Claude Code stores its last 20 characters). */
  apiKey?: string;
  /** Accept the --dangerously-skip-permissions warning. */
  skipPermissionsPrompt: boolean;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function apiKeyFingerprint(key: string): string {
  return key.slice(-20);
}

export function mergeClaudeJson(existing: Json, options: ClaudeJsonOptions): Json {
  const out: Json = { ...existing, hasCompletedOnboarding: true };

  if (options.trust.length > 0) {
    const projects: Json = isObject(existing.projects) ? { ...existing.projects } : {};
    for (const dir of options.trust) {
      const project = isObject(projects[dir]) ? projects[dir] : {};
      projects[dir] = { ...project, hasTrustDialogAccepted: true };
    }
    out.projects = projects;
  }

  if (options.apiKey !== undefined) {
    const fingerprint = apiKeyFingerprint(options.apiKey);
    const responses: Json = isObject(existing.customApiKeyResponses) ? { ...existing.customApiKeyResponses } : {};
    const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    const approved = list(responses.approved);
    if (!approved.includes(fingerprint)) approved.push(fingerprint);
    responses.approved = approved;
    // An earlier "No" at the prompt would otherwise win over our approval.
    responses.rejected = list(responses.rejected).filter((x) => x !== fingerprint);
    out.customApiKeyResponses = responses;
  }

  if (options.skipPermissionsPrompt) out.bypassPermissionsModeAccepted = true;
  return out;
}
