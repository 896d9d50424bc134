// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** One config block: files under `folder/` may not import from any of `forbidden`. */
function layer(folder, forbidden) {
  return [{
    files: [`${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: forbidden.map((f) => ({ group: [`**/${f}/*`, `**/${f}/**`], message: `${folder}/ may not import ${f}/ (DESIGN.md layout).` })),
      }],
    },
  }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.kafka/**', '.data/**', '.prof/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'No export * barrels: export named things.' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Only cli/ entrypoints may exit the process.' }],
    },
  },
  // The layer table of DESIGN.md ("may import"), enforced: a folder may not reach into a layer above it.
  ...layer('schemas', ['broker', 'security', 'gateways', 'workers', 'cli']),
  ...layer('broker', ['security', 'gateways', 'workers', 'cli']),
  ...layer('security', ['gateways', 'workers', 'cli']),
  ...layer('workers', ['security', 'gateways', 'cli']),
  ...layer('gateways', ['workers', 'cli']),
  {
    files: ['cli/**', 'bench/**', 'test/support/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
