// Validators built from Twilio's own OpenAPI description (test/specs/twilio_api_v2010.json,
// copied from shared/specs), so that the fake Twilio and our client are both held to the
// provider's schemas rather than to our reading of them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { TwilioSpecValidator } from '../../src/testing/fake-twilio.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** A copy kept in test/specs (with its license), so that npm test runs on a plain clone. */
export const TWILIO_SPEC_PATH = fileURLToPath(new URL('../specs/twilio_api_v2010.json', import.meta.url));

const SPEC_ID = 'https://api.twilio.com/2010-04-01/openapi.json';
const MESSAGES_PATH = '/2010-04-01/Accounts/{AccountSid}/Messages.json';
// The spec writes the generic error body ({ code, message, more_info, status }) out once,
// inline, on this operation's 408 answer; it is the body of every Twilio API error.
const ERROR_BODY_PATH = '/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings/{Sid}.json';

interface OpenApiSpec {
  components: { schemas: Record<string, unknown> };
  paths: Record<string, Record<string, OpenApiOperation>>;
}
interface OpenApiOperation {
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

export interface TwilioSpecValidators {
  /** CreateMessage form parameters (strings, or arrays for repeated names). */
  request: (params: unknown) => string[];
  /** The `api.v2010.account.message` resource answered with 201. */
  response: (body: unknown) => string[];
  /** The error body `{ code, message, more_info, status }`. */
  error: (body: unknown) => string[];
  /** In the shape `startFakeTwilio({ validate })` takes. */
  validate: TwilioSpecValidator;
}

export function loadTwilioSpec(): OpenApiSpec {
  return JSON.parse(readFileSync(TWILIO_SPEC_PATH, 'utf8')) as OpenApiSpec;
}

function createAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, coerceTypes });
  addFormats(ajv);
  // Twilio's own formats. Phone numbers: E.164 with an optional channel prefix, short
  // codes and alphanumeric sender ids, as Messages.json documents for To and From.
  ajv.addFormat('phone-number', /^(?:(?:[a-z]+:)?\+[1-9]\d{1,14}|\d{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$/);
  ajv.addFormat('date-time-rfc-2822', /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/);
  ajv.addFormat('currency', /^[A-Z]{3}$/);
  for (const format of ['uri-map', 'http-method', 'iso-country-code', 'ice-server', 'phone-number-capabilities']) ajv.addFormat(format, true);
  // Annotations of the OpenAPI document and Twilio's extensions: no validation meaning.
  ajv.addVocabulary(['components', 'paths', 'openapi', 'info', 'servers', 'tags', 'security', 'example', 'x-twilio']);
  for (const annotation of ['x-field-extra-annotation', 'x-class-extra-annotation', 'x-getter-extra-annotation']) ajv.addKeyword(annotation);
  return ajv;
}

function pointer(...segments: string[]): string {
  return `${SPEC_ID}#/${segments.map((segment) => segment.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

function explain(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((error: ErrorObject) => `${error.instancePath || '(root)'} ${error.message ?? 'is invalid'}`);
}

export function createTwilioSpecValidators(spec: OpenApiSpec = loadTwilioSpec()): TwilioSpecValidators {
  const document = { $id: SPEC_ID, components: spec.components, paths: spec.paths };
  const strictAjv = createAjv(false);
  strictAjv.addSchema(document);
  // Form values arrive as strings; coercion lets "true" and "600" meet boolean and integer parameters.
  const formAjv = createAjv('array');
  formAjv.addSchema(document);

  const requestSchemaPath = ['paths', MESSAGES_PATH, 'post', 'requestBody', 'content', 'application/x-www-form-urlencoded', 'schema'];
  const requestValidator = formAjv.compile({ $ref: pointer(...requestSchemaPath) });
  const messageValidator = strictAjv.compile({ $ref: pointer('components', 'schemas', 'api.v2010.account.message') });
  const errorValidator = strictAjv.compile({ $ref: pointer('paths', ERROR_BODY_PATH, 'post', 'responses', '408', 'content', 'application/json', 'schema') });
  const known = new Set(Object.keys(spec.paths[MESSAGES_PATH]!.post!.requestBody!.content['application/x-www-form-urlencoded']!.schema.properties ?? {}));

  const request = (params: unknown): string[] => {
    const copy = structuredClone(params);
    const problems = requestValidator(copy) ? [] : explain(requestValidator);
    // The schema allows extra names; Twilio ignores them, which would hide a misspelt parameter of ours.
    if (typeof params === 'object' && params !== null) {
      for (const name of Object.keys(params)) if (!known.has(name)) problems.push(`/${name} is not a CreateMessage parameter`);
    }
    return problems;
  };
  const response = (body: unknown): string[] => (messageValidator(body) ? [] : explain(messageValidator));
  const error = (body: unknown): string[] => {
    const problems = errorValidator(body) ? [] : explain(errorValidator);
    // The schema lists the fields without requiring them; every Twilio error body has all four.
    if (typeof body === 'object' && body !== null) {
      for (const name of ['code', 'message', 'more_info', 'status']) if (!(name in body)) problems.push(`(root) must have property '${name}'`);
    }
    return problems;
  };
  return { request, response, error, validate: (kind, body) => (kind === 'request' ? request(body) : kind === 'response' ? response(body) : error(body)) };
}
