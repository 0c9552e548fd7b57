import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.venv/',
      '.venv-jh5/',
      'coverage/',
      'spawner/',
      'test-artifacts/',
      'testbin/',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'child_process',
              importNames: ['exec', 'execSync'],
              message: 'No shell, ever: use execFile/spawn with an argument array.',
            },
            {
              name: 'node:child_process',
              importNames: ['exec', 'execSync'],
              message: 'No shell, ever: use execFile/spawn with an argument array.',
            },
          ],
        },
      ],
    },
  },
);
