// Lint rules: typescript-eslint's recommended set over the sources, tests, benchmarks and scripts.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/build/', 'runs/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Values crossing the addon boundary are untyped by nature; the dispatcher returns what the schema says.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // CLIP's text cleaning and the terminal-output tests match control characters and aligned columns on purpose.
      'no-control-regex': 'off',
      'no-regex-spaces': 'off',
      // Errors rethrown from a catch name the input at fault and carry the caught error's message in theirs.
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['src/server/public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
