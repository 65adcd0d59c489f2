/**
 * `check --online`: one minimal authenticated request to the Anthropic API, to learn whether
 * the credential is accepted. Only a 2xx proves it; 401 and 403 say it was refused; any other
 * answer (404, 429, 500, 529, a redirect) teaches nothing about the credential and is said as
 * it is, healthy only when the user asked for that (--online-accept-unknown). A probe that
 * says healthy when it learned nothing is worse than none.
 *
 * Nothing from the request or the answer is quoted: an HTTP library's error can quote a
 * header value (the token), and an answer's body is not ours to print.
 */
import { delivered, type Credential } from '../payload.js';

export type OnlineResult =
  | { state: 'accepted'; status: number }
  | { state: 'rejected'; status: number; error?: string }
  | { state: 'unexpected'; status: number; error?: string }
  | { state: 'unreachable'; error: string };

/** What an HTTP header value may hold (RFC 9110 field-vchar, no spaces: a token has none). */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export async function checkOnline(credential: Credential, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<OnlineResult> {
  let base: URL;
  try {
    base = new URL(env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com');
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error('not http');
  } catch {
    return { state: 'unreachable', error: 'ANTHROPIC_BASE_URL is not an http(s) URL' };
  }
  // Printed as its origin only: a gateway's URL may carry a key in its path or user:password.
  const where = base.origin;
  const prefix = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  const { secret, header } = delivered(credential);
  if (!HEADER_SAFE.test(secret)) {
    // fetch would throw a header-validation error that quotes the value.
    return {
      state: 'unreachable',
      error: 'the credential holds characters that cannot be sent in an HTTP header (a space, a line break or a non-ASCII character); not sent',
    };
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
  if (header === 'x-api-key') headers['x-api-key'] = secret;
  else {
    headers.authorization = `Bearer ${secret}`;
    headers['anthropic-beta'] = 'oauth-2025-04-20';
  }
  const body = JSON.stringify({
    model: env.ANTHROPIC_SMALL_FAST_MODEL || 'claude-haiku-4-5',
    max_tokens: 1,
    messages: [{ role: 'user', content: 'ping' }],
  });
  const url = new URL(`${prefix}/v1/messages`);
  // fetch refuses a URL with credentials, with an error that quotes the URL.
  if (base.username || base.password)
    return { state: 'unreachable', error: `${where}: ANTHROPIC_BASE_URL carries a user name or password, which check cannot send` };
  let response: Response;
  try {
    // A redirect is reported, never followed: fetch would carry x-api-key to another host.
    response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const e = error as Error & { cause?: { code?: unknown } };
    const code = typeof e.cause?.code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(e.cause.code) ? e.cause.code : undefined;
    const reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${Math.round(timeoutMs / 1000)}s` : (code ?? 'the request failed');
    return { state: 'unreachable', error: `${where}: ${reason}` };
  }
  const status = response.status;
  const error = await errorType(response);
  if (status >= 200 && status < 300) return { state: 'accepted', status };
  if (status === 401 || status === 403) return { state: 'rejected', status, error };
  return { state: 'unexpected', status, error };
}

/** The API's error type (`authentication_error`), when the answer is the API's JSON; never its text. */
async function errorType(response: Response): Promise<string | undefined> {
  try {
    const reader = response.body?.getReader();
    if (!reader) return undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      // An error body is a few hundred bytes; a body that does not end is not read to its end.
      if (size > 64 * 1024) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const type = (JSON.parse(text) as { error?: { type?: unknown } })?.error?.type;
    return typeof type === 'string' && /^[a-z_]{1,64}$/.test(type) ? type : undefined;
  } catch {
    return undefined;
  }
}
