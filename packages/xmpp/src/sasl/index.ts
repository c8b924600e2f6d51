export type { CredentialLookup, Mechanism, SaslFailure, SaslSession, Step } from './types.js';
export { SASL_MAX_MESSAGE_BYTES } from './common.js';
export { decodeSaslData, encodeSaslData } from './encoding.js';
export { scramMechanism, type ScramOptions } from './scram.js';
export { plainMechanism, type PlainOptions } from './plain.js';
