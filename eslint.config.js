// ESLint flat config: typescript-eslint's recommended rules over src, test, bench and scripts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'test-artifacts/**', 'web/vendor/**', '.tmp/**', '.scratch/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly',
        clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly',
        AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', performance: 'readonly',
        setImmediate: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', structuredClone: 'readonly',
        document: 'readonly', window: 'readonly', EventSource: 'readonly', HTMLElement: 'readonly',
        HTMLVideoElement: 'readonly', HTMLCanvasElement: 'readonly', requestAnimationFrame: 'readonly',
        Response: 'readonly', Request: 'readonly', Headers: 'readonly', queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
);
