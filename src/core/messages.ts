export interface MessageInput {
  brand: string;
  purpose: string;
  code: string;
  ttlSeconds: number;
  locale: string;
  webOtpDomain: string | undefined;
}

interface Wording {
  login: string;
  payment: string;
  'password-reset': string;
  /** For app-defined purposes; `{purpose}` is replaced by its name. */
  other: string;
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
    expiry: (minutes) => `It expires in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    warning: 'Do not share it with anyone.',
  },
  es: {
    login: '{brand}: tu código para iniciar sesión es {code}.',
    payment: '{brand}: el código para aprobar tu pago es {code}.',
    'password-reset': '{brand}: el código para restablecer tu contraseña es {code}.',
    other: '{brand}: tu código de verificación ({purpose}) es {code}.',
    expiry: (minutes) => `Caduca en ${minutes} minuto${minutes === 1 ? '' : 's'}.`,
    warning: 'No lo compartas con nadie.',
  },
  'pt-BR': {
    login: '{brand}: seu código para entrar é {code}.',
    payment: '{brand}: o código para aprovar seu pagamento é {code}.',
    'password-reset': '{brand}: o código para redefinir sua senha é {code}.',
    other: '{brand}: seu código de verificação ({purpose}) é {code}.',
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
export function renderMessage({ brand, purpose, code, ttlSeconds, locale, webOtpDomain }: MessageInput): string {
  const wording = WORDINGS[messageLocale(locale)]!;
  // Rounded down: the text must not promise more time than the code has.
  const minutes = Math.max(1, Math.floor(ttlSeconds / 60));
  const template = purpose === 'login' || purpose === 'payment' || purpose === 'password-reset' ? wording[purpose] : wording.other;
  // One pass, so that a brand or purpose containing `{code}` is never expanded.
  const opening = template.replace(/\{(brand|code|purpose)\}/g, (_, name: string) => (name === 'brand' ? brand : name === 'code' ? code : purpose));
  const lines = [`${opening} ${wording.expiry(minutes)} ${wording.warning}`];
  if (webOtpDomain) lines.push('', `@${webOtpDomain} #${code}`);
  return lines.join('\n');
}
