/**
 * textops: editing messages from plugins (Kamailio textops, textopsx, sdpops). README.md.
 */
export { Textops, BODY_MAX_BYTES, GAS_PER_STEP, PATTERN_CACHE_SIZE, mediaType, validContentType, Which } from './textops.js';
export { Sdp, SDP_MAX_LINES, SDP_MAX_MEDIA, codecNames } from './sdp.js';
export { TextopsImports, SdpopsImports, textImportProviders } from './abi.js';
