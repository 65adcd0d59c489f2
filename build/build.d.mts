// Types for what build/build.mjs exports to the tests and the benchmarks.
export type Minify = boolean | { whitespace?: boolean; identifiers?: boolean; syntax?: boolean };
export interface SdkModuleSpec {
  entry: string;
  minify: Minify;
  esbuild: Record<string, unknown>;
}
export declare const sdkModules: Record<'aws' | 'gcp' | 'azure', SdkModuleSpec>;
export interface BuiltSdkModule {
  name: string;
  code: Uint8Array;
  metafile: unknown;
}
export declare function buildSdkModule(name: 'aws' | 'gcp' | 'azure', options?: { minify?: Minify }): Promise<BuiltSdkModule>;
/** The comment that carries one SDK module at the end of dist/claude-entry. */
export declare function embed(module: { name: string; code: Uint8Array }): { text: string; compressed: number };
