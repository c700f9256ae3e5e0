// Decodes uploaded image bytes with sharp: sniffed format, EXIF orientation, pixel limits, RGB out.
import sharp, { type Metadata } from 'sharp';
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { RgbImage } from '../pipeline/warp.ts';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif';

export interface DecodedImage {
  image: RgbImage;
  format: ImageFormat;
  sha256: string;
}

export interface DecodeLimits {
  maxImageBytes: number;
  maxPixels: number;
}

/** Identifies the format from magic bytes; file names and client content types are never trusted. */
export function sniffFormat(buf: Uint8Array): ImageFormat | null {
  const b = buf;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  return null;
}

export class SharpDecoder {
  constructor(private readonly limits: DecodeLimits) {}

  async decode(bytes: Buffer): Promise<DecodedImage> {
    if (bytes.length === 0) throw new ApiError('invalid_image', 'the image is empty (0 bytes)');
    if (bytes.length > this.limits.maxImageBytes) {
      throw new ApiError('image_too_large', `the image has ${bytes.length} bytes; the limit is ${this.limits.maxImageBytes}`);
    }
    const format = sniffFormat(bytes);
    if (!format) {
      throw new ApiError('unsupported_format', 'the image is not JPEG, PNG, WebP or GIF (format is read from the content, not the name)');
    }
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch {
      throw new ApiError('invalid_image', `the ${format.toUpperCase()} data could not be read (corrupt or truncated)`);
    }
    const w = meta.width ?? 0, h = meta.height ?? 0;
    if (w < 1 || h < 1) throw new ApiError('invalid_image', 'the image has no pixels');
    if (w * h > this.limits.maxPixels) {
      throw new ApiError('image_too_large', `the image is ${w}x${h} = ${w * h} pixels; the limit is ${this.limits.maxPixels}`,
        { width: w, height: h, max_pixels: this.limits.maxPixels });
    }
    try {
      // First frame only for animated images; rotate() with no argument applies EXIF orientation.
      const { data, info } = await sharp(bytes, { limitInputPixels: this.limits.maxPixels, failOn: 'error', pages: 1 })
        .rotate()
        .toColourspace('srgb')
        .removeAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
      return {
        image: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height },
        format,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError('invalid_image', `the ${format.toUpperCase()} data could not be decoded (corrupt or truncated)`);
    }
  }

  /** A copy whose longer side is at most maxSide, and the factor that maps its coordinates back. */
  async downscale(image: RgbImage, maxSide: number): Promise<{ image: RgbImage; scale: number }> {
    const longer = Math.max(image.width, image.height);
    if (longer <= maxSide) return { image, scale: 1 };
    const f = maxSide / longer;
    const width = Math.max(1, Math.round(image.width * f));
    const height = Math.max(1, Math.round(image.height * f));
    const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    return {
      image: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height },
      scale: image.width / width,
    };
  }
}

/** Encodes an RGB crop as JPEG (stored so a future model can re-embed it). */
export async function encodeJpeg(img: RgbImage, quality = 92): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
