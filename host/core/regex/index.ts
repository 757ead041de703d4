/**
 * Linear-time regular expressions for message text (README.md): compile.ts parses a POSIX ERE and
 * compiles it, vm.ts runs it as a Pike VM in O(text × pattern), subst.ts does sed-like
 * `/re/repl/flags` substitutions, cache.ts keeps compiled patterns (bounded).
 */
export { compile, RegexError, MAX_PATTERN, MAX_PROGRAM, MAX_REPEAT, MAX_GROUPS, type Program, type CompileOptions } from './compile.js';
export { exec, test, METER_CHUNK, type Meter, type Captures } from './vm.js';
export { parseSubst, substitute, SubstTooLong, type SubstExpr } from './subst.js';
export { PatternCache } from './cache.js';
