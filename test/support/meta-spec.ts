/**
 * Validators compiled from Meta's own OpenAPI description of the WhatsApp Cloud API
 * (test/specs/meta-whatsapp-business-messaging-api_v23.0.yaml, a copy of facebook/openapi
 * at commit ecba623, MIT), so the fake and the channel are held to Meta's schemas rather
 * than to our reading of them.
 *
 * Two repairs before compiling, both about the spec, not about what we send:
 * - `index` of TemplateComponent and ButtonComponent carries the pattern `^[2-6, 11-14]$`,
 *   which rejects the documented value `"0"`: that one pattern is dropped.
 * - OpenAPI `discriminator` mappings are not JSON Schema, so a component or parameter would
 *   be checked against its base schema only. Each reference to a discriminated base is
 *   replaced by a dispatcher that also applies the mapped schema (`type: body` →
 *   BodyComponent), which is how the spec means to be read.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FakeWhatsAppValidator } from '../../src/testing/fake-whatsapp.js';

const SPEC_FILE = new URL('../specs/meta-whatsapp-business-messaging-api_v23.0.yaml', import.meta.url);
const ID = 'https://whatsapp-stepup.test/meta-whatsapp-v23.0.json';
const REF = '#/components/schemas/';

type Schema = Record<string, unknown>;

export interface MetaValidators {
  /** A send: TemplateMessage. */
  templateMessage: (body: unknown) => string[];
  messageResponse: (body: unknown) => string[];
  graphError: (body: unknown) => string[];
  webhookPayload: (body: unknown) => string[];
  statuses: (body: unknown) => string[];
  /** The three kinds the fake asks about, dispatched to the validators above. */
  fake: FakeWhatsAppValidator;
}

let cached: MetaValidators | undefined;

export function metaValidators(): MetaValidators {
  cached ??= compile();
  return cached;
}

function compile(): MetaValidators {
  const spec = parse(readFileSync(SPEC_FILE, 'utf8')) as { components: { schemas: Record<string, Schema> } };
  const schemas = repair(spec.components.schemas);
  // strict: false because the spec uses OpenAPI keywords (example, discriminator) that JSON Schema does not know.
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: ID, components: { schemas } });
  const validator = (name: string) => {
    const validate = ajv.getSchema(`${ID}${REF}${name}`);
    if (!validate) throw new Error(`The Meta spec has no schema ${name}.`);
    return (body: unknown) => report(validate as ValidateFunction, body);
  };
  const templateMessage = validator('TemplateMessage');
  const messageResponse = validator('MessageResponsePayload');
  const graphError = validator('GraphAPIError');
  const webhookPayload = validator('WebhookPayload');
  const statuses = validator('Statuses');
  return {
    templateMessage,
    messageResponse,
    graphError,
    webhookPayload,
    statuses,
    fake: (kind, body) => {
      if (kind === 'request') return templateMessage(body);
      if (kind === 'webhook') return webhookPayload(body);
      return typeof body === 'object' && body !== null && 'error' in body ? graphError(body) : messageResponse(body);
    },
  };
}

function report(validate: ValidateFunction, body: unknown): string[] {
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error: ErrorObject) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`);
}

function repair(original: Record<string, Schema>): Record<string, Schema> {
  const schemas = structuredClone(original);
  for (const name of ['TemplateComponent', 'ButtonComponent']) dropIndexPattern(schemas[name]!);

  const bases = Object.entries(schemas).filter(([, schema]) => isObject(schema.discriminator));
  for (const [base, schema] of bases) {
    const { propertyName, mapping } = schema.discriminator as { propertyName: string; mapping: Record<string, string> };
    const dispatcher = `${base}__dispatch`;
    const mapped = new Set(Object.values(mapping));
    for (const [name, candidate] of Object.entries(schemas)) {
      // The mapped schemas extend the base through allOf: those references stay, or the dispatch would recurse.
      if (!mapped.has(`${REF}${name}`)) replaceRefs(candidate, `${REF}${base}`, `${REF}${dispatcher}`);
    }
    schemas[dispatcher] = {
      allOf: [
        { $ref: `${REF}${base}` },
        ...Object.entries(mapping).map(([value, target]) => ({
          if: { properties: { [propertyName]: { const: value } }, required: [propertyName] },
          then: { $ref: target },
        })),
      ],
    };
  }
  return schemas;
}

function dropIndexPattern(schema: Schema): void {
  const parts = [schema, ...((schema.allOf as Schema[] | undefined) ?? [])];
  let dropped = 0;
  for (const part of parts) {
    const index = (part.properties as Record<string, Schema> | undefined)?.index;
    if (index && 'pattern' in index) {
      delete index.pattern;
      dropped++;
    }
  }
  if (dropped === 0) throw new Error('The Meta spec changed: no `index` pattern to drop. Revisit test/support/meta-spec.ts.');
}

function replaceRefs(node: unknown, from: string, to: string): void {
  if (Array.isArray(node)) return node.forEach((item) => replaceRefs(item, from, to));
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && value === from) node[key] = to;
    else replaceRefs(value, from, to);
  }
}

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
