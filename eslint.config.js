// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    files: ['cli/**', 'bench/**', 'test/support/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
