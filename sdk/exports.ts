/**
 * The ABI entry points (sip_abi_v1, sip_abi_minor, plugin_init, request_route and the tm hooks) for
 * a plugin project of its own: its assembly/index.ts re-exports them with
 *
 *   export * from "@siphon/sdk/exports";
 *
 * (a plugin inside the siphon repository gets them from scripts/build-plugins.mjs instead).
 */
export * from "./assembly/exports";
