/** A template's name as WhatsApp Manager shows it. */
export const TEMPLATE_NAME = /^[a-z0-9_]{1,512}$/;
/** A Meta template language code: `en`, `en_US`, `pt_BR`, `fil`. */
export const META_LANGUAGE = /^[a-z]{2,3}(_[A-Z]{2})?$/;

export interface AuthenticationTemplateInput {
  /** Lower-case letters, digits and '_', such as `'login_code'`. */
  name: string;
  /** One Meta language code, such as `'en_US'`; create the template once per language. */
  language: string;
  /** The code's lifetime (`code.ttl` of createStepUp), 30 to 600 seconds. */
  codeTtlSeconds: number;
  /** How long Meta keeps trying to deliver; at most `codeTtlSeconds` (the default), at least 30. */
  messageSendTtlSeconds?: number;
  /** The copy-code button's label. Default `'Copy code'`. */
  buttonText?: string;
}

/** The body of `POST /{version}/{waba-id}/message_templates` that creates the template. */
export interface AuthenticationTemplateDefinition {
  name: string;
  language: string;
  category: 'AUTHENTICATION';
  message_send_ttl_seconds: number;
  components: [
    { type: 'BODY'; add_security_recommendation: true },
    { type: 'FOOTER'; code_expiration_minutes: number },
    { type: 'BUTTONS'; buttons: [{ type: 'OTP'; otp_type: 'COPY_CODE'; text: string }] },
  ];
}

/**
 * The template that `whatsappCloudChannel` needs, as the JSON body that creates it
 * through Meta's template API (or the fields to choose in WhatsApp Manager): category
 * AUTHENTICATION, the "do not share" line (`add_security_recommendation`), an expiry line
 * that never promises more time than the code has, a copy-code button, and a delivery
 * time-to-live no longer than the code's life, so a late message never carries a dead
 * code (SECURITY-REQUIREMENTS R-E6, R-C2).
 *
 * @example
 * const body = authenticationTemplateDefinition({ name: 'login_code', language: 'en_US', codeTtlSeconds: 300 });
 * await fetch(`https://graph.facebook.com/v23.0/${wabaId}/message_templates`, {
 *   method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
 * });
 */
export function authenticationTemplateDefinition(input: AuthenticationTemplateInput): AuthenticationTemplateDefinition {
  if (typeof input !== 'object' || input === null) throw new TypeError('authenticationTemplateDefinition needs { name, language, codeTtlSeconds }.');
  const { name, language, codeTtlSeconds, messageSendTtlSeconds = codeTtlSeconds, buttonText = 'Copy code' } = input;
  if (typeof name !== 'string' || !TEMPLATE_NAME.test(name)) {
    throw new TypeError("`name` must be lower-case letters, digits and '_', such as 'login_code'.");
  }
  if (typeof language !== 'string' || !META_LANGUAGE.test(language)) {
    throw new TypeError("`language` must be one Meta language code such as 'en_US', 'es' or 'pt_BR'.");
  }
  if (!Number.isInteger(codeTtlSeconds) || codeTtlSeconds < 30 || codeTtlSeconds > 600) {
    throw new TypeError('`codeTtlSeconds` must be the code ttl in seconds, an integer from 30 to 600 (the bounds of `code.ttl`).');
  }
  if (!Number.isInteger(messageSendTtlSeconds) || messageSendTtlSeconds < 30 || messageSendTtlSeconds > codeTtlSeconds) {
    throw new TypeError(`\`messageSendTtlSeconds\` must be an integer from 30 to \`codeTtlSeconds\` (${codeTtlSeconds}): a message must not arrive after its code expired. Omit it to use ${codeTtlSeconds}.`);
  }
  if (typeof buttonText !== 'string' || buttonText.trim() === '' || buttonText.length > 25) {
    throw new TypeError("`buttonText` must be a label of 1 to 25 characters. Omit it to use 'Copy code'.");
  }
  return {
    name,
    language,
    category: 'AUTHENTICATION',
    message_send_ttl_seconds: messageSendTtlSeconds,
    components: [
      { type: 'BODY', add_security_recommendation: true },
      // Whole minutes, rounded down: the line may understate the code's life, never overstate it (except below a minute, Meta's floor).
      { type: 'FOOTER', code_expiration_minutes: Math.max(1, Math.floor(codeTtlSeconds / 60)) },
      { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: buttonText }] },
    ],
  };
}
