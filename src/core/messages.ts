export interface MessageInput {
  brand: string;
  purpose: string;
  code: string;
  ttlSeconds: number;
  webOtpDomain: string | undefined;
}

/**
 * Free text for channels that carry it (SMS, outbox). Each purpose is worded
 * differently, so that a user can tell a login code from a payment approval; the last
 * line is the origin-bound one-time-code form (`@domain #code`) that lets browsers
 * fill the code in on the right site only.
 */
export function renderMessage({ brand, purpose, code, ttlSeconds, webOtpDomain }: MessageInput): string {
  const minutes = Math.max(1, Math.round(ttlSeconds / 60));
  const expiry = `It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Do not share it with anyone.`;
  const lines = [`${purposeLine(brand, purpose)} ${code}. ${expiry}`];
  if (webOtpDomain) lines.push('', `@${webOtpDomain} #${code}`);
  return lines.join('\n');
}

function purposeLine(brand: string, purpose: string): string {
  switch (purpose) {
    case 'login':
      return `${brand}: your sign-in code is`;
    case 'payment':
      return `${brand}: the code to approve your payment is`;
    case 'password-reset':
      return `${brand}: the code to reset your password is`;
    default:
      return `${brand}: your verification code (${purpose}) is`;
  }
}
