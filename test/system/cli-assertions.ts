/** What the real-CLI tests assert about claude-entry's output and the requests the CLI sent. */
import { expect } from 'vitest';
import type { RecordedRequest } from '../fakes/anthropic';

/** claude-entry's own log lines (the CLI's own output is not ours to police). */
export function entryLines(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('claude-entry:'))
    .join('\n');
}

export function expectOAuth(req: RecordedRequest, token: string): void {
  expect(req.headers.authorization).toBe(`Bearer ${token}`);
  expect(String(req.headers['anthropic-beta'] ?? '').split(',')).toContain('oauth-2025-04-20');
  expect(req.headers['x-api-key']).toBeUndefined();
}

export function expectApiKey(req: RecordedRequest, key: string): void {
  expect(req.headers['x-api-key']).toBe(key);
  expect(req.headers.authorization).toBeUndefined();
  expect(String(req.headers['anthropic-beta'] ?? '')).not.toContain('oauth-2025-04-20');
}
