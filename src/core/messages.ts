export interface MessageInput {
  brand: string;
  purpose: string;
  code: string;
  ttlSeconds: number;
  locale: string;
  webOtpDomain: string | undefined;
  /** What a payment code approves, in its normal form: stated in the text (R-E7, R-F6). */
  transaction?: PaymentSummary | undefined;
}

/** The part of a transaction that a payment message states. */
export interface PaymentSummary {
  /** A decimal string with the currency's minor units, as normalizeTransaction writes it. */
  amount: string;
  /** ISO 4217. */
  currency: string;
  payee?: string;
}

interface Wording {
  login: string;
  payment: string;
  'password-reset': string;
  /** For app-defined purposes; `{purpose}` is replaced by its name. */
  other: string;
  /** A payment with its amount (`{amount}`) and, when known, its payee (`{payee}`). */
  payTo: string;
  pay: string;
  expiry: (minutes: number) => string;
  warning: string;
}

/** `{brand}` and `{code}` are filled in; each purpose reads differently (R-E9). */
const WORDINGS: Record<string, Wording> = {
  en: {
    login: '{brand}: your sign-in code is {code}.',
    payment: '{brand}: the code to approve your payment is {code}.',
    'password-reset': '{brand}: the code to reset your password is {code}.',
    other: '{brand}: your verification code ({purpose}) is {code}.',
    payTo: '{brand}: code {code} to pay {amount} to {payee}.',
    pay: '{brand}: code {code} to pay {amount}.',
    expiry: (minutes) => `It expires in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    warning: 'Do not share it with anyone.',
  },
  es: {
    login: '{brand}: tu código para iniciar sesión es {code}.',
    payment: '{brand}: el código para aprobar tu pago es {code}.',
    'password-reset': '{brand}: el código para restablecer tu contraseña es {code}.',
    other: '{brand}: tu código de verificación ({purpose}) es {code}.',
    payTo: '{brand}: código {code} para pagar {amount} a {payee}.',
    pay: '{brand}: código {code} para pagar {amount}.',
    expiry: (minutes) => `Caduca en ${minutes} minuto${minutes === 1 ? '' : 's'}.`,
    warning: 'No lo compartas con nadie.',
  },
  'pt-BR': {
    login: '{brand}: seu código para entrar é {code}.',
    payment: '{brand}: o código para aprovar seu pagamento é {code}.',
    'password-reset': '{brand}: o código para redefinir sua senha é {code}.',
    other: '{brand}: seu código de verificação ({purpose}) é {code}.',
    payTo: '{brand}: código {code} para pagar {amount} a {payee}.',
    pay: '{brand}: código {code} para pagar {amount}.',
    expiry: (minutes) => `Ele expira em ${minutes} minuto${minutes === 1 ? '' : 's'}.`,
    warning: 'Não o compartilhe com ninguém.',
  },
};

export const MESSAGE_LOCALES = Object.keys(WORDINGS);

/** The best wording for a BCP 47 tag: exact, then the language (`pt` → `pt-BR`, `es-MX` → `es`), then English. */
export function messageLocale(locale: string): string {
  if (WORDINGS[locale]) return locale;
  const language = locale.split('-')[0]!.toLowerCase();
  return MESSAGE_LOCALES.find((candidate) => candidate.split('-')[0] === language) ?? 'en';
}

/**
 * Free text for channels that carry it (SMS, RCS, outbox): brand, purpose, code, minutes
 * until expiry and a do-not-share warning. The last line is the origin-bound one-time-code
 * form (`@domain #code`) that lets browsers and Android fill the code in on that site only.
 */
export function renderMessage({ brand, purpose, code, ttlSeconds, locale, webOtpDomain, transaction }: MessageInput): string {
  const language = messageLocale(locale);
  const wording = WORDINGS[language]!;
  // Rounded down: the text must not promise more time than the code has.
  const minutes = Math.max(1, Math.floor(ttlSeconds / 60));
  const payee = transaction?.payee === undefined ? '' : displayPayee(transaction.payee);
  const template = transaction
    ? (payee === '' ? wording.pay : wording.payTo)
    : purpose === 'login' || purpose === 'payment' || purpose === 'password-reset' ? wording[purpose] : wording.other;
  const values: Record<string, string> = {
    brand, code, purpose, payee, amount: transaction ? displayAmount(transaction, language) : '',
  };
  // One pass, so that a brand, purpose or payee containing `{code}` is never expanded.
  const opening = template.replace(/\{(brand|code|purpose|amount|payee)\}/g, (_, name: string) => values[name]!);
  const lines = [`${opening} ${wording.expiry(minutes)} ${wording.warning}`];
  if (webOtpDomain) lines.push('', `@${webOtpDomain} #${code}`);
  return lines.join('\n');
}

const PAYEE_MAX = 60;

/**
 * The payee as one plain line: no control, format (bidi override) or separator
 * characters that could break the message or reorder what the user reads; at most 60
 * characters.
 */
function displayPayee(payee: string): string {
  const plain = payee.normalize('NFC').replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]+/gu, ' ').trim();
  const characters = [...plain];
  return characters.length <= PAYEE_MAX ? plain : `${characters.slice(0, PAYEE_MAX - 1).join('').trimEnd()}…`;
}

/** "EUR 10.00", "10,00 EUR", "EUR 10,00": the amount exactly (formatted from its decimal string), with plain spaces for SMS. */
function displayAmount({ amount, currency }: PaymentSummary, locale: string): string {
  const digits = amount.includes('.') ? amount.length - amount.indexOf('.') - 1 : 0;
  const format = new Intl.NumberFormat(locale, {
    style: 'currency', currency, currencyDisplay: 'code', minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
  return format.format(amount as unknown as number).replace(/[\u00a0\u202f]/g, ' ');
}
