/**
 * `check --online`: one minimal authenticated request to the Anthropic API, to learn whether
 * the credential is accepted. A 401/403 means rejected; any other HTTP answer means the
 * credential got past authentication; no answer is its own state.
 */
import type { Credential } from '../payload.js';

export type OnlineResult =
  | { state: 'accepted'; status: number }
  | { state: 'rejected'; status: number; error?: string }
  | { state: 'unreachable'; error: string };

export async function checkOnline(credential: Credential, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<OnlineResult> {
  const base = (env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com').replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
  if (credential.kind === 'api-key') headers['x-api-key'] = credential.key;
  else {
    headers.authorization = `Bearer ${credential.kind === 'oauth-token' ? credential.token : credential.oauth.accessToken}`;
    headers['anthropic-beta'] = 'oauth-2025-04-20';
  }
  const body = JSON.stringify({
    model: env.ANTHROPIC_SMALL_FAST_MODEL || 'claude-haiku-4-5',
    max_tokens: 1,
    messages: [{ role: 'user', content: 'ping' }],
  });
  try {
    const response = await fetch(`${base}/v1/messages`, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    let error: string | undefined;
    try {
      const json = (await response.json()) as { error?: { type?: string } };
      error = json?.error?.type;
    } catch {
      // not JSON: the status says enough
    }
    if (response.status === 401 || response.status === 403) return { state: 'rejected', status: response.status, error };
    return { state: 'accepted', status: response.status };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    const reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${Math.round(timeoutMs / 1000)}s` : (e.cause?.code ?? e.message);
    return { state: 'unreachable', error: `${base}: ${reason}` };
  }
}
