// Base64 image strings: both alphabets (RFC 4648 §4 and §5), with or without padding, decode to the same bytes; the rest is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeBase64Image } from './images.ts';
import { ApiError } from '../errors.ts';

const LIMITS = { maxImageBytes: 1024, maxImagesPerRequest: 4 };
const decode = (s: unknown) => decodeBase64Image(s, 'image', LIMITS);

function refused(s: unknown, code: string) {
  assert.throws(() => decode(s), (e: unknown) => e instanceof ApiError && e.code === code, `${JSON.stringify(s)} -> ${code}`);
}

test('every length from 1 to 40 bytes round-trips in base64 and base64url, padded and unpadded', () => {
  for (let n = 1; n <= 40; n++) {
    const bytes = randomBytes(n);
    const std = bytes.toString('base64');
    const url = bytes.toString('base64url'); // Node writes base64url without padding
    const forms = [std, std.replace(/=+$/, ''), url, url + '='.repeat((4 - (url.length % 4)) % 4)];
    for (const s of forms) assert.deepEqual(decode(s), bytes, `${n} bytes as ${s}`);
  }
});

test('the URL-safe characters stand for the same bits as + and /', () => {
  const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0xfe]); // encodes with + and / in the standard alphabet
  assert.equal(bytes.toString('base64'), '+/+//g==');
  assert.deepEqual(decode('-_-__g'), bytes);
  assert.deepEqual(decode('data:image/png;base64,-_-__g'), bytes);
  assert.deepEqual(decode(' -_-_\n _g== '), bytes, 'whitespace is ignored');
});

test('malformed strings are refused with invalid_base64', () => {
  for (const s of [
    'this is not base64!', // characters of neither alphabet
    'ab+_cd-/', // both alphabets mixed
    'AA==AA==', // padding in the middle
    'abcde', // 4n+1 characters cannot encode whole bytes
    'AAA==', // padding that does not complete a quartet
    'A===', // three padding characters
    'QUJ', // non-zero pad bits: a canonical encoder writes QUI
    'QR==', // non-zero pad bits: a canonical encoder writes QQ==
    '/etc/passwd', // a server path is not an image, even if its characters are base64's
  ]) refused(s, 'invalid_base64');
});

test('empty, oversize and non-string values get their own codes', () => {
  refused('', 'invalid_image');
  refused(' \n ', 'invalid_image');
  refused('A'.repeat(1400), 'image_too_large');
  refused(12345, 'invalid_request');
  refused({ url: 'x' }, 'invalid_request');
});
