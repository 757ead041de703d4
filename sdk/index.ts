/**
 * The SDK package's AssemblyScript entry (`import { onRequest, sl_reply } from "@siphon/sdk"`):
 * asc resolves a package import to node_modules/<name>/index.ts. Everything lives in assembly/.
 */
export * from "./assembly/index";
