/**
 * build/lean-deps.mjs: what the image's build stage keeps of devDependencies. The Docker tier
 * builds that stage for real; this pins the rule itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
// @ts-expect-error: a plain .mjs build script, no types
import { importedPackages, leanDevDependencies, packageOf } from '../../build/lean-deps.mjs';

describe('build/lean-deps.mjs', () => {
  it.each([
    ['@aws-sdk/client-secrets-manager', '@aws-sdk/client-secrets-manager'],
    ['@aws-sdk/core/client', '@aws-sdk/core'],
    ['google-gax', 'google-gax'],
    ['google-gax/build/src/x', 'google-gax'],
  ])('packageOf(%s) is %s', (specifier, name) => {
    expect(packageOf(specifier)).toBe(name);
  });

  it('src/ imports the SDKs and no built-in or relative path counts', () => {
    const found = [...(importedPackages() as Set<string>)];
    expect(found).toEqual(expect.arrayContaining(['@aws-sdk/client-secrets-manager', '@google-cloud/secret-manager', '@azure/keyvault-secrets']));
    expect(found.filter((p) => p.startsWith('node:') || p.startsWith('.'))).toEqual([]);
  });

  it('keeps esbuild and what src/ imports; drops the CLI, the validators and the test runner', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const lean = Object.keys(leanDevDependencies(pkg));
    expect(lean).toContain('esbuild');
    expect(lean).toContain('@aws-sdk/client-secrets-manager');
    for (const dropped of ['@anthropic-ai/claude-code', 'vitest', 'kubernetes-models', 'typescript', 'dclint', 'ajv']) expect(lean).not.toContain(dropped);
    // every kept name has the version package.json pins
    for (const name of lean) expect(pkg.devDependencies[name]).toBeDefined();
  });
});
