/**
 * The plugin testing library (`siphon/testing`, re-exported by the SDK package as
 * `@siphon/sdk/testing`): run a routing plugin in-process on the real runtime and message path and
 * assert on its decisions. host/testing/README.md.
 */
export { PluginTester } from './tester.js';
export type { PluginTesterOptions, RouteResult, StepResult, SentReply, SentRequest, HookRun, LogLine, RequestInput } from './tester.js';
export { RequestBuilder, sipRequest, toWire, parseRequest } from './request.js';
export type { ModuleStubs, StubAnswer, StubCall, ModuleCall } from './stubs.js';
export { actionName, diffMessage } from './decision.js';
export type { ActionName, MessageDiff } from './decision.js';
