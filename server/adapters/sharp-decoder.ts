// Decodes uploaded image bytes with sharp: sniffed format, EXIF orientation, pixel limits, RGB out.
import sharp, { type Metadata } from 'sharp';
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { RgbImage } from '../pipeline/warp.ts';
import { DECODED_FORMATS, isRefused, REFUSED, sniffFormat, type ImageFormat } from './image-format.ts';

export { sniffFormat, type ImageFormat };

export interface DecodedImage {
  image: RgbImage;
  format: ImageFormat;
  sha256: string;
}

export interface DecodeLimits {
  maxImageBytes: number;
  maxPixels: number;
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
      throw new ApiError('unsupported_format', `the image is not ${DECODED_FORMATS} (format is read from the content, not the name)`);
    }
    if (isRefused(format)) throw new ApiError('unsupported_format', REFUSED[format], { format });
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
