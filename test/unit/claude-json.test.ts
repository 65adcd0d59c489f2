import { expect, it } from 'vitest';
import { mergeClaudeJson } from '../../src/claude-json.js';
import { FAKE } from '../helpers.js';

const none = { trust: [], skipPermissionsPrompt: false };

it('keeps every existing key and sets onboarding', () => {
  const existing = { numStartups: 7, theme: 'dark', oauthAccount: { emailAddress: 'a@example.com' }, unknownFutureKey: [1, 2] };
  expect(mergeClaudeJson(existing, none)).toEqual({ ...existing, hasCompletedOnboarding: true });
});

it('trusts directories without touching other project keys', () => {
  const existing = { projects: { '/workspace': { allowedTools: ['Bash'], hasTrustDialogAccepted: false }, '/other': { x: 1 } } };
  const merged = mergeClaudeJson(existing, { ...none, trust: ['/workspace', '/new'] });
  expect(merged.projects).toEqual({
    '/workspace': { allowedTools: ['Bash'], hasTrustDialogAccepted: true },
    '/other': { x: 1 },
    '/new': { hasTrustDialogAccepted: true },
  });
});

it('pre-approves an API key by its last 20 characters, once, and un-rejects it', () => {
  const tail = FAKE.apiKey.slice(-20);
  const existing = { customApiKeyResponses: { approved: ['other-key-tail-00000'], rejected: [tail] } };
  const merged = mergeClaudeJson(existing, { ...none, apiKey: FAKE.apiKey });
  expect(merged.customApiKeyResponses).toEqual({ approved: ['other-key-tail-00000', tail], rejected: [] });
  expect(mergeClaudeJson(merged, { ...none, apiKey: FAKE.apiKey }).customApiKeyResponses).toEqual(merged.customApiKeyResponses);
  expect(JSON.stringify(merged)).not.toContain(FAKE.apiKey);
});

it('accepts the bypass-permissions warning only when asked', () => {
  expect(mergeClaudeJson({}, none)).not.toHaveProperty('bypassPermissionsModeAccepted');
  expect(mergeClaudeJson({}, { ...none, skipPermissionsPrompt: true })).toMatchObject({ bypassPermissionsModeAccepted: true });
});
