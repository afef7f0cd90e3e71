/**
 * The demo's user "database": two users, each with the phone number on file that
 * receives their codes. Passwords are printed at start so that you can sign in; the
 * app itself only keeps and compares scrypt hashes.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export interface DemoUser {
  id: string;
  username: string;
  name: string;
  /** E.164. Codes go to this number, never to one taken from a request. */
  phone: string;
}

/** A demo user with the password you type (for the console and the tests). */
export interface DemoCredentials extends DemoUser {
  password: string;
}

export const DEMO_USERS: readonly DemoCredentials[] = Object.freeze([
  { id: 'u-1001', username: 'ana', password: 'ana-demo-2fa', name: 'Ana García', phone: '+34612345678' },
  { id: 'u-1002', username: 'luis', password: 'luis-demo-2fa', name: 'Luis Hernández', phone: '+525512345678' },
]);

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;

export class UserDirectory {
  readonly #users = new Map<string, DemoUser & { salt: Buffer; hash: Buffer }>();

  constructor(credentials: readonly DemoCredentials[]) {
    for (const { password, ...user } of credentials) {
      const salt = randomBytes(16);
      this.#users.set(user.id, { ...user, salt, hash: scryptSync(password, salt, 32) });
    }
  }

  byId(id: unknown): DemoUser | undefined {
    const found = typeof id === 'string' ? this.#users.get(id) : undefined;
    return found && publicUser(found);
  }

  /**
   * The user with this username, or with this phone number (international format, any
   * spacing: "+34 612 345 678"). Anything else, a malformed number included, finds nobody.
   */
  find(identifier: unknown): DemoUser | undefined {
    if (typeof identifier !== 'string' || identifier.length > 64) return undefined;
    const text = identifier.trim();
    const users = [...this.#users.values()];
    const phone = parsePhoneNumberFromString(text);
    const found = users.find((user) => user.username === text) ?? (phone?.isValid() ? users.find((user) => user.phone === phone.number) : undefined);
    return found && publicUser(found);
  }

  /** Replaces the user's password (a new salt and hash); `false` if there is no such user. */
  async setPassword(id: string, password: string): Promise<boolean> {
    const found = this.#users.get(id);
    if (!found) return false;
    const salt = randomBytes(16);
    this.#users.set(id, { ...found, salt, hash: await scryptAsync(password, salt, 32) });
    return true;
  }

  /** Replaces the user's phone number on file (E.164); `false` if there is no such user. */
  setPhone(id: string, phone: string): boolean {
    const found = this.#users.get(id);
    if (!found) return false;
    this.#users.set(id, { ...found, phone });
    return true;
  }

  /** Whether a user other than `exceptId` has this number (E.164) on file. */
  phoneTaken(phone: string, exceptId: string): boolean {
    return [...this.#users.values()].some((user) => user.id !== exceptId && user.phone === phone);
  }

  /** The user if the password matches; the same work is done for unknown usernames. */
  async checkPassword(username: string, password: string): Promise<DemoUser | undefined> {
    const found = [...this.#users.values()].find((user) => user.username === username);
    const hash = await scryptAsync(password, found?.salt ?? Buffer.alloc(16), 32);
    return found && timingSafeEqual(hash, found.hash) ? publicUser(found) : undefined;
  }
}

function publicUser({ id, username, name, phone }: DemoUser): DemoUser {
  return { id, username, name, phone };
}
