import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.irsp/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Type-aware rules: a promise nobody awaits loses its error, and one passed where a callback returns void is
    // never waited for. Sources are found through their package's tsconfig, tests through tsconfig.tests.json.
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    files: ['packages/*/test/**/*.ts', 'services/*/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.tests.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: [
      'packages/*/src/**/*.ts',
      'services/*/src/**/*.ts',
      'packages/*/test/**/*.ts',
      'services/*/test/**/*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
    ],
    ignores: ['**/*.d.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Message paths and names live in packages/protocol only (DESIGN "Rules we take from them").
    files: ['services/**/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Literal[value=/^\\/(user|device)\\/(register|modify|remove)|modifyVerifyCode/]',
          message: 'Message paths come from @irsp/protocol.',
        },
      ],
    },
  },
);
