// Types of @siphon/sdk/testing: those of the siphon host's testing library (host/testing/index.ts).
export * from '../../dist/host/testing/index.js';
