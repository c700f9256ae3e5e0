// Identifies an upload's image format from its first bytes (file names and client content types are never
// trusted), and says which formats are decoded and what to send instead of those that are not.

/** Formats decoded (AVIF through sharp's bundled libheif with its AV1 decoder; GIF: first frame). */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';
/** Recognised but refused, with a message saying what to send instead. */
export type RefusedFormat = 'heic' | 'bmp';

export const DECODED_FORMATS = 'JPEG, PNG, WebP, AVIF, TIFF or GIF';

export const REFUSED: Record<RefusedFormat, string> = {
  heic: 'HEIC/HEIF photos (HEVC-coded, as iPhones take them) cannot be decoded here: no HEVC decoder is bundled, ' +
    'for patent-licensing reasons. Send JPEG or AVIF instead (on an iPhone: Settings > Camera > Formats > Most Compatible, ' +
    'or export the photo as JPEG)',
  bmp: 'BMP images are not decoded. Send PNG (lossless) or JPEG instead',
};

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

/** ISO base media file brands (ISO/IEC 23008-12 and the AVIF specification). */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);

/** AVIF or HEIC from an ISO-BMFF `ftyp` box: its major brand, else its compatible brands (mif1/msf1 files). */
function isoBrand(b: Uint8Array): 'avif' | 'heic' | null {
  if (b.length < 16 || ascii(b, 4, 8) !== 'ftyp') return null;
  const size = Math.min(b.length, (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0);
  const brands = [ascii(b, 8, 12)];
  for (let o = 16; o + 4 <= size; o += 4) brands.push(ascii(b, o, o + 4));
  for (const brand of brands) {
    if (AVIF_BRANDS.has(brand)) return 'avif';
    if (HEIC_BRANDS.has(brand)) return 'heic';
  }
  return null;
}

/** The format named by the magic bytes, or null for anything else (SVG, PDF, truncated headers, ...). */
export function sniffFormat(b: Uint8Array): ImageFormat | RefusedFormat | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 4) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 6 && ascii(b, 0, 4) === 'GIF8') return 'gif';
  if (b.length >= 8 && ((ascii(b, 0, 2) === 'II' && b[2] === 42 && b[3] === 0) || (ascii(b, 0, 2) === 'MM' && b[2] === 0 && b[3] === 42))) return 'tiff';
  // BITMAPFILEHEADER: "BM", then the file size, two reserved zero words and the pixel-data offset.
  if (b.length >= 26 && ascii(b, 0, 2) === 'BM' && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) return 'bmp';
  return isoBrand(b);
}

export function isRefused(f: ImageFormat | RefusedFormat): f is RefusedFormat {
  return f === 'heic' || f === 'bmp';
}
